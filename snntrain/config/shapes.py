"""Output shapes and parameter counts of a layer chain (SPEC §3)."""
from __future__ import annotations

import math

from snntrain.config.model import LayerConfig, ModelConfig
from snntrain.data.registry import DATASETS


class ShapeMismatch(ValueError):
    """A layer does not fit its input: `key` is the layer key to blame ("type", "kernel" or "size"),
    `problem` what is wrong and `allowed` what would fit."""

    def __init__(self, key: str, problem: str, allowed: str) -> None:
        super().__init__(f"{problem}; allowed: {allowed}")
        self.key = key
        self.problem = problem
        self.allowed = allowed


def format_shape(shape: tuple[int, ...]) -> str:
    """(28, 28, 1) -> "28x28x1"; (800,) -> "800"."""
    return "x".join(str(n) for n in shape)


def next_shape(layer: LayerConfig, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The output shape of `layer` given its input shape; raises ShapeMismatch when it does not fit.

    dense flattens any input; conv is valid (no padding), stride 1; pool has window = stride = size, floored.
    """
    if layer.type == "dense":
        return (layer.neurons,)
    if len(shape) != 3:
        raise ShapeMismatch("type", f"needs an (x, y, channels) input, got {format_shape(shape)}", "dense")
    x, y, c = shape
    if layer.type == "conv":
        kx, ky = layer.kernel
        if kx > x or ky > y:
            raise ShapeMismatch("kernel", f"larger than its {format_shape(shape)} input", f"up to [{x}, {y}]")
        return (x - kx + 1, y - ky + 1, layer.filters)
    s = layer.size
    if s > x or s > y:
        allowed = f"up to {min(x, y)}" if min(x, y) >= 2 else "none (a pool needs an input of at least 2x2)"
        raise ShapeMismatch("size", f"larger than its {format_shape(shape)} input", allowed)
    return (x // s, y // s, c)


def layer_shapes(cfg: ModelConfig) -> list[tuple[int, ...]]:
    """The output shape of each layer of a loaded model, in order."""
    shapes = []
    shape = cfg.input.shape
    for layer in cfg.layers:
        shape = next_shape(layer, shape)
        shapes.append(shape)
    return shapes


def parameter_count(cfg: ModelConfig) -> list[int]:
    """Trainable weights per layer: dense n_post * n_pre, conv filters * kx * ky * in_channels, pool 0."""
    counts = []
    in_shape = cfg.input.shape
    for layer, out_shape in zip(cfg.layers, layer_shapes(cfg)):
        if layer.type == "dense":
            counts.append(layer.neurons * math.prod(in_shape))
        elif layer.type == "conv":
            counts.append(layer.filters * layer.kernel[0] * layer.kernel[1] * in_shape[2])
        else:
            counts.append(0)
        in_shape = out_shape
    return counts


def input_spikes(cfg: ModelConfig) -> list[int]:
    """The most spikes each input neuron of each layer can send: the input's (1 per pixel, or the event datasets'
    max_input_spikes), then each layer's buffer (a pooled neuron merges its window's trains)."""
    spikes = [cfg.input.max_input_spikes if cfg.input.encoding == "events" else 1]
    for layer in cfg.layers[:-1]:
        spikes.append(spikes[-1] * layer.size * layer.size if layer.type == "pool" else layer.max_spikes)
    return spikes


def step_batch(cfg: ModelConfig) -> int:
    """The largest batch a training run of `cfg` makes: of training, or of validation and test. A batch size
    beyond its split (the "full batch" idiom) makes batches of the split's size, where the dataset's are known."""
    t = cfg.training
    sizes = DATASETS[cfg.input.dataset].sizes
    if sizes is None:
        return max(t.batch_size, t.test_batch_size)
    train = min(t.train_samples or sizes[0], sizes[0])
    test = min(t.test_samples or sizes[1], sizes[1])
    return max(min(t.batch_size, train), min(t.test_batch_size, max(test, train)))


def step_bytes(cfg: ModelConfig, batch: int | None = None) -> list[int]:
    """Bytes each layer holds for one training step at the larger batch size: weights with gradient and two
    optimiser moments, the sorted-input and per-input buffers, and the per-spike output buffers, each element at
    the size of the model's precision (the int32 ones too: an upper estimate in float64). An estimate (within a
    small factor) of what the backends allocate, to refuse a model that cannot fit before any work. `batch`: the
    batch size to count, where a caller knows it (default `step_batch`)."""
    itemsize = 8 if cfg.precision == "float64" else 4
    batch = batch or step_batch(cfg)
    in_shape = cfg.input.shape
    sizes = []
    for layer, out_shape, params, spikes_in in zip(cfg.layers, layer_shapes(cfg), parameter_count(cfg),
                                                   input_spikes(cfg)):
        if layer.type == "pool":
            spikes_out = spikes_in * layer.size * layer.size
            rows, fan_in, n_out = batch, 0, math.prod(out_shape)
        elif layer.type == "conv":
            spikes_out = layer.max_spikes
            rows, fan_in, n_out = batch * out_shape[0] * out_shape[1], params // layer.filters, layer.filters
        else:
            spikes_out = layer.max_spikes
            rows, fan_in, n_out = batch, math.prod(in_shape), layer.neurons
        elements = 4 * params + rows * (11 * fan_in * spikes_in + 9 * n_out * spikes_out)
        sizes.append(elements * itemsize)
        in_shape = out_shape
    return sizes
