"""The hardware yardstick of `snntrain bench`: a dense float32 MLP of the model's layer sizes trained with numpy.

Absolute speeds on shared machines are noisy; the ratio of snntrain's rate to this MLP's, timed in turns in one
run, says how close the engine gets to what the same cores do with the same layer sizes and batch.
"""
from __future__ import annotations

import math

import numpy as np

from snntrain.config.model import ModelConfig


def mlp_sizes(cfg: ModelConfig) -> list[int] | None:
    """Input size and each layer's neurons, when every layer is dense (None otherwise: no MLP is comparable)."""
    if any(layer.type != "dense" for layer in cfg.layers):
        return None
    return [math.prod(cfg.input.shape)] + [layer.neurons for layer in cfg.layers]


class Mlp:
    """A ReLU MLP with a softmax cross-entropy output, float32 weights, Adam; one call of `step` is one batch."""

    def __init__(self, sizes: list[int], batch: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.w = [(rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(np.float32)
                  for n_in, n_out in zip(sizes[:-1], sizes[1:])]
        self.m = [np.zeros_like(w) for w in self.w]
        self.v = [np.zeros_like(w) for w in self.w]
        self.x = rng.random((batch, sizes[0]), dtype=np.float32)
        self.y = rng.integers(0, sizes[-1], batch)
        self.t = 0

    def step(self, lr: float = 1e-3, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> None:
        """Forward, backward and an Adam update on the fixed batch."""
        acts = [self.x]
        for w in self.w[:-1]:
            acts.append(np.maximum(acts[-1] @ w, 0.0))
        logits = acts[-1] @ self.w[-1]
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        p[np.arange(len(self.y)), self.y] -= 1.0
        delta = p / len(self.y)
        self.t += 1
        for i in range(len(self.w) - 1, -1, -1):
            grad = acts[i].T @ delta
            if i:
                delta = (delta @ self.w[i].T) * (acts[i] > 0)
            self.m[i] = b1 * self.m[i] + (1 - b1) * grad
            self.v[i] = b2 * self.v[i] + (1 - b2) * grad * grad
            m_hat = self.m[i] / (1 - b1 ** self.t)
            v_hat = self.v[i] / (1 - b2 ** self.t)
            self.w[i] -= (lr * m_hat / (np.sqrt(v_hat) + eps)).astype(np.float32)
