"""Spike trains as the network passes them between layers."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from snntrain.backends import Backend


@dataclass
class SpikeTrains:
    """Per sample and neuron, a time-ordered buffer of spike times padded with +inf, and the spike counts.

    `times` has shape (batch, neurons, max_spikes); `counts` (batch, neurons), int32. Arrays live on the
    backend's device. `sorted` is each sample's spikes in time order (times, source neurons, counts), once a
    dense layer that reads these trains has sorted them: valid until that layer's next forward pass.
    """

    times: Any
    counts: Any
    sorted: tuple[Any, Any, Any] | None = None

    @property
    def batch(self) -> int:
        """Number of samples."""
        return self.times.shape[0]


def spike_trains_from_times(times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Host arrays (times[B, N, 1], counts[B, N]) for inputs with at most one spike each (+inf = none)."""
    times = np.asarray(times)
    return times[:, :, None].copy(), np.isfinite(times).astype(np.int32)


# Below this many slots per row (pooling windows), a merge costs less than a radix sort's 256 counters per pass.
RADIX_MIN_SLOTS = 64


def sort_spikes(backend: Backend, times: Any, counts: Any, st: Any, sp: Any, sn: Any, tmp_t: Any,
                tmp_p: Any) -> None:
    """Sort each row's spikes (`times[r, p, :counts[r, p]]` over all p) into time order.

    Writes `st[r]` (times, padded with +inf), `sp[r]` (source index p) and `sn[r]` (how many spikes);
    `tmp_t`, `tmp_p` are scratch of the same shapes. Each neuron's buffer is one sorted run; runs are merged
    `backend.sort_fan_in` at a time, per pass one launch with a thread per slot, or, with `backend.sort_by_row`,
    pairwise by one thread per row. Passes alternate between the two buffers so that the last lands in `st`.
    With `backend.sort_by_row`, rows of RADIX_MIN_SLOTS slots or more take the radix sort instead (one thread
    per row too; see `snntrain.kernels.sort`).
    """
    rows, n_pre, s_max = times.shape
    if backend.sort_by_row and n_pre * s_max >= RADIX_MIN_SLOTS:
        bits = np.dtype(f"uint{8 * times.dtype.itemsize}")
        sign = bits.type(1) << bits.type(8 * bits.itemsize - 1)
        inf = np.array(np.inf, times.dtype).view(bits)[()]
        backend.kernels.radix_sort_row(rows, in_bits=times.view(bits), in_cnt=counts, sign=sign, inf_bits=inf,
                                       st_bits=st.view(bits), sp=sp, sn=sn, tmp_bits=tmp_t.view(bits), tmp_p=tmp_p,
                                       hist=backend.scratch("radix_counts", (rows, 256), np.int32))
        return
    fan_in = 2 if backend.sort_by_row else backend.sort_fan_in
    passes, runs = 1, fan_in
    while runs < n_pre:
        passes, runs = passes + 1, runs * fan_in
    buffers = ((st, sp), (tmp_t, tmp_p))
    total = rows * n_pre * s_max
    first_t, first_p = buffers[passes % 2]
    backend.kernels.load_slots(total, in_t=times, in_cnt=counts, dst_t=first_t, dst_p=first_p)
    if backend.sort_by_row:
        other_t, other_p = buffers[(passes + 1) % 2]
        backend.kernels.merge_row(rows, width=s_max, passes=passes, a_t=first_t, a_p=first_p, z_t=other_t,
                                  z_p=other_p, sn=sn)
        return
    width = s_max
    for k in range(passes):
        (src_t, src_p), (dst_t, dst_p) = buffers[(passes - k) % 2], buffers[(passes - 1 - k) % 2]
        backend.kernels.merge_pass(total, width=width, fan_in=fan_in, src_t=src_t, src_p=src_p, dst_t=dst_t,
                                   dst_p=dst_p, sn=sn)
        width *= fan_in
