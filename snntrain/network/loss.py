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
        cfg, kernels = self.cfg, self.backend.kernels
        common = dict(t=out.times, cnt=out.counts, labels=labels, scale=1.0 / (mean_over or batch), err=err,
                      loss=loss, pred=pred)
        if cfg.type == "ttfs":
            kernels.ttfs_loss(batch, **common, tau_loss=cfg.tau_loss, t_max=self.t_max)
        elif cfg.type == "count":
            kernels.count_loss(batch, **common, n_true=cfg.n_true, n_false=cfg.n_false)
        else:
            kernels.time_loss(batch, **common, t_true=cfg.t_true, t_false=cfg.t_false)
        return err, loss, pred

    def regularize(self, output_layer: Any, out: SpikeTrains, labels: Any, mean_over: int = 0) -> None:
        """Add the silent-label synaptic scaling term to the (dense) output layer's gradient after backward, when
        the model asks for it; `mean_over` as in `__call__`."""
        factor = self.cfg.silent_label_scaling
        if factor > 0:
            self.backend.kernels.silent_label_scaling(output_layer.w.size, w=output_layer.w, labels=labels,
                                                      cnt=out.counts, factor=factor,
                                                      scale=1.0 / (mean_over or out.batch), grad=output_layer.grad)
