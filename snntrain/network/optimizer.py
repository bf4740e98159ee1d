"""Optimisers (SPEC §5) over the weights of every layer, with the step-decay learning-rate schedule."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from snntrain.backends import Backend
from snntrain.config.model import OptimizerConfig, ScheduleConfig


class Optimizer:
    """Adam, NAdam or gradient descent on each layer's `w` using its `grad`; state lives on the device."""

    def __init__(self, backend: Backend, cfg: OptimizerConfig, schedule: ScheduleConfig, layers: Sequence) -> None:
        self.backend = backend
        self.cfg = cfg
        self.schedule = schedule
        self.layers = [layer for layer in layers if getattr(layer, "w", None) is not None]
        self.lr = cfg.lr
        self.step_count = 0
        stateful = cfg.type in ("adam", "nadam")
        self.m = [backend.zeros(layer.w.shape, layer.w.dtype) for layer in self.layers] if stateful else []
        self.v = [backend.zeros(layer.w.shape, layer.w.dtype) for layer in self.layers] if stateful else []

    def learning_rate(self, epoch: int) -> float:
        """The learning rate for (0-based) `epoch`: lr * factor^(epoch // every), never below min_lr."""
        if self.schedule.type != "step":
            return self.cfg.lr
        return max(self.cfg.lr * self.schedule.factor ** (epoch // self.schedule.every), self.schedule.min_lr)

    def step(self) -> None:
        """Apply one update to every layer from its current gradient."""
        self.step_count += 1
        c, t = self.cfg, self.step_count
        host = (self.lr, c.beta1, c.beta2, c.eps, 1.0 - c.beta1 ** t, 1.0 - c.beta2 ** t, 1.0 - c.beta1 ** (t + 1))
        for index, layer in enumerate(self.layers):
            w, g = layer.w.reshape(-1), layer.grad.reshape(-1)
            # the scalars in the layer's precision, so that the update computes in it
            lr, beta1, beta2, eps, bc1, bc2, bc1_next = (w.dtype.type(x) for x in host)
            kernels = self.backend.kernels
            if c.type == "sgd":
                kernels.sgd_step(w.size, w=w, g=g, lr=lr)
                continue
            moments = dict(w=w, g=g, m=self.m[index].reshape(-1), v=self.v[index].reshape(-1), lr=lr, beta1=beta1,
                           beta2=beta2, eps=eps, bc1=bc1, bc2=bc2)
            if c.type == "adam":
                kernels.adam_step(w.size, **moments)
            else:
                kernels.nadam_step(w.size, **moments, bc1_next=bc1_next)

    def state(self) -> dict[str, np.ndarray]:
        """Host copy of the optimiser state (for last.h5)."""
        out = {"step": np.array(self.step_count), "lr": np.array(self.lr)}
        for index in range(len(self.m)):
            out[f"m/{index}"] = self.backend.to_host(self.m[index])
            out[f"v/{index}"] = self.backend.to_host(self.v[index])
        return out

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what `state()` returned."""
        self.step_count = int(state["step"])
        self.lr = float(state["lr"])
        for index in range(len(self.m)):
            self.m[index] = self.backend.to_device(state[f"m/{index}"])
            self.v[index] = self.backend.to_device(state[f"v/{index}"])
