"""Convolution and pooling as re-indexing of spike buffers, written once for both targets (SPEC §3).

A conv layer is a dense LIF layer applied to every output position: `conv_gather` copies each position's
receptive field into rows `[b * P + pos, r, s]` (r = (dx * ky + dy) * C + c), the dense kernels run on those rows
with the filters as a [kx * ky * C, F] weight matrix, and `conv_scatter_errors` sums the errors of every
receptive field that holds an input spike back onto it. Pooling gathers each window into rows the same way;
sorting a row merges the window's spike trains (their union), and `pool_route_errors` hands each pooled spike's
error back to the spike it came from. Neurons are laid out (x, y, c): index (x * Y + y) * C + c.
"""
from __future__ import annotations

import math

INF = math.inf


def split_index(p, size_y, channels):
    """(x, y, c) of index p in an (X, Y, C) layout, p = (x * Y + y) * C + c."""
    x = p // (size_y * channels)
    rest = p - x * size_y * channels
    y = rest // channels
    return x, y, rest - y * channels


def copy_train(src_t, src_cnt, b, p, dst_t, dst_cnt, row, r):
    """Copy neuron p's spike buffer of sample b into slot r of row `row`."""
    dst_cnt[row, r] = src_cnt[b, p]
    for s in range(src_t.shape[2]):
        dst_t[row, r, s] = src_t[b, p, s]


def conv_gather(i, in_t, in_cnt, size_y, channels, ky, out_x, out_y, rf_t, rf_cnt):
    """Receptive field r of output position pos, sample b (element i = (b * P + pos) * RF + r)."""
    n_rf = rf_cnt.shape[1]
    row = i // n_rf
    r = i - row * n_rf
    positions = out_x * out_y
    b = row // positions
    pos = row - b * positions
    xo, yo, _ = split_index(pos, out_y, 1)
    dx, dy, c = split_index(r, ky, channels)
    copy_train(in_t, in_cnt, b, ((xo + dx) * size_y + yo + dy) * channels + c, rf_t, rf_cnt, row, r)


def conv_deal_sorted(b, st, sp, sn, se1, se2, sfr, size_y, channels, kx, ky, out_x, out_y, rf_st, rf_sp, rf_sn,
                     rf_se1, rf_se2, rf_sfr, layout, rf_t, rf_cnt):
    """The time-sorted input spikes of every receptive field of sample b (rows b * P + pos) and their
    exponentials: sample b's sorted spikes dealt out in order to each field that holds their source neuron,
    renumbered to field slots r.

    The same lists as sorting each gathered field (`conv_gather`, then a stable merge): spikes arrive in time
    order, and within a field r orders neurons as their index in the layer does ((x, y, c) against (dx, dy, c)),
    so ties keep their order too. Each spike goes to at most kx * ky fields, with no search and no test per field.

    With `layout`, the fields are also written in their own layout `rf_t`, `rf_cnt`, as `conv_gather` writes them:
    a source neuron's spikes arrive in its own time order, so each lands in its next slot (this costs a few
    stores per spike, where `conv_gather` decodes an (x, y, c) index per slot).
    """
    positions = out_x * out_y
    first = b * positions
    for pos in range(positions):
        rf_sn[first + pos] = 0
    if layout:
        for row in range(first, first + positions):
            for r in range(rf_cnt.shape[1]):
                rf_cnt[row, r] = 0
                for s in range(rf_t.shape[2]):
                    rf_t[row, r, s] = INF
    for m in range(sn[b]):
        x, y, c = split_index(sp[b, m], size_y, channels)
        for dx in range(kx):
            xo = x - dx
            if 0 <= xo < out_x:
                for dy in range(ky):
                    yo = y - dy
                    if 0 <= yo < out_y:
                        row = first + xo * out_y + yo
                        r = (dx * ky + dy) * channels + c
                        k = rf_sn[row]
                        rf_st[row, k] = st[b, m]
                        rf_sp[row, k] = r
                        rf_se1[row, k] = se1[b, m]
                        rf_se2[row, k] = se2[b, m]
                        rf_sfr[row, k] = sfr[b, m]
                        rf_sn[row] = k + 1
                        if layout:
                            slot = rf_cnt[row, r]
                            rf_t[row, r, slot] = st[b, m]
                            rf_cnt[row, r] = slot + 1
    for pos in range(positions):
        for r in range(rf_sn[first + pos], rf_st.shape[1]):
            rf_st[first + pos, r] = INF


def conv_scatter_errors(i, rf_err, size_y, channels, kx, ky, out_x, out_y, err_in):
    """dL/dt of input neuron p's spikes (element i = b * n_in + p): the sum over receptive fields holding it."""
    n_in = err_in.shape[1]
    b = i // n_in
    p = i - b * n_in
    x, y, c = split_index(p, size_y, channels)
    for s in range(err_in.shape[2]):
        acc = 0.0
        for dx in range(kx):
            xo = x - dx
            if 0 <= xo < out_x:
                for dy in range(ky):
                    yo = y - dy
                    if 0 <= yo < out_y:
                        acc += rf_err[(b * out_x + xo) * out_y + yo, (dx * ky + dy) * channels + c, s]
        err_in[b, p, s] = acc


def pool_source(xq, yq, c, r, size_y, channels, pool):
    """The input neuron in window slot r (r = dx * pool + dy) of the pooled neuron at (xq, yq, c)."""
    dx = r // pool
    dy = r - dx * pool
    return ((xq * pool + dx) * size_y + yq * pool + dy) * channels + c


def pool_gather(i, in_t, in_cnt, size_y, channels, pool, out_x, out_y, win_t, win_cnt):
    """Window slot r of pooled neuron q, sample b (element i = (b * Q + q) * pool^2 + r)."""
    n_win = pool * pool
    row = i // n_win
    r = i - row * n_win
    pooled = out_x * out_y * channels
    b = row // pooled
    xq, yq, c = split_index(row - b * pooled, out_y, channels)
    copy_train(in_t, in_cnt, b, pool_source(xq, yq, c, r, size_y, channels, pool), win_t, win_cnt, row, r)


def pool_gather_sample(b, in_t, in_cnt, size_y, channels, pool, out_x, out_y, win_t, win_cnt):
    """`pool_gather` of every window slot of sample b, in the CPU's schedule: the pooled neurons are walked in
    order, so no index is decoded by division."""
    n_win = pool * pool
    row = b * out_x * out_y * channels
    for xq in range(out_x):
        for yq in range(out_y):
            for c in range(channels):
                for r in range(n_win):
                    copy_train(in_t, in_cnt, b, pool_source(xq, yq, c, r, size_y, channels, pool), win_t, win_cnt,
                               row, r)
                row += 1


def pool_route_errors(row, err, sp, sn, win_err):
    """Errors of pooled spikes (row of the sorted window) back to window slot r, spike s they came from.

    The merge that built the row is stable and each slot's train is time-ordered, so the s-th entry with
    source r is spike s of slot r.
    """
    n_win = win_err.shape[1]
    for r in range(n_win):
        s = 0
        for m in range(sn[row]):
            if sp[row, m] == r:
                win_err[row, r, s] = err[row, m]
                s += 1
        for rest in range(s, win_err.shape[2]):
            win_err[row, r, rest] = 0.0


def pool_scatter_errors(i, win_err, size_y, channels, pool, out_x, out_y, err_in):
    """dL/dt of input neuron p's spikes (element i = b * n_in + p): from its window, 0 outside every window."""
    n_in = err_in.shape[1]
    b = i // n_in
    p = i - b * n_in
    x, y, c = split_index(p, size_y, channels)
    pool_error(b, p, x, y, c, win_err, channels, pool, out_x, out_y, err_in)


def pool_scatter_errors_sample(b, win_err, size_y, channels, pool, out_x, out_y, err_in):
    """`pool_scatter_errors` of every input neuron of sample b, in the CPU's schedule (neurons walked in order,
    no index decoded by division)."""
    p = 0
    for x in range(err_in.shape[1] // (size_y * channels)):
        for y in range(size_y):
            for c in range(channels):
                pool_error(b, p, x, y, c, win_err, channels, pool, out_x, out_y, err_in)
                p += 1


def pool_error(b, p, x, y, c, win_err, channels, pool, out_x, out_y, err_in):
    """The errors of input neuron p = (x, y, c) of sample b: those of its window slot, 0 outside every window."""
    xq = x // pool
    yq = y // pool
    inside = xq < out_x and yq < out_y
    row = ((b * out_x + xq) * out_y + yq) * channels + c
    r = (x - xq * pool) * pool + (y - yq * pool)
    for s in range(err_in.shape[2]):
        err_in[b, p, s] = win_err[row, r, s] if inside else 0.0


ENTRY_POINTS = (conv_gather, conv_deal_sorted, conv_scatter_errors, pool_gather, pool_gather_sample,
                pool_route_errors, pool_scatter_errors, pool_scatter_errors_sample)
