"""Optimiser updates of SPEC §5, one weight per element i of flattened arrays, for both targets.

`bc1 = 1 - beta1^step`, `bc2 = 1 - beta2^step` (and for NAdam `bc1_next = 1 - beta1^(step+1)`) are computed
once per step on the host and passed in, so a kernel does no power per weight. Arithmetic is in the model's
precision (`real`): the scalars come in cast to it.
"""
from __future__ import annotations

import math

from snntrain.kernels.onesource import real


def sgd_step(i, w, g, lr):
    """Plain gradient descent."""
    w[i] -= lr * g[i]


def adam_step(i, w, g, m, v, lr, beta1, beta2, eps, bc1, bc2):
    """Adam with bias correction."""
    gi = g[i]
    m[i] = beta1 * m[i] + (real(1.0) - beta1) * gi
    v[i] = beta2 * v[i] + (real(1.0) - beta2) * gi * gi
    w[i] -= lr * (m[i] / bc1) / (math.sqrt(v[i] / bc2) + eps)


def nadam_step(i, w, g, m, v, lr, beta1, beta2, eps, bc1, bc2, bc1_next):
    """NAdam (Dozat 2016): Adam with a Nesterov look-ahead on the first moment."""
    gi = g[i]
    m[i] = beta1 * m[i] + (real(1.0) - beta1) * gi
    v[i] = beta2 * v[i] + (real(1.0) - beta2) * gi * gi
    m_hat = beta1 * m[i] / bc1_next + (real(1.0) - beta1) * gi / bc1
    w[i] -= lr * m_hat / (math.sqrt(v[i] / bc2) + eps)


ENTRY_POINTS = (sgd_step, adam_step, nadam_step)
