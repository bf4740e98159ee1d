"""`snntrain.Model`: a model file and its weights as one Python object, for notebooks and scripts.

It sits beside the command line, on the same pieces: `fit` writes the same run directory as `snntrain train`,
`evaluate` gives what `snntrain eval` prints, and `save` writes the same self-describing checkpoint.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from snntrain.backends import get_backend
from snntrain.config import load_model, load_model_text, to_toml
from snntrain.config.model import ModelConfig
from snntrain.errors import ConfigError, SnntrainError, as_path
from snntrain.network.build import build_network, describe_layers, take_weights
from snntrain.network.loss import Loss
from snntrain.network.spikes import SpikeTrains
from snntrain.runs import Checkpoint, RunDir, load_checkpoint, save_checkpoint
from snntrain.training.callbacks import Callback
from snntrain.training.evaluate import Evaluation, score
from snntrain.training.inputs import encode_images
from snntrain.training.trainer import train


@dataclass
class LayerSpikes:
    """One layer's output for a set of inputs: `times` [N, neurons, max_spikes] in seconds (+inf padding) and
    `counts` [N, neurons]."""

    name: str
    times: np.ndarray
    counts: np.ndarray


def encode(images: np.ndarray, t_window: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Latency-encode images (N, ...) of pixel values 0..255 (uint8, or any integer type within that range) as
    the input spike trains a model takes: times [N, n_in, 1] (float32 seconds, +inf where a pixel is 0 and never
    fires) and counts [N, n_in]. Pixel v fires at t_window (1 - v/255); inputs are numbered in numpy's
    reshape(N, -1) order."""
    pixels = _pixels(images)
    try:
        return encode_images(pixels, t_window)
    except ValueError as err:  # the window: the pixels are checked above
        raise SnntrainError(str(err)) from None


def _pixels(images: Any) -> np.ndarray:
    """`images` as uint8 pixels; SnntrainError for floats (their scale is a guess) and integers beyond 0..255."""
    try:
        pixels = np.asarray(images)
    except ValueError as err:  # a ragged list of images
        raise SnntrainError(f"inputs: not an array of images ({err})") from None
    if pixels.dtype == np.uint8:
        return pixels
    if pixels.dtype.kind in "iu" and (not pixels.size or 0 <= pixels.min() <= pixels.max() <= 255):
        return pixels.astype(np.uint8)
    found = (f", values {pixels.min()}..{pixels.max()}" if pixels.dtype.kind in "iu" and pixels.size else "")
    raise SnntrainError(f"inputs: images must hold pixel values 0..255 as integers (uint8, as the datasets do), got "
                        f"{pixels.dtype}{found}; images in [0, 1] become (images * 255).round().astype(np.uint8)")


class Model:
    """A spiking network: its resolved model file (`config`) and weights, on a device ("auto", "cpu", "cuda").

    Make one with `Model.from_toml` (fresh weights from the model's seed) or `Model.from_run` (trained ones).
    """

    def __init__(self, config: ModelConfig, weights: Sequence[np.ndarray] | None = None, device: str = "auto") -> None:
        if not isinstance(config, ModelConfig):
            raise SnntrainError(f"config: give a ModelConfig (Model.from_toml reads a model file), got "
                                f"{type(config).__name__}")
        self.config = config
        self.device = device
        # The network's buffers serve one call at a time: a second thread waits (two calls at once launched
        # kernels on buffers the other had just resized)
        self._lock = threading.RLock()
        self._backend = get_backend(device)
        self._network = build_network(config, self._backend, np.random.default_rng(config.training.seed))
        if weights is not None:
            self.set_weights(weights)

    # making and saving ---------------------------------------------------------------------------------------
    @classmethod
    def from_toml(cls, path: str | Path, overrides: Sequence[str] = (), device: str = "auto") -> "Model":
        """The model of a TOML file, with `overrides` ("key=value", as `--set` takes them) and initial weights."""
        # a str may name a packaged model, and load_model says what an empty one lacks
        path = path if isinstance(path, str) else as_path(path, "path")
        return cls(load_model(path, _overrides(overrides)), device=device)

    @classmethod
    def from_run(cls, run_dir: str | Path, which: str = "best", device: str = "auto") -> "Model":
        """The model of a run directory with the weights of its `which` ("best" or "last") checkpoint."""
        if which not in ("best", "last"):
            raise SnntrainError(f"which={which!r}: allowed are best, last")
        run = RunDir.open(as_path(run_dir, "run_dir"))
        return cls.from_checkpoint(run.best_path if which == "best" else run.last_path, device)

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "auto", overrides: Sequence[str] = ()) -> "Model":
        """The model a checkpoint (best.h5, last.h5, or one `save` wrote) holds, with its weights; `overrides`
        ("key=value", as `--set` takes them) change its model, as long as the weights still fit it."""
        ckpt = load_checkpoint(as_path(path, "path"))
        return cls._of_checkpoint(ckpt, str(path), device, _overrides(overrides))

    @classmethod
    def _of_checkpoint(cls, ckpt: Checkpoint, source: str, device: str, overrides: Sequence[str]) -> "Model":
        """The model `ckpt` holds (read from `source`), with `overrides`, and its weights."""
        return cls(load_model_text(ckpt.config_toml, source, overrides), device=device).load_weights(source, ckpt)

    def load_weights(self, path: str | Path, checkpoint: Checkpoint | None = None) -> "Model":
        """Take the weights of a checkpoint file (one-line error unless its layers match this model's and are
        finite); returns the model."""
        ckpt = checkpoint or load_checkpoint(as_path(path, "path"))
        self._take_weights(ckpt.layer_names, ckpt.weights, str(path))
        return self

    def save(self, path: str | Path) -> None:
        """Write the weights and the resolved model to a self-describing HDF5 checkpoint (atomically)."""
        network_attrs, layer_attrs = describe_layers(self.config)
        save_checkpoint(as_path(path, "path"), Checkpoint(
            layer_names=self.layer_names, weights=self.weights, config_toml=to_toml(self.config), epoch=0,
            test_accuracy=float("nan"), seed=self.config.training.seed, network_attrs=network_attrs,
            layer_attrs=layer_attrs))

    def to_nir(self, path: str | Path) -> None:
        """Write the model and its weights as a NIR graph (HDF5; see `snntrain.interop.nir_graph` for the
        mapping): Linear or Conv2d + CubaLIF per dense or conv layer, SumPool2d per pooling layer."""
        from snntrain.interop import nir_graph

        nir_graph.write(as_path(path, "path"), self.config, self.weights)

    @classmethod
    def from_nir(cls, path: str | Path, dataset: str | None = None, t_max: float | None = None,
                 max_spikes: int | None = None, device: str = "auto") -> "Model":
        """The model of a NIR file, with its weights. A file snntrain wrote comes back as it was; a foreign one
        needs what NIR does not say: `dataset` (guessed from the input size otherwise), `t_max` (0.2 s) and
        `max_spikes` (30)."""
        from snntrain.interop import nir_graph

        config, weights = nir_graph.read(as_path(path, "path"), dataset, t_max, max_spikes)
        return cls(config, weights, device)

    # weights -------------------------------------------------------------------------------------------------
    @property
    def layer_names(self) -> list[str]:
        """Layer names, as in checkpoints and metrics (dense0, conv0, pool1, ...)."""
        return list(self._network.names)

    @property
    def weights(self) -> list[np.ndarray]:
        """Host copies of every layer's weights (see the checkpoint layout in the README for the axes)."""
        with self._lock:
            return [layer.weights for layer in self._network.layers]

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Replace every layer's weights (shapes as `weights` gives them): all of them or, when one does not fit
        (its shape, or values not finite in the model's precision), none, with an error naming that layer."""
        if not isinstance(weights, Sequence) or isinstance(weights, (str, bytes)):
            raise SnntrainError(f"weights: give a list of arrays, one per layer, got {type(weights).__name__}")
        if len(weights) != len(self._network.layers):
            raise SnntrainError(f"{len(weights)} weight arrays for {len(self._network.layers)} layers")
        self._take_weights(self.layer_names, weights, "set_weights")

    def _take_weights(self, names: list[str], weights: Sequence[np.ndarray], source: str) -> None:
        """`take_weights`: every layer's or, when one does not fit, none (errors led by `source`)."""
        with self._lock:
            take_weights(self._network, self.config, names, weights, source)

    # training and scoring ------------------------------------------------------------------------------------
    def fit(self, data_dir: str | Path = "data", epochs: int | None = None, runs_dir: str | Path = "runs",
            callbacks: Sequence[Callback] = (), echo: Callable[[str], None] = print) -> list[dict[str, float]]:
        """Train from the model's seed as `snntrain train` does, writing a run directory under `runs_dir`; returns
        the history (one metrics row per epoch). Afterwards the model holds the weights of best.h5 and `run_dir`
        names the run."""
        cfg = self.config
        if epochs is not None:
            cfg = _with_epochs(cfg, epochs)
        _check_hooks(callbacks, echo)
        return self._trained(train(cfg, (), self._backend, as_path(data_dir, "data_dir"), as_path(runs_dir, "runs_dir"),
                                   None, echo, callbacks))

    @classmethod
    def resume(cls, run_dir: str | Path, data_dir: str | Path = "data", overrides: Sequence[str] = (),
               device: str = "auto", callbacks: Sequence[Callback] = (),
               echo: Callable[[str], None] = print) -> "Model":
        """Continue an interrupted run from its last.h5 to its configured epochs, as `snntrain train --resume`
        does (`overrides` as `--set`, for example more epochs); returns the model with the weights of best.h5,
        `history` the metrics of every epoch and `run_dir` the run."""
        run_dir, overrides = as_path(run_dir, "run_dir"), _overrides(overrides)  # read once: it may be a generator
        _check_hooks(callbacks, echo)
        run = train(None, overrides, get_backend(device), as_path(data_dir, "data_dir"), run_dir.parent, run_dir, echo,
                    callbacks)
        # best.h5's own model: a resume's overrides are for the epochs to come, which best.h5 may predate; unless this
        # version refuses that model, which the overrides made valid for the run (a precision, a smaller buffer)
        best = load_checkpoint(run.best_path)
        try:
            model = cls._of_checkpoint(best, str(run.best_path), device, ())
        except ConfigError:
            model = cls._of_checkpoint(best, str(run.best_path), device, overrides)
        model._record(run)
        return model

    def _trained(self, run: RunDir) -> list[dict[str, float]]:
        """Take a finished run's best weights; returns (and keeps as `history`) its metrics."""
        self.set_weights(load_checkpoint(run.best_path).weights)
        return self._record(run)

    def _record(self, run: RunDir) -> list[dict[str, float]]:
        """Name the run (`run_dir`) and keep its metrics as `history`, which it returns."""
        self.run_dir = run.path
        self.history = run.read_metrics()
        return self.history

    def evaluate(self, split: str = "test", data_dir: str | Path = "data") -> Evaluation:
        """Accuracy, loss, confusion matrix and mean spikes on `split` of the model's dataset: "train" (the samples
        training uses), "validation" (those `[training] validation` holds out) or "test". Inputs of your own:
        `predict` or `spikes`."""
        with self._lock:
            return score(self.config, self._network, self._backend, as_path(data_dir, "data_dir"), split)

    def spikes(self, inputs: np.ndarray | tuple[np.ndarray, np.ndarray], batch_size: int = 0) -> list[LayerSpikes]:
        """Every layer's output spikes for `inputs`: uint8 images (N, ...) of the model's dataset, or input spike
        trains (times [N, n_in, S], counts [N, n_in]) such as `encode` gives."""
        return self._run(inputs, batch_size)[0]

    def predict(self, inputs: np.ndarray | tuple[np.ndarray, np.ndarray], batch_size: int = 0) -> np.ndarray:
        """The predicted class of each input (as `spikes` takes them), by the loss's rule (earliest output spike
        for ttfs and time losses, most spikes for the count loss); -1 where the rule picks none (all silent)."""
        return self._run(inputs, batch_size)[1]

    def _run(self, inputs: Any, batch_size: int) -> tuple[list[LayerSpikes], np.ndarray]:
        if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 0:
            raise SnntrainError(f"batch_size={batch_size!r}: give an integer >= 1 (0: the model's test batch size)")
        times, counts = self._input_trains(inputs)
        with self._lock:
            return self._forward(times, counts, batch_size)

    def _forward(self, times: np.ndarray, counts: np.ndarray, batch_size: int) -> tuple[list[LayerSpikes],
                                                                                        np.ndarray]:
        be = self._backend
        batch = min(batch_size or self.config.training.test_batch_size, len(times))
        loss = Loss(be, self.config.loss, self.config.t_max)
        any_labels = be.to_device(np.zeros(batch, np.int32))  # the prediction does not depend on the label
        parts: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in self._network.layers]
        preds = []
        for begin in range(0, len(times), batch):
            trains = SpikeTrains(be.to_device(times[begin:begin + batch]),
                                 be.to_device(counts[begin:begin + batch]))
            out = self._network.forward(trains)
            preds.append(be.to_host(loss(out, any_labels[:out.batch])[2]).copy())
            for part, layer_out in zip(parts, self._network.outputs):
                part.append((be.to_host(layer_out.times).copy(), be.to_host(layer_out.counts).copy()))
        layers = [LayerSpikes(name, np.concatenate([t for t, _ in part]), np.concatenate([c for _, c in part]))
                  for name, part in zip(self.layer_names, parts)]
        return layers, np.concatenate(preds).astype(np.int64)

    def _input_trains(self, inputs: Any) -> tuple[np.ndarray, np.ndarray]:
        inp = self.config.input
        n_in = int(np.prod(inp.shape))
        if isinstance(inputs, tuple):
            if len(inputs) != 2:
                raise SnntrainError(f"inputs: give spike trains as a pair (times, counts), got a tuple of "
                                    f"{len(inputs)}")
            times, counts = (np.asarray(a) for a in inputs)
        elif inp.encoding != "latency":
            raise SnntrainError(f"{inp.dataset} is an event dataset: pass (times, counts) spike trains")
        else:
            images = _pixels(inputs)
            # the dataset's own shape, without its one channel, or flat: never another layout of as many pixels
            shapes = [inp.shape, *([inp.shape[:2]] if inp.shape[2:] == (1,) else []), (n_in,)]
            if images.shape in shapes and images.shape[1:] not in shapes:
                raise SnntrainError(f"inputs: one image of shape {images.shape}; give a batch of them, shaped "
                                    f"(N, {', '.join(map(str, images.shape))}) (e.g. images[None])")
            if images.shape[1:] not in shapes:
                forms = [f"(N, {', '.join(map(str, shape))})" for shape in shapes]
                raise SnntrainError(f"inputs: images of shape {images.shape} do not fit dataset {inp.dataset}, whose "
                                    f"images are {inp.shape} (give {', '.join(forms[:-1])} or {forms[-1]} flat)")
            times, counts = encode(images, inp.t_window)
        if times.ndim != 3 or times.shape[1] != n_in or counts.shape != times.shape[:2] or not len(times):
            raise SnntrainError(f"inputs: expected N >= 1 samples of {n_in} inputs, got spike trains of shape "
                                f"{times.shape} with counts {counts.shape}")
        return _checked_trains(times, counts, np.dtype(self.config.precision))


def _checked_trains(times: np.ndarray, counts: np.ndarray, real: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """Spike trains the kernels can take, in the model's precision `real`, or an error saying what is wrong: the
    kernels trust the counts (a count past the buffer wrote out of bounds) and the times of counted slots. Slots
    past a count become +inf."""
    slots = times.shape[2]
    if times.dtype.kind != "f":
        raise SnntrainError(f"inputs: spike times must be floating-point seconds, got {times.dtype}")
    with np.errstate(over="ignore"):  # a time past float32's range becomes inf, and is refused below
        times = times.astype(real)
    if counts.dtype.kind not in "iu":
        raise SnntrainError(f"inputs: spike counts must be integers, got {counts.dtype}")
    if slots < 1 or counts.min() < 0 or counts.max() > slots:
        raise SnntrainError(f"inputs: spike counts must lie in 0..{slots} (the trains' {slots} slots), got "
                            f"{counts.min()}..{counts.max()}")
    counted = np.arange(slots) < counts[..., None]
    bad = counted & ~(np.isfinite(times) & (times >= 0))
    if bad.any():
        sample, neuron, slot = (int(i[0]) for i in np.nonzero(bad))
        raise SnntrainError(f"inputs: spike times must be finite and >= 0 up to each count; sample {sample}, input "
                            f"{neuron}, slot {slot} holds {times[sample, neuron, slot]}")
    # each train in time order, as the kernels take them (the GPU's merge of the trains relies on it)
    return np.sort(np.where(counted, times, np.inf), axis=2), counts.astype(np.int32)


def _overrides(overrides: Sequence[str]) -> tuple[str, ...]:
    """`overrides` as a tuple of "KEY=VALUE" strings; a single string would be read one character at a time."""
    try:
        items = tuple(overrides) if not isinstance(overrides, str) else None
    except TypeError:
        items = None
    if items is None or not all(isinstance(item, str) for item in items):
        raise SnntrainError(f"overrides={overrides!r}: give a list of \"KEY=VALUE\" strings, e.g. "
                            "[\"training.epochs=1\"]")
    return items


def _check_hooks(callbacks: Sequence[Callback], echo: Callable[[str], None]) -> None:
    """SnntrainError naming the argument unless `callbacks` is a list of Callback instances and `echo` a function:
    checked before training starts, not when the first hook is called."""
    if isinstance(callbacks, Callback) or not isinstance(callbacks, Sequence) or not all(
            isinstance(c, Callback) for c in callbacks):
        raise SnntrainError(f"callbacks={callbacks!r}: give a list of snntrain.Callback instances")
    if not callable(echo):
        raise SnntrainError(f"echo={echo!r}: give a function that takes a line of text, e.g. print")


def _with_epochs(cfg: ModelConfig, epochs: int) -> ModelConfig:
    if not isinstance(epochs, (int, np.integer)) or isinstance(epochs, bool) or epochs < 1:
        raise SnntrainError(f"epochs={epochs!r}: give an integer >= 1")
    return replace(cfg, training=replace(cfg.training, epochs=epochs))
