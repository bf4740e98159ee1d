"""Shared helpers for the engine tests: small random networks in float64 on any backend."""
from __future__ import annotations

import numpy as np
import pytest

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


def linear_loss(rng: np.random.Generator, out_t: np.ndarray) -> np.ndarray:
    """Coefficients r of L = sum r * t over the output spikes that exist (so dL/dt = r)."""
    r = rng.normal(size=out_t.shape)
    r[~np.isfinite(out_t)] = 0.0
    return r


def loss_value(outputs, r: np.ndarray) -> float:
    """L = sum r * t over the last layer's spikes."""
    t = outputs[-1][0]
    return float(np.sum(np.where(np.isfinite(t), t, 0.0) * r))


def assert_gradients_match(outputs_of, weights: list[np.ndarray], t: np.ndarray, r: np.ndarray,
                           grads: list[np.ndarray], input_err: np.ndarray, h: float = 1e-6) -> None:
    """Weight gradients and input-time errors vs float64 central finite differences of L = sum r * t_out.

    `outputs_of(weights, t)` runs the forward pass and returns every layer's (times, counts). Perturbations
    under which a spike appears or vanishes have no derivative and are skipped; at least 80% of the weights
    must be checked.
    """
    base = outputs_of(weights, t)

    def central(perturb):
        values = [outputs_of(*perturb(sign)) for sign in (1, -1)]
        if not all(np.array_equal(a[1], b[1]) for outs in values for a, b in zip(outs, base)):
            return None
        return (loss_value(values[0], r) - loss_value(values[1], r)) / (2 * h)

    checked = 0
    for li, w in enumerate(weights):
        for idx in np.ndindex(w.shape):
            def perturb(sign, li=li, idx=idx):
                pert = [x.copy() for x in weights]
                pert[li][idx] += sign * h
                return pert, t
            fd = central(perturb)
            if fd is not None:
                assert grads[li][idx] == pytest.approx(fd, rel=1e-3, abs=1e-7), f"layer {li} weight {idx}"
                checked += 1
    assert checked > 0.8 * sum(w.size for w in weights)
    for idx in zip(*np.nonzero(np.isfinite(t))):
        def perturb(sign, idx=idx):
            tp = t.copy()
            tp[idx] += sign * h
            return weights, tp
        fd = central(perturb)
        if fd is not None:
            assert input_err[idx] == pytest.approx(fd, rel=1e-3, abs=1e-7), f"input spike {idx}"
