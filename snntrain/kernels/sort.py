"""Per-sample time-sorting of a layer's input spikes, written once for both targets.

Each neuron's buffer is already in time order, so the sort is a bottom-up merge of those runs
(O(M log P) for M spikes of P neurons) with a scratch buffer, no allocation and no recursion: it runs as a
CUDA device function as well as on the CPU. Ties are broken by neuron index (a stable merge), so both targets
visit simultaneous spikes in the same order.
"""
from __future__ import annotations

import math

INF = math.inf


def merge_runs(src_t, src_p, dst_t, dst_p, b, lo, mid, hi):
    """Stable merge of src[b, lo:mid] and src[b, mid:hi] into dst[b, lo:hi]."""
    i = lo
    j = mid
    for o in range(lo, hi):
        if j >= hi or (i < mid and src_t[b, i] <= src_t[b, j]):
            dst_t[b, o] = src_t[b, i]
            dst_p[b, o] = src_p[b, i]
            i += 1
        else:
            dst_t[b, o] = src_t[b, j]
            dst_p[b, o] = src_p[b, j]
            j += 1


def sort_sample(b, in_t, in_cnt, st, sp, sn, tmp_t, tmp_p, runs):
    """Sort sample b's spikes (`in_t[b, p, :in_cnt[b, p]]` for every p) into `st[b]`, `sp[b]`, `sn[b]`.

    The rest of `st[b]` is padded with +inf.
    `tmp_t`, `tmp_p` are scratch of the shape of `st`, `sp`; `runs[b]` (length P + 1) holds run offsets.
    """
    n_pre = in_cnt.shape[1]
    m = 0
    for p in range(n_pre):
        runs[b, p] = m
        for s in range(in_cnt[b, p]):
            st[b, m] = in_t[b, p, s]
            sp[b, m] = p
            m += 1
    runs[b, n_pre] = m
    sn[b] = m
    width = 1
    in_st = True  # which buffer holds the current runs
    while width < n_pre:
        for r in range(0, n_pre, 2 * width):
            lo = runs[b, r]
            mid = runs[b, min(r + width, n_pre)]
            hi = runs[b, min(r + 2 * width, n_pre)]
            if in_st:
                merge_runs(st, sp, tmp_t, tmp_p, b, lo, mid, hi)
            else:
                merge_runs(tmp_t, tmp_p, st, sp, b, lo, mid, hi)
        in_st = not in_st
        width *= 2
    if not in_st:
        for o in range(m):
            st[b, o] = tmp_t[b, o]
            sp[b, o] = tmp_p[b, o]
    for o in range(m, st.shape[1]):  # padding, so per-spike kernels may run over the whole buffer
        st[b, o] = INF
        sp[b, o] = 0


FUNCTIONS = (merge_runs, sort_sample)
