"""Optimiser updates of SPEC §5, one weight per element i of flattened arrays, for both targets.

The step's scalars come in the device array `hp`, in the model's precision: `hp = [lr, beta1, beta2, eps, bc1,
bc2, bc1_next]`, with `bc1 = 1 - beta1^step`, `bc2 = 1 - beta2^step` and `bc1_next = 1 - beta1^(step+1)` computed
once per step on the host (so a kernel does no power per weight). In device memory rather than as launch
arguments, they can change from step to step while a captured step (a CUDA graph) is replayed unchanged.
Arithmetic is in the model's precision (`real`).
"""
from __future__ import annotations

import math

from snntrain.kernels.onesource import real


def sgd_step(i, w, g, hp):
    """Plain gradient descent."""
    w[i] -= hp[0] * g[i]


def adam_step(i, w, g, m, v, hp):
    """Adam with bias correction."""
    lr, beta1, beta2, eps, bc1, bc2 = hp[0], hp[1], hp[2], hp[3], hp[4], hp[5]
    gi = g[i]
    m[i] = beta1 * m[i] + (real(1.0) - beta1) * gi
    v[i] = beta2 * v[i] + (real(1.0) - beta2) * gi * gi
    w[i] -= lr * (m[i] / bc1) / (math.sqrt(v[i] / bc2) + eps)


def nadam_step(i, w, g, m, v, hp):
    """NAdam (Dozat 2016): Adam with a Nesterov look-ahead on the first moment."""
    lr, beta1, beta2, eps, bc1, bc2, bc1_next = hp[0], hp[1], hp[2], hp[3], hp[4], hp[5], hp[6]
    gi = g[i]
    m[i] = beta1 * m[i] + (real(1.0) - beta1) * gi
    v[i] = beta2 * v[i] + (real(1.0) - beta2) * gi * gi
    m_hat = beta1 * m[i] / bc1_next + (real(1.0) - beta1) * gi / bc1
    w[i] -= lr * m_hat / (math.sqrt(v[i] / bc2) + eps)


ENTRY_POINTS = (sgd_step, adam_step, nadam_step)
