"""Build a network from a resolved model description."""
from __future__ import annotations

import numpy as np

from snntrain.backends import Backend
from snntrain.config.model import InitConfig, LayerConfig, ModelConfig
from snntrain.network.conv import ConvLayer
from snntrain.network.dense import DenseLayer
from snntrain.network.lif import LifParams
from snntrain.network.network import Network
from snntrain.network.pool import PoolLayer


def init_weights(init: InitConfig, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Initial weights drawn from the layer's distribution (float64; layers cast to their dtype)."""
    if init.distribution == "uniform":
        return rng.uniform(init.low, init.high, shape)
    return rng.normal(init.mean, init.std, shape)


def lif_params(layer: LayerConfig) -> LifParams:
    """The neuron parameters of a LIF layer."""
    return LifParams(layer.tau_s, layer.theta, layer.delta_theta, layer.max_spikes)


def layer_names(cfg: ModelConfig) -> list[str]:
    """Stable layer names, e.g. dense0, dense1 (used in weight files and monitors)."""
    return [f"{layer.type}{index}" for index, layer in enumerate(cfg.layers)]


def build_network(cfg: ModelConfig, backend: Backend, rng: np.random.Generator) -> Network:
    """Layers of `cfg` with weights initialised from `rng`, on `backend`, in the model's precision."""
    dtype = np.dtype(cfg.precision)
    layers: list = []
    shape = tuple(cfg.input.shape)
    for layer in cfg.layers:
        if layer.type == "dense":
            weights = init_weights(layer.init, (layer.neurons, int(np.prod(shape))), rng)
            layers.append(DenseLayer(backend, weights, lif_params(layer), cfg.t_max, dtype))
        elif layer.type == "conv":
            filters = init_weights(layer.init, (layer.filters, *layer.kernel, shape[2]), rng)
            layers.append(ConvLayer(backend, filters, shape, lif_params(layer), cfg.t_max, dtype))
        else:
            layers.append(PoolLayer(backend, shape, layer.size, dtype))
        shape = layers[-1].out_shape if layer.type != "dense" else (layer.neurons,)
    return Network(layers, layer_names(cfg))
