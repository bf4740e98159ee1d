"""The output loss of a model (SPEC §4), computed per sample on the backend."""
from __future__ import annotations

from typing import Any

import numpy as np

from snntrain.backends import Backend
from snntrain.config.model import LossConfig
from snntrain.network.spikes import SpikeTrains


class Loss:
    """Turns output spike trains and labels into per-sample losses, predictions and dL/dt errors."""

    def __init__(self, backend: Backend, cfg: LossConfig, t_max: float) -> None:
        self.backend = backend
        self.cfg = cfg
        self.t_max = t_max
        self._buffers: tuple = ()

    def __call__(self, out: SpikeTrains, labels: Any, mean_over: int = 0) -> tuple[Any, Any, Any]:
        """(errors [B, N, S], loss [B], prediction [B]) as device arrays.

        The errors are d/dt of the mean loss over `mean_over` samples (default: the whole batch; independent
        networks side by side each average over their own samples).
        """
        batch = out.batch
        if not self._buffers or self._buffers[0].shape != out.times.shape:
            be = self.backend
            self._buffers = (be.empty(out.times.shape, out.times.dtype), be.empty((batch,), np.float64),
                             be.empty((batch,), np.int32))
        err, loss, pred = self._buffers
        cfg, scale = self.cfg, 1.0 / (mean_over or batch)
        if cfg.type == "ttfs":
            args = ("ttfs_loss", out.times, out.counts, labels, cfg.tau_loss, self.t_max)
        elif cfg.type == "count":
            args = ("count_loss", out.times, out.counts, labels, cfg.n_true, cfg.n_false)
        else:
            args = ("time_loss", out.times, out.counts, labels, cfg.t_true, cfg.t_false)
        self.backend.launch(args[0], batch, *args[1:], scale, err, loss, pred)
        return err, loss, pred

    def regularize(self, output_layer: Any, out: SpikeTrains, labels: Any, mean_over: int = 0) -> None:
        """Add the silent-label synaptic scaling term to the (dense) output layer's gradient after backward, when
        the model asks for it; `mean_over` as in `__call__`."""
        factor = self.cfg.silent_label_scaling
        if factor > 0:
            self.backend.launch("silent_label_scaling", output_layer.w.size, output_layer.w, labels, out.counts,
                                factor, 1.0 / (mean_over or out.batch), output_layer.grad)
