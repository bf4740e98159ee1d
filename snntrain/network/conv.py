"""Convolutional LIF layer (valid, stride 1, filters [out_c, kx, ky, in_c], SPEC §3).

Each output position's receptive field is gathered into a row and fed to the shared LIF core with the filters
as a [kx * ky * in_c -> out_c] weight matrix: the same kernels as a dense layer, no separate conv math.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from snntrain.backends import Backend
from snntrain.network.lif import LifCore, LifParams
from snntrain.network.spikes import SpikeTrains, sort_spikes


class ConvLayer(LifCore):
    """Conv LIF layer on inputs shaped (X, Y, C), neurons laid out (x, y, c)."""

    kind = "conv"

    def __init__(self, backend: Backend, filters: np.ndarray, in_shape: tuple[int, int, int], params: LifParams,
                 t_max: float, dtype: Any = np.float32) -> None:
        out_c, kx, ky, in_c = filters.shape
        if in_shape[2] != in_c or kx > in_shape[0] or ky > in_shape[1]:
            raise ValueError(f"filters {filters.shape} do not fit inputs {in_shape}")
        super().__init__(backend, filters, (1, out_c, -1), params, t_max, dtype)
        self.in_shape = in_shape
        self.out_shape = (in_shape[0] - kx + 1, in_shape[1] - ky + 1, out_c)
        self.positions = self.out_shape[0] * self.out_shape[1]
        self.neurons = self.positions * out_c
        self._rf: tuple = ()
        self._samples: tuple | None = None  # the CPU's per-sample sort (see _forward_from_sorted_samples)

    def forward(self, inputs: SpikeTrains) -> SpikeTrains:
        """Spike trains of every (x, y, c) neuron, [batch, X' * Y' * out_c, max_spikes]."""
        batch, n_in, in_spikes = inputs.times.shape
        rows = batch * self.positions
        if not self._rf or self._rf[0].shape[0] != rows or self._rf[0].shape[2] != in_spikes:
            be = self.backend
            self._rf = (be.empty((rows, self.n_in, in_spikes), self.dtype), be.empty((rows, self.n_in), np.int32),
                        be.empty((batch, n_in, in_spikes), self.dtype))
        rf_t, rf_cnt, _ = self._rf
        _, kx, ky, in_c = self.weight_shape
        be = self.backend
        if be.row_schedules:
            t, cnt = self._forward_from_sorted_samples(inputs, rf_t, rf_cnt)
        else:
            be.kernels.conv_gather(rows * self.n_in, in_t=inputs.times, in_cnt=inputs.counts, size_y=self.in_shape[1],
                                   channels=in_c, ky=ky, out_x=self.out_shape[0], out_y=self.out_shape[1], rf_t=rf_t,
                                   rf_cnt=rf_cnt)
            t, cnt = self._lif_forward(rf_t, rf_cnt)
        s_out = self.params.max_spikes
        return SpikeTrains(t.reshape(batch, self.neurons, s_out), cnt.reshape(batch, self.neurons))

    def _forward_from_sorted_samples(self, inputs: SpikeTrains, rf_t: Any, rf_cnt: Any) -> tuple[Any, Any]:
        """The CPU's forward: sort each sample's input spikes and take their exponentials once, then deal them out
        in order to the receptive fields, instead of sorting each field (every spike lies in up to kx * ky
        fields) and taking the same exponentials again in each."""
        be, (batch, n_in, in_spikes) = self.backend, inputs.times.shape
        m = n_in * in_spikes
        f, i32 = self.dtype, np.int32
        if self._samples is None or self._samples[0].shape != (batch, m):
            self._samples = (be.empty((batch, m), f), be.empty((batch, m), i32), be.empty((batch,), i32),
                             be.empty((batch, m), f), be.empty((batch, m), i32), be.empty((batch, m), f),
                             be.empty((batch, m), f), be.empty((batch, m), i32))
        st, sp, sn, tmp_t, tmp_p, se1, se2, sfr = self._samples
        sort_spikes(be, inputs.times, inputs.counts, st, sp, sn, tmp_t, tmp_p)
        self._exp_factors(st, se1, se2, sfr)
        buf = self._ensure_buffers(rf_t.shape[0], in_spikes)
        _, kx, ky, in_c = self.weight_shape
        # the fields in their own layout too, unless backward runs the sweeps (they never read it)
        be.kernels.conv_deal_sorted(batch, st=st, sp=sp, sn=sn, se1=se1, se2=se2, sfr=sfr, size_y=self.in_shape[1],
                                    channels=in_c, kx=kx, ky=ky, out_x=self.out_shape[0], out_y=self.out_shape[1],
                                    rf_st=buf["st"], rf_sp=buf["sp"], rf_sn=buf["sn"], rf_se1=buf["se1"],
                                    rf_se2=buf["se2"], rf_sfr=buf["sfr"], layout=not self.sweeps_only, rf_t=rf_t,
                                    rf_cnt=rf_cnt)
        return self._lif_forward_sorted(rf_t, rf_cnt)

    def backward(self, errors: Any, input_errors: bool = True) -> Any:
        """Set `grad` from `errors` (dL/dt of this layer's spikes); return dL/dt of the inputs if asked."""
        batch = errors.shape[0]
        rf_err = self._lif_backward(errors.reshape(batch * self.positions, self.n_out, errors.shape[2]),
                                    input_errors)
        if not input_errors:
            return None
        err_in = self._rf[2]
        _, kx, ky, in_c = self.weight_shape
        self.backend.kernels.conv_scatter_errors(err_in.shape[0] * err_in.shape[1], rf_err=rf_err,
                                                 size_y=self.in_shape[1], channels=in_c, kx=kx, ky=ky,
                                                 out_x=self.out_shape[0], out_y=self.out_shape[1], err_in=err_in)
        return err_in
