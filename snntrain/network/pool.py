"""Spike pooling (size x size, stride size, floor; SPEC §3): a pooled neuron fires the union of its window's
spike trains, and the error of each pooled spike goes back to the spike it came from."""
from __future__ import annotations

from typing import Any

import numpy as np

from snntrain.backends import Backend
from snntrain.network.spikes import SpikeTrains, sort_spikes


class PoolLayer:
    """Pooling over (X, Y, C) inputs; no weights. Its buffer is size^2 times the input buffer."""

    kind = "pool"
    w = None
    grad = None
    weight_shape = (0,)

    def __init__(self, backend: Backend, in_shape: tuple[int, int, int], size: int, dtype: Any = np.float32) -> None:
        self.backend = backend
        self.in_shape = in_shape
        self.size = size
        self.dtype = np.dtype(dtype)
        self.out_shape = (in_shape[0] // size, in_shape[1] // size, in_shape[2])
        self.neurons = int(np.prod(self.out_shape))
        self.n_in = int(np.prod(in_shape))
        self._buffers: dict[str, Any] = {}

    @property
    def weights(self) -> np.ndarray:
        """Pooling has no weights: an empty array (so checkpoints list every layer)."""
        return np.zeros(self.weight_shape, self.dtype)

    def set_weights(self, weights: np.ndarray) -> None:
        """Accepts only the empty array of `weights`."""
        if weights.size:
            raise ValueError(f"a pool layer has no weights, got shape {weights.shape}")

    def forward(self, inputs: SpikeTrains) -> SpikeTrains:
        """Pooled spike trains, [batch, X/size * Y/size * C, size^2 * in_spikes]."""
        batch, _, in_spikes = inputs.times.shape
        rows, window = batch * self.neurons, self.size * self.size
        m = window * in_spikes
        if self._buffers.get("key") != (batch, in_spikes):
            be, f, i32 = self.backend, self.dtype, np.int32
            self._buffers = {
                "key": (batch, in_spikes),
                "win_t": be.empty((rows, window, in_spikes), f), "win_cnt": be.empty((rows, window), i32),
                "st": be.empty((rows, m), f), "sp": be.empty((rows, m), i32), "sn": be.empty((rows,), i32),
                "tmp_t": be.empty((rows, m), f), "tmp_p": be.empty((rows, m), i32),
                "win_err": be.empty((rows, window, in_spikes), f),
                "err_in": be.empty((batch, self.n_in, in_spikes), f),
            }
        buf, be = self._buffers, self.backend
        # the CPU walks whole samples (no index decoded by division), the GPU one thread per window slot
        gather, total = ((be.kernels.pool_gather_sample, batch) if be.row_schedules
                         else (be.kernels.pool_gather, rows * window))
        gather(total, in_t=inputs.times, in_cnt=inputs.counts, **self._geometry(), win_t=buf["win_t"],
               win_cnt=buf["win_cnt"])
        sort_spikes(be, buf["win_t"], buf["win_cnt"], buf["st"], buf["sp"], buf["sn"], buf["tmp_t"], buf["tmp_p"])
        return SpikeTrains(buf["st"].reshape(batch, self.neurons, m), buf["sn"].reshape(batch, self.neurons))

    def backward(self, errors: Any, input_errors: bool = True) -> Any:
        """dL/dt of the input spikes: each pooled spike's error on its source spike (0 outside all windows)."""
        if not input_errors:
            return None
        buf, be = self._buffers, self.backend
        rows = buf["st"].shape[0]
        be.kernels.pool_route_errors(rows, err=errors.reshape(rows, errors.shape[2]), sp=buf["sp"], sn=buf["sn"],
                                     win_err=buf["win_err"])
        err_in = buf["err_in"]
        scatter, total = ((be.kernels.pool_scatter_errors_sample, err_in.shape[0]) if be.row_schedules
                          else (be.kernels.pool_scatter_errors, err_in.shape[0] * err_in.shape[1]))
        scatter(total, win_err=buf["win_err"], **self._geometry(), err_in=err_in)
        return err_in

    def _geometry(self) -> dict[str, int]:
        """The pooling kernels' geometry arguments."""
        return dict(size_y=self.in_shape[1], channels=self.in_shape[2], pool=self.size, out_x=self.out_shape[0],
                    out_y=self.out_shape[1])
