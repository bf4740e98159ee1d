"""Shared helpers for the engine tests: small random networks in float64 on any backend."""
from __future__ import annotations

import numpy as np

from snntrain.backends import Backend
from snntrain.network.dense import DenseLayer, LifParams
from snntrain.network.network import Network
from snntrain.network.spikes import SpikeTrains


def random_inputs(rng: np.random.Generator, batch: int, n_in: int, spikes: int, t_max: float,
                  silent: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """Time-ordered input buffers (batch, n_in, spikes) padded with +inf, and counts."""
    t = np.sort(rng.uniform(0.0, t_max, (batch, n_in, spikes)), axis=2)
    counts = rng.integers(0, spikes + 1, (batch, n_in)).astype(np.int32)
    counts[rng.random((batch, n_in)) < silent] = 0
    t[np.arange(spikes)[None, None, :] >= counts[:, :, None]] = np.inf
    return t, counts


def build(backend: Backend, weights: list[np.ndarray], params: list[LifParams], t_max: float,
          dtype=np.float64) -> Network:
    """A dense network with the given weights ([n_out, n_in] each)."""
    return Network([DenseLayer(backend, w, p, t_max, dtype) for w, p in zip(weights, params)])


def run(backend: Backend, net: Network, t: np.ndarray, counts: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Forward pass; host copies (times, counts) of every layer's output."""
    net.forward(SpikeTrains(backend.to_device(t), backend.to_device(counts)))
    return [(backend.to_host(o.times).copy(), backend.to_host(o.counts).copy()) for o in net.outputs]
