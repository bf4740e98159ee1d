"""NIR (Neuromorphic Intermediate Representation) export and import of snntrain models.

The mapping (SPEC §1, §9). snntrain's neuron is the clock-based model

    dV/dt = (I - V) / tau,  dI/dt = -I / tau_s,  an input spike through weight w: I += w,
    spike when V reaches theta / tau, then V -= delta_theta / tau,  with tau = 2 tau_s.

NIR's `CubaLIF` is  tau_syn dI/dt = -I + w_in S,  tau_mem dv/dt = (v_leak - v) + r I,  spike when v > v_threshold,
then v = v_reset, where S is a sum of Dirac pulses weighted by the `Linear` node before it: an input spike through
weight W raises I by W w_in / tau_syn. With tau_syn = tau_s, tau_mem = tau, v_leak = 0, w_in = 1, r = tau_s and
W = w, the current r I jumps by exactly w and v is V, so v_threshold = theta / tau. Reset by subtraction at the
crossing, where V = theta / tau, leaves V = (theta - delta_theta) / tau: NIR's reset to v_reset = 0 is the same
only when delta_theta = theta, and other models are refused. `max_spikes` (the spike buffer) has no NIR
equivalent: it is kept in each CubaLIF node's metadata, with the exact theta and the layer's name.

Import reads the same nodes back: w = W w_in r / tau_syn (per neuron), tau_s = tau_syn, theta = v_threshold
tau_mem (the metadata's exact value when it agrees), and refuses, with the node's name, anything snntrain cannot
represent exactly. Conv layers and spike pooling map to Conv2d and SumPool2d (see `to_graph`). A graph that
snntrain wrote also carries the whole model file (`snntrain_model` metadata), so training settings survive the
round trip.
"""
from __future__ import annotations

import io
import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from snntrain import __version__
from snntrain.config import load_model_text, to_toml
from snntrain.config.load import float32_too_coarse
from snntrain.config.shapes import layer_shapes
from snntrain.config.model import ModelConfig
from snntrain.data.registry import DATASETS
from snntrain.errors import ConfigError, SnntrainError
from snntrain.network.build import describe_layers, finite_in, layer_names
from snntrain.atomic import atomic_write_bytes, special_file

# A foreign graph's input size says which dataset it was most likely made for (an option overrides it): the first
# of the registry's with that many inputs (784: mnist, before fashion-mnist and emnist).
DATASETS_BY_INPUTS = {math.prod(info.shape): name for name, info in reversed(DATASETS.items())}
# Relative agreement within which the metadata's exact theta stands for v_threshold * tau_mem.
ROUNDING = 1e-12

_FOREIGN_MODEL = '''name = {name}

[input]
dataset = "{dataset}"

[simulation]
t_max = {t_max!r}{precision}

{layers}
[loss]
type = "count"

[optimizer]
type = "adam"
lr = 0.001
'''


def _nir() -> Any:
    try:
        import nir
    except ImportError:
        raise SnntrainError("NIR needs the nir package: pip install 'snntrain[nir]' (or pip install nir)") from None
    return nir


def _spatial(shape: Sequence[int]) -> bool:
    return len(shape) == 3


def _nir_order(shape: Sequence[int]) -> tuple[int, ...]:
    """NIR's shape of an snntrain (x, y, c) shape: channels first, (c, x, y); flat shapes stay."""
    return (shape[2], shape[0], shape[1]) if _spatial(shape) else tuple(shape)


def _cuba_lif(nir: Any, name: str, layer: Any, shape: tuple[int, ...]) -> Any:
    """The CubaLIF node of an snntrain LIF layer whose neurons have NIR shape `shape` (see the module's mapping)."""
    if layer.delta_theta != layer.theta:
        raise SnntrainError(f"NIR export: layer {name} has delta_theta {layer.delta_theta} != theta {layer.theta}; "
                            "NIR's CubaLIF resets to v_reset, which equals snntrain's reset by subtraction only when "
                            "delta_theta = theta")
    tau = 2 * layer.tau_s
    full = lambda value: np.full(shape, value, np.float64)  # noqa: E731 - per-neuron arrays, as NIR holds them
    return nir.CubaLIF(
        tau_syn=full(layer.tau_s), tau_mem=full(tau), r=full(layer.tau_s), v_leak=full(0.0),
        v_threshold=full(layer.theta / tau), v_reset=full(0.0), w_in=full(1.0),
        metadata={"snntrain_layer": name, "max_spikes": layer.max_spikes, "theta": layer.theta,
                  "delta_theta": layer.delta_theta,
                  "note": "max_spikes: snntrain keeps at most this many spikes per neuron; NIR has no such limit"})


def to_graph(cfg: ModelConfig, weights: Sequence[np.ndarray]) -> Any:
    """The NIR graph of a model and its weights (public layouts, as `Model.weights` gives them).

    Tensors are channels first, as in NIR: an snntrain (x, y, c) layout is (c, x, y) there, conv filters
    [out_c, kx, ky, in_c] become Conv2d weights [out_c, in_c, kx, ky], spike pooling becomes SumPool2d (a pooled
    neuron's spikes are the union of its window's; the next layer sums their weighted pulses either way), and a
    dense layer after a spatial one gets a Flatten node, its weight columns reordered to NIR's flattening."""
    nir = _nir()
    network_attrs, _ = describe_layers(cfg)
    shape = tuple(cfg.input.shape)
    spatial_model = any(layer.type != "dense" for layer in cfg.layers)
    in_type = _nir_order(shape) if spatial_model else (int(np.prod(shape)),)
    nodes: dict[str, Any] = {"input": nir.Input(input_type={"input": np.array(in_type)})}
    if not spatial_model:
        shape = in_type
    edges: list[tuple[str, str]] = []
    previous = "input"

    def add(node_name: str, node: Any) -> None:
        nonlocal previous
        nodes[node_name] = node
        edges.append((previous, node_name))
        previous = node_name

    for name, layer, w, out_shape in zip(layer_names(cfg), cfg.layers, weights, layer_shapes(cfg)):
        w = np.asarray(w)
        if layer.type == "dense":
            if _spatial(shape):  # NIR flattens (c, x, y); snntrain's columns run over (x, y, c)
                add(f"{name}_flatten", nir.Flatten({"input": np.array(_nir_order(shape))}, start_dim=0))
                w = w.reshape(w.shape[0], *shape).transpose(0, 3, 1, 2).reshape(w.shape[0], -1)
            add(f"{name}_linear", nir.Linear(weight=w))
            add(f"{name}_lif", _cuba_lif(nir, name, layer, out_shape))
        elif layer.type == "conv":
            if layer.kernel[0] != layer.kernel[1]:  # nir's Conv2d infers its output shape from the first side alone
                raise SnntrainError(f"layer {name}: kernel {layer.kernel[0]}x{layer.kernel[1]}: the Conv2d of nir "
                                    f"{getattr(nir, '__version__', '')} takes square kernels only; export needs "
                                    "kernel = [k, k]")
            add(f"{name}_conv", nir.Conv2d(input_shape=tuple(shape[:2]), weight=w.transpose(0, 3, 1, 2), stride=1,
                                           padding=0, dilation=1, groups=1, bias=np.zeros(w.shape[0], w.dtype)))
            add(f"{name}_lif", _cuba_lif(nir, name, layer, _nir_order(out_shape)))
        else:
            size = layer.size
            add(f"{name}_sumpool", nir.SumPool2d(kernel_size=np.array([size, size]), stride=np.array([size, size]),
                                                 padding=np.array([0, 0]), metadata={"snntrain_layer": name}))
        shape = tuple(out_shape)
    nodes["output"] = nir.Output(output_type={"output": np.array(_nir_order(shape))})
    edges.append((previous, "output"))
    metadata = {"snntrain_version": __version__, "snntrain_model": to_toml(cfg),
                **{key: value if not isinstance(value, list) else np.array(value)
                   for key, value in network_attrs.items()}}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)


def write(path: Path, cfg: ModelConfig, weights: Sequence[np.ndarray]) -> None:
    """Write the model as a NIR file (HDF5) atomically: built in memory and written in one plain write, as
    checkpoints are (h5py reports a full disk during its own flush as a RuntimeError, and leaves its file)."""
    buffer = io.BytesIO()
    _nir().write(buffer, to_graph(cfg, weights))
    atomic_write_bytes(Path(path), buffer.getvalue())


def _chain(graph: Any, source: str) -> list[str]:
    """The node names from the input to the output, which must form one chain."""
    nir = _nir()
    inputs = [name for name, node in graph.nodes.items() if isinstance(node, nir.Input)]
    if len(inputs) != 1:
        raise SnntrainError(f"{source}: expected one Input node, found {len(inputs)}")
    following: dict[str, list[str]] = {}
    for src, dst in graph.edges:
        following.setdefault(src, []).append(dst)
    loop = _loop_start(following, inputs[0])
    if loop is not None:  # before the branches: a recurrent node leads to two nodes too
        raise SnntrainError(f"{source}: node {loop} closes a loop; snntrain has no recurrent layers")
    chain = [inputs[0]]
    while not isinstance(graph.nodes[chain[-1]], nir.Output):
        nxt = following.get(chain[-1], [])
        if len(nxt) != 1:
            raise SnntrainError(f"{source}: node {chain[-1]} leads to {len(nxt)} nodes; snntrain imports a "
                                "feed-forward chain from Input to Output")
        chain.append(nxt[0])
    return chain


def _loop_start(following: dict[str, list[str]], start: str) -> str | None:
    """A node that an edge leads back to from a node reachable from it (a loop in the graph from `start`), or
    None."""
    path: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> str | None:
        path.append(node)
        for nxt in following.get(node, []):
            found = nxt if nxt in path else (visit(nxt) if nxt not in done else None)
            if found is not None:
                return found
        path.pop()
        done.add(node)
        return None

    return visit(start)


def _uniform(values: Any, what: str, node: str, source: str) -> float:
    array = np.asarray(values, np.float64).ravel()
    if not np.all(array == array[0]):
        raise SnntrainError(f"{source}: node {node} has per-neuron {what}; an snntrain layer has one value")
    return float(array[0])


def _lif_params(lif: Any, lif_name: str, source: str) -> tuple[float, float, int, np.ndarray]:
    """(tau_s, theta, max_spikes or 0, the weight scale w_in r / tau_syn per neuron) of a CubaLIF node."""
    tau_syn = _uniform(lif.tau_syn, "tau_syn", lif_name, source)
    tau_mem = _uniform(lif.tau_mem, "tau_mem", lif_name, source)
    if not 0 < tau_syn < np.inf:  # (an infinite one would make every weight 0, below)
        raise SnntrainError(f"{source}: node {lif_name} has tau_syn {tau_syn}; snntrain's tau_s is a finite "
                            "number > 0")
    if not np.isclose(tau_mem, 2 * tau_syn, rtol=ROUNDING, atol=0):
        raise SnntrainError(f"{source}: node {lif_name} has tau_mem {tau_mem} and tau_syn {tau_syn}; snntrain's "
                            "neuron has tau_mem = 2 tau_syn")
    if np.any(np.asarray(lif.v_leak) != 0):
        raise SnntrainError(f"{source}: node {lif_name} has v_leak != 0; snntrain's membrane leaks to 0")
    if lif.v_reset is not None and np.any(np.asarray(lif.v_reset) != 0):
        raise SnntrainError(f"{source}: node {lif_name} resets to v_reset != 0; snntrain resets to 0 "
                            "(delta_theta = theta)")
    # I jumps by W w_in / tau_syn and the membrane sees r I: snntrain's weight is W w_in r / tau_syn (exactly W
    # for the graphs snntrain writes, where w_in r / tau_syn is 1.0)
    scale = np.asarray(lif.w_in, np.float64) * np.asarray(lif.r, np.float64) / tau_syn
    if not np.all(scale > 0):
        raise SnntrainError(f"{source}: node {lif_name} has w_in * r <= 0; snntrain's input current is positive")
    theta = _uniform(lif.v_threshold, "v_threshold", lif_name, source) * tau_mem
    exact = lif.metadata.get("theta")
    if exact is not None and np.isclose(float(exact), theta, rtol=ROUNDING, atol=0):
        theta = float(exact)
    if not theta > 0:
        raise SnntrainError(f"{source}: node {lif_name} has v_threshold <= 0")
    return tau_syn, theta, int(lif.metadata.get("max_spikes", 0)), scale


def _scaled(weight: np.ndarray, scale: Any) -> np.ndarray:
    """`weight` times `scale`, in the weight's own float type (a scale of exactly 1.0 changes nothing)."""
    dtype = weight.dtype if weight.dtype.kind == "f" else np.float64
    with np.errstate(over="ignore", invalid="ignore"):  # what overflows is refused by `read`, in one line
        return (weight.astype(np.float64) * scale).astype(dtype)


def _layers_of(graph: Any, chain: list[str], source: str) -> tuple[tuple[int, ...], list[dict], list[np.ndarray]]:
    """The NIR input shape, snntrain layer descriptions and weights (public layouts) of a chain of nodes."""
    nir = _nir()
    shape = tuple(int(v) for v in graph.nodes[chain[0]].input_type["input"])
    in_shape, layers, weights, flat_from = shape, [], [], None
    middle, i = chain[1:-1], 0
    allowed = "snntrain imports Linear, Affine (no bias) or Conv2d (stride 1, no padding) each followed by CubaLIF, " \
              "SumPool2d and Flatten"
    while i < len(middle):
        name, node = middle[i], graph.nodes[middle[i]]
        if isinstance(node, nir.Flatten):
            flat_from, shape, i = shape, (int(np.prod(shape)),), i + 1
            continue
        if isinstance(node, nir.SumPool2d):
            kernel, stride = np.asarray(node.kernel_size).ravel(), np.asarray(node.stride).ravel()
            if len(shape) != 3 or kernel[0] != kernel[-1] or np.any(stride != kernel) or np.any(
                    np.asarray(node.padding) != 0):
                raise SnntrainError(f"{source}: node {name} pools other than square windows with stride = size and "
                                    "no padding, which is what snntrain's spike pooling does")
            size = int(kernel[0])
            layers.append({"type": "pool", "size": size})
            weights.append(np.zeros((0,)))
            shape, i = (shape[0], shape[1] // size, shape[2] // size), i + 1
            continue
        lif_name = middle[i + 1] if i + 1 < len(middle) else ""
        if not isinstance(node, (nir.Linear, nir.Affine, nir.Conv2d)) or not isinstance(
                graph.nodes.get(lif_name), nir.CubaLIF):
            bad = name if not isinstance(node, (nir.Linear, nir.Affine, nir.Conv2d)) else lif_name or name
            raise SnntrainError(f"{source}: node {bad} ({type(graph.nodes[bad]).__name__}) cannot be represented "
                                f"exactly; {allowed}")
        tau_s, theta, max_spikes, scale = _lif_params(graph.nodes[lif_name], lif_name, source)
        weight = np.asarray(node.weight)
        common = {"tau_s": tau_s, "theta": theta, "delta_theta": theta, "max_spikes": max_spikes}
        if isinstance(node, nir.Conv2d):
            if (np.any(np.asarray(node.stride) != 1) or np.any(np.asarray(node.dilation) != 1) or node.groups != 1
                    or not (isinstance(node.padding, str) and node.padding == "valid"
                            or not isinstance(node.padding, str) and np.all(np.asarray(node.padding) == 0))):
                raise SnntrainError(f"{source}: node {name} is not a valid stride-1 convolution (no padding, "
                                    "dilation or groups), the only one snntrain has")
            if np.any(np.asarray(node.bias) != 0):
                raise SnntrainError(f"{source}: node {name} has a bias; snntrain layers have none")
            if np.any(scale != scale.ravel()[0]):
                raise SnntrainError(f"{source}: node {lif_name} has per-neuron w_in or r; a conv layer shares "
                                    "its filters")
            out_c, _, kx, ky = weight.shape
            weights.append(_scaled(weight.transpose(0, 2, 3, 1), scale.ravel()[0]))
            layers.append({"type": "conv", "filters": out_c, "kernel": [kx, ky], **common})
            shape = (out_c, shape[1] - kx + 1, shape[2] - ky + 1)
        else:
            if isinstance(node, nir.Affine) and np.any(np.asarray(node.bias) != 0):
                raise SnntrainError(f"{source}: node {name} has a bias; snntrain layers have none")
            n_out = weight.shape[0]
            if flat_from is not None and len(flat_from) == 3:  # back to columns over snntrain's (x, y, c)
                weight = weight.reshape(n_out, *flat_from).transpose(0, 2, 3, 1).reshape(n_out, -1)
            flat_from = None
            weights.append(_scaled(weight, np.broadcast_to(scale.ravel(), (n_out,))[:, None]))
            layers.append({"type": "dense", "neurons": n_out, **common})
            shape = (n_out,)
        i += 2
    if not any(layer["type"] != "pool" for layer in layers):
        raise SnntrainError(f"{source}: the graph has no Linear or Conv2d layer followed by CubaLIF")
    return in_shape, layers, weights


def _layer_toml(layer: dict) -> str:
    lines = [f'type = "{layer["type"]}"']
    if layer["type"] == "pool":
        lines.append(f"size = {layer['size']}")
    else:
        lines.append(f"neurons = {layer['neurons']}" if layer["type"] == "dense"
                     else f"filters = {layer['filters']}\nkernel = {layer['kernel']}")
        lines += [f"tau_s = {layer['tau_s']!r}", f"theta = {layer['theta']!r}", f"max_spikes = {layer['max_spikes']}"]
    return "[[layers]]\n" + "\n".join(lines) + "\n\n"


def read(path: Path, dataset: str | None = None, t_max: float | None = None,
         max_spikes: int | None = None) -> tuple[ModelConfig, list[np.ndarray]]:
    """The model and weights of a NIR file. A file snntrain wrote comes back as it was; for other graphs,
    `dataset` (default: guessed from the input size), `t_max` (default 0.2 s) and `max_spikes` (default 30, or
    the nodes' metadata) fill what NIR does not say."""
    nir, source = _nir(), str(path)
    if t_max is not None and not (isinstance(t_max, (int, float, np.integer, np.floating))
                                  and not isinstance(t_max, bool) and 0 < t_max < np.inf):
        raise SnntrainError(f"t_max={t_max!r}: give the simulation's end in seconds, a number > 0")
    if max_spikes is not None and not (isinstance(max_spikes, (int, np.integer)) and not isinstance(max_spikes, bool)
                                       and max_spikes >= 1):
        raise SnntrainError(f"max_spikes={max_spikes!r}: give an integer >= 1")
    if not Path(path).exists():
        raise SnntrainError(f"{source}: no such file")
    if special_file(Path(path)):
        raise SnntrainError(f"{source}: not a regular file; a NIR file is HDF5")
    try:
        graph = nir.read(Path(path))
        in_shape, layers, weights = _layers_of(graph, _chain(graph, source), source)
        model_text = graph.metadata.get("snntrain_model")
        embedded = model_text is not None and dataset is None and t_max is None
        if not embedded and t_max is None:  # the file's own t_max, read only where it is used
            t_max = float(graph.metadata.get("t_max", 0.2))
    except (OSError, KeyError, ValueError, TypeError, AttributeError, AssertionError, RuntimeError,
            MemoryError) as exc:
        # nir checks its nodes with assert, an edited file can hold any type where a number belongs, HDF5's damaged
        # internal structures are RuntimeErrors, and an unwritten dataset may declare any size
        raise SnntrainError(f"{source}: not a NIR graph snntrain can read ({type(exc).__name__}: {exc})") from None
    for layer in layers:
        if layer["type"] != "pool" and (max_spikes is not None or not layer["max_spikes"]):
            layer["max_spikes"] = max_spikes if max_spikes is not None else 30
    if embedded:
        cfg = load_model_text(str(model_text), source)
        if [layer.type for layer in cfg.layers] != [layer["type"] for layer in layers]:
            raise SnntrainError(f"{source}: its model file's layers ({', '.join(l.type for l in cfg.layers)}) "
                                f"are not its graph's ({', '.join(l['type'] for l in layers)})")
    else:
        # float32 cannot resolve the spike times of a tau_s this long against t_max (a model-file error there)
        wide = any(layer["type"] != "pool" and float32_too_coarse(layer["tau_s"], float(t_max)) for layer in layers)
        guessed = dataset is None
        dataset = dataset or DATASETS_BY_INPUTS.get(int(np.prod(in_shape)), "mnist")
        text = _FOREIGN_MODEL.format(name=json.dumps(Path(path).stem), dataset=dataset, t_max=float(t_max),
                                     precision='\nprecision = "float64"' if wide else "",
                                     layers="".join(_layer_toml(layer) for layer in layers))
        try:
            cfg = load_model_text(text, source)
        except ConfigError as err:  # say where a dataset the user never named came from
            if not guessed:
                raise
            raise ConfigError(f"{err} (dataset {dataset} guessed from the graph's {int(np.prod(in_shape))} inputs; "
                              "name it with --dataset)") from None
    fields = ("neurons", "filters", "kernel", "size", "tau_s", "theta", "delta_theta", "max_spikes")
    cfg = replace(cfg, layers=tuple(
        replace(layer, **{k: tuple(v) if k == "kernel" else v for k, v in mine.items() if k in fields})
        for layer, mine in zip(cfg.layers, layers)))
    wanted = _nir_order(cfg.input.shape) if len(in_shape) == 3 else (int(np.prod(cfg.input.shape)),)
    if tuple(in_shape) != tuple(wanted):
        raise SnntrainError(f"{source}: the graph takes inputs of shape {list(in_shape)}, dataset "
                            f"{cfg.input.dataset} gives {list(wanted)}; name the dataset with --dataset")
    weights = [w if layer["type"] != "pool" else np.zeros((0,), cfg.precision) for w, layer in zip(weights, layers)]
    for index, w in enumerate(weights):
        if not finite_in(w, cfg.precision):  # refused here, naming the file, not by the model that would hold them
            raise SnntrainError(f"{source}: the weights of layer {index} ({layers[index]['type']}) are not all "
                                f"finite in {cfg.precision}")
    return load_model_text(to_toml(cfg), source), weights
