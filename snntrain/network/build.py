"""Build a network from a resolved model description."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from snntrain.backends import Backend
from snntrain.config import schema
from snntrain.config.model import InitConfig, LayerConfig, ModelConfig
from snntrain.config.shapes import input_spikes, layer_shapes
from snntrain.errors import ConfigError, SnntrainError
from snntrain.network.conv import ConvLayer
from snntrain.network.dense import DenseLayer
from snntrain.network.lif import LifParams
from snntrain.network.network import Network
from snntrain.network.pool import PoolLayer


def finite_in(weights: np.ndarray, dtype: np.dtype | str) -> bool:
    """Whether every value of `weights` is finite once held in `dtype` (values past float32's range become inf)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(np.asarray(weights).astype(dtype)).all())


# How large the worst-case rounding of a neuron's input sums may grow against its threshold before its weights are
# refused (set_weights, checkpoints, NIR files): at 1, rounding alone could decide a spike. The shipped models'
# initial weights and their trained ones measure 1e-5 to 1e-3.
MAX_ROUNDING_SHARE = 1.0


def rounding_share(layer: LayerConfig, weights: np.ndarray, spikes_in: int, dtype: np.dtype | str) -> float:
    """How far rounding in `dtype` can move a neuron's membrane test, as a share of its threshold: eps times the
    largest sum over a neuron's synapses of |w| times the spikes each input can send, over theta / tau.

    Why this bound: the test compares c z^2 - B z + A with 0 (SPEC §1), where A = sum w e1 and B = sum w e2 are
    rounded sums and c = theta / tau. At any time after an input, e1 <= z^2 and e2 z <= z^2, so the rounding of A
    and of B z is at most about eps * sum |w| * z^2 (per spike), against the threshold term c z^2. Where
    that share nears 1, rounding alone decides whether the neuron fires (an all-inhibitory layer of weights
    -1e7 spikes at once in float32)."""
    per_neuron = np.abs(np.asarray(weights, np.float64)).reshape(len(weights), -1).sum(axis=1)
    largest = float(per_neuron.max()) if per_neuron.size else 0.0
    return float(np.finfo(dtype).eps) * largest * spikes_in / (layer.theta / (2.0 * layer.tau_s))


def weight_scale_problem(cfg: ModelConfig, weights: list[np.ndarray]) -> str:
    """"" when every layer's weights suit the model's precision, else what is wrong with the first that does not
    (`rounding_share` above MAX_ROUNDING_SHARE), naming the layer: for the callers to lead with their source."""
    for index, (layer, w, spikes) in enumerate(zip(cfg.layers, weights, input_spikes(cfg))):
        if layer.type == "pool":
            continue
        share = rounding_share(layer, w, spikes, cfg.precision)
        if share > MAX_ROUNDING_SHARE:
            remedies = ("smaller weights, a larger theta or simulation.precision = \"float64\""
                        if cfg.precision == "float32" else "smaller weights or a larger theta")
            return (f"layer {layer.type}{index}: weights too large for {cfg.precision}: rounding of a neuron's input "
                    f"sums can reach {share:.3g} times its threshold theta / tau, so rounding alone could decide its "
                    f"spikes; give {remedies}")
    return ""


def check_weights(found_names: list[str], weights: list[np.ndarray], names: list[str],
                  shapes: list[tuple[int, ...]], source: str) -> None:
    """SnntrainError, led by `source`, naming the first layer where the weights given (`found_names`, `weights`)
    and the model (`names`, `shapes`) disagree, or whose weights are not finite."""
    if len(weights) != len(names):
        raise SnntrainError(f"{source}: the checkpoint has {len(weights)} layers "
                            f"({', '.join(found_names)}) but the model has {len(names)} ({', '.join(names)})")
    for index, (found_name, array, name, shape) in enumerate(zip(found_names, weights, names, shapes)):
        if found_name != name:
            raise SnntrainError(f"{source}: layer {index} is '{found_name}' in the checkpoint "
                                f"but '{name}' in the model")
        if tuple(array.shape) != tuple(shape):
            raise SnntrainError(f"{source}: layer {name} has weights of shape {tuple(array.shape)} "
                                f"but the model expects {tuple(shape)}")
        if not np.all(np.isfinite(array)):  # scores from such weights would be meaningless
            raise SnntrainError(f"{source}: layer {name} has non-finite weights (NaN or inf)")


def take_weights(network: Network, cfg: ModelConfig, names: Sequence[str], weights: Sequence[np.ndarray],
                 source: str) -> None:
    """Give every layer of `network` (of model `cfg`) its weights from `weights` (of layers `names`, as a
    checkpoint or a caller gives them): cast to the model's precision and checked against the model first (layer
    names and shapes, finite values, a scale the precision can hold; a SnntrainError led by `source` names the
    first layer that does not fit), so that all layers take theirs or none."""
    arrays = [np.asarray(array) for array in weights]
    for name, array in zip(network.names, arrays):
        if array.dtype.kind not in "fiu":
            raise SnntrainError(f"{source}: layer {name} has weights of dtype {array.dtype}; give real numbers")
    with np.errstate(over="ignore", invalid="ignore"):  # values past float32's range become inf: refused below
        cast = [array.astype(cfg.precision) for array in arrays]
    check_weights(list(names), cast, network.names, [layer.weight_shape for layer in network.layers], source)
    problem = weight_scale_problem(cfg, cast)
    if problem:
        raise SnntrainError(f"{source}: {problem}")
    for layer, array in zip(network.layers, cast):
        layer.set_weights(array)


def init_weights(init: InitConfig, shape: tuple[int, ...], rng: np.random.Generator, dtype: np.dtype,
                 where: str) -> np.ndarray:
    """Initial weights drawn from the layer's distribution (float64; layers cast to their dtype). ConfigError
    naming `where` (the layer's init key) when they are not finite in `dtype`: training would only say later that
    the weights became non-finite."""
    if init.distribution == "uniform":
        weights = rng.uniform(init.low, init.high, shape)
    else:
        weights = rng.normal(init.mean, init.std, shape)
    if not finite_in(weights, dtype):
        raise ConfigError(f"{where}: its weights ({init.distribution}, "
                          f"{', '.join(f'{k} {getattr(init, k):g}' for k in schema.INIT.tables[init.distribution])}) "
                          f"are not finite in {dtype} (largest {float(np.finfo(dtype).max):.3g}); give smaller values")
    return weights


def lif_params(layer: LayerConfig) -> LifParams:
    """The neuron parameters of a LIF layer."""
    return LifParams(layer.tau_s, layer.theta, layer.delta_theta, layer.max_spikes)


def layer_names(cfg: ModelConfig) -> list[str]:
    """Stable layer names, e.g. dense0, dense1 (used in weight files and monitors)."""
    return [f"{layer.type}{index}" for index, layer in enumerate(cfg.layers)]


# What a layer's saved weights mean, per layer type: the axes of the array (checkpoints record it per layer).
WEIGHT_LAYOUTS = {
    "dense": "[out, in]: w[n, p] is the synapse from input neuron p to neuron n",
    "conv": "[out_c, kx, ky, in_c]: filters over input positions (x + dx, y + dy) (valid, stride 1)",
    "pool": "none (spike pooling has no weights)",
}
# How inputs and layer outputs are numbered: a neuron's index in its layer's flat vector.
NEURON_ORDER = "(x, y, c) row-major: index (x * Y + y) * C + c; images as numpy's reshape(N, -1) of (N, X, Y, C)"


def describe_layers(cfg: ModelConfig) -> tuple[dict[str, str | float | int], list[dict[str, str | float | int]]]:
    """What a checkpoint's weights mean, as plain attributes: for the whole network (input encoding, neuron
    order, units, precision) and for each layer (type, weight layout, output shape, neuron parameters)."""
    inp = cfg.input
    network: dict[str, str | float | int] = {
        "dataset": inp.dataset, "input_encoding": inp.encoding, "input_shape": list(inp.shape),
        "neuron_order": NEURON_ORDER, "time_unit": "s", "t_max": cfg.t_max, "precision": cfg.precision}
    if inp.encoding == "latency":
        network["t_window"] = inp.t_window
        network["input_spike"] = "pixel v in 1..255 spikes once at t_window * (1 - v / 255) s; v = 0 never"
    else:
        network.update(resolution=inp.resolution, max_input_spikes=inp.max_input_spikes)
    layers = []
    for layer, shape in zip(cfg.layers, layer_shapes(cfg)):
        attrs: dict[str, str | float | int] = {"type": layer.type, "weight_layout": WEIGHT_LAYOUTS[layer.type],
                                               "output_shape": list(shape)}
        if layer.type == "pool":
            attrs["size"] = layer.size
        else:
            attrs.update(tau_s=layer.tau_s, theta=layer.theta, delta_theta=layer.delta_theta,
                         max_spikes=layer.max_spikes, tau_mem=2 * layer.tau_s)
        layers.append(attrs)
    return network, layers


def build_network(cfg: ModelConfig, backend: Backend, rng: np.random.Generator) -> Network:
    """Layers of `cfg` with weights initialised from `rng`, on `backend`, in the model's precision."""
    dtype = np.dtype(cfg.precision)
    layers: list = []
    in_shapes = [tuple(cfg.input.shape)] + layer_shapes(cfg)[:-1]  # each layer's input: the formulas live there
    for index, (layer, shape) in enumerate(zip(cfg.layers, in_shapes)):
        where = f"{cfg.lead}layers[{index}].init"
        if layer.type == "dense":
            weights = init_weights(layer.init, (layer.neurons, int(np.prod(shape))), rng, dtype, where)
            layers.append(DenseLayer(backend, weights, lif_params(layer), cfg.t_max, dtype))
        elif layer.type == "conv":
            filters = init_weights(layer.init, (layer.filters, *layer.kernel, shape[2]), rng, dtype, where)
            layers.append(ConvLayer(backend, filters, shape, lif_params(layer), cfg.t_max, dtype))
        else:
            layers.append(PoolLayer(backend, shape, layer.size, dtype))
    problem = weight_scale_problem(cfg, [layer.weights for layer in layers])
    if problem:  # refused now, not by the first set_weights of what training made of them
        raise ConfigError(f"{cfg.lead}the initial {problem}")
    return Network(layers, layer_names(cfg))
