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
        # one device array of step scalars per precision among the layers (see `prepare`)
        self._hyper = {layer.w.dtype.str: backend.empty((7,), layer.w.dtype) for layer in self.layers}
        self._prepared = -1  # the step whose scalars are on the device (none yet)

    def learning_rate(self, epoch: int) -> float:
        """The learning rate for (0-based) `epoch`: lr until the first decay, then lr * factor^(epoch // every),
        never below min_lr (SPEC §5 floors the decayed rate only: a configured lr below min_lr trains at lr until
        the first decay, where the floor raises it to min_lr)."""
        decays = epoch // self.schedule.every if self.schedule.type == "step" else 0
        if decays == 0:
            return self.cfg.lr
        # with factor <= 1 the floor after each decay equals one floor of the total decay
        return max(self.cfg.lr * self.schedule.factor ** decays, self.schedule.min_lr)

    def step(self) -> None:
        """Apply one update to every layer from its current gradient (`prepare`, then `apply`)."""
        self.prepare()
        self.apply()

    def prepare(self) -> None:
        """Host part of one update: count the step and put its scalars (learning rate, bias corrections) on the
        device. Kept apart from `apply` so that a captured step replays `apply` with each step's scalars."""
        self.step_count += 1
        c, t = self.cfg, self.step_count
        host = (self.lr, c.beta1, c.beta2, c.eps, 1.0 - c.beta1 ** t, 1.0 - c.beta2 ** t, 1.0 - c.beta1 ** (t + 1))
        for dtype, hp in self._hyper.items():  # the scalars in the layers' precision, so the update computes in it
            self.backend.upload(hp, np.array(host, dtype))
        self._prepared = t

    def apply(self) -> None:
        """Device part of one update: every layer's weights from its gradient, with the scalars `prepare` put on
        the device for this step."""
        if self._prepared != self.step_count:
            raise RuntimeError("Optimizer.apply() before prepare() for this step")
        kernels = self.backend.kernels
        for index, layer in enumerate(self.layers):
            w, g = layer.w.reshape(-1), layer.grad.reshape(-1)
            hp = self._hyper[w.dtype.str]
            if self.cfg.type == "sgd":
                kernels.sgd_step(w.size, w=w, g=g, hp=hp)
                continue
            moments = dict(w=w, g=g, m=self.m[index].reshape(-1), v=self.v[index].reshape(-1), hp=hp)
            if self.cfg.type == "adam":
                kernels.adam_step(w.size, **moments)
            else:
                kernels.nadam_step(w.size, **moments)

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
            self.backend.upload(self.m[index], state[f"m/{index}"])
            self.backend.upload(self.v[index], state[f"v/{index}"])
