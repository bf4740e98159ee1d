"""The LIF math of SPEC §1-§2, written once as per-neuron / per-synapse plain Python.

Every function here is compiled for both targets by `snntrain.kernels.onesource.compile_for`; they may only
use what both numba targets support: scalar arithmetic, `math`, array indexing, loops. No allocation.

Layouts (b = sample, n = post neuron, p = pre neuron, k/s = spike slot):
- sorted layer input: `st[b, m]` times ascending, `sp[b, m]` pre index, `sn[b]` how many;
- weights input-major `w[g, p, n]` (so threads of a warp on consecutive n read consecutive addresses), one
  matrix per *group* of rows: a layer shared by all samples has one group; independent networks trained side
  by side (the convergence study) have one group each, and row b belongs to group b // (rows / groups);
- spikes `t[b, n, k]` (+inf padding), counts `cnt[b, n]`; saved per spike: `sa` (A), `sx` (X), `sz` (z*);
- suffix sums for backprop: `g1[b, n, k] = sum_{k' >= k} e_k' * f1_k'`, `g2` likewise with f2;
- exponentials of spike times, computed once per spike (`exp_factors`) rather than once per spike and neuron.

Time frames keep every exponential finite however long the input (SPEC §1's hazard): time is cut into frames of
FRAME_TAU_S * tau_s, and exponentials are taken relative to the start of a frame, F = f * FRAME_TAU_S * tau_s:
an input spike carries `e1 = exp((t - F) / tau_s)`, `e2 = exp((t - F) / tau)` and its frame index f. A neuron
keeps its sums A, B in the frame of its latest input and rescales them by exp(-FRAME_TAU_S * d) (A) and
exp(-FRAME_TAU_S * d / 2) (B) when the input moves d frames on; the quadratic keeps its form with these
relative sums, so each spike's A, X, z* are stored in its neuron's frame (`sf`) and the backward pass rescales
by the frame gap in the same way. Inputs within one frame (every image model: t_max / tau_s < FRAME_TAU_S)
never rescale, and their numbers equal the plain formulas of SPEC §1-§2.

Arithmetic is float64 inside the functions whatever the storage dtype, so the CPU and CUDA targets agree.
"""
from __future__ import annotations

import math

INF = math.inf
LOG_FREE_MARGIN = 1.0 + 1e-9  # far above float rounding of exp/log, far below any real gap between inputs
# Frame width in units of tau_s: the stored exp((t - F) / tau_s) stays below e^20 (float32 allows e^88, and
# a sum of weighted ones must fit too), while image inputs (t / tau_s < 8 in BATS) stay in frame 0.
FRAME_TAU_S = 20.0


def single_frame(t_max, tau_s):
    """Whether a simulation ending at t_max stays in frame 0: then no frame index needs reading at all (the
    image models' fast path), and the numbers are exactly those of the plain formulas."""
    return t_max < FRAME_TAU_S * tau_s


def frame_gap(d, per_frame):
    """The factor exp(-d * per_frame) that moves a quantity d frames later (1.0 within the same frame)."""
    if d == 0:
        return 1.0
    return math.exp(-per_frame * d)


def spike_root(a: float, b: float, c: float) -> float:
    """The smaller root z* of c z^2 - b z + a = 0, or -1.0 when there is no valid (real, positive) crossing."""
    disc = b * b - 4.0 * a * c
    if disc < 0.0:
        return -1.0
    den = b + math.sqrt(disc)
    if den == 0.0:
        return -1.0
    z = 2.0 * a / den
    if z <= 0.0:
        return -1.0
    return z


def may_cross(a: float, b: float, c: float, z_lo: float, z_hi: float) -> bool:
    """Whether c z^2 - b z + a can have a root in (z_lo, z_hi]: a cheap test (no sqrt, no division).

    With f(z) = c z^2 - b z + a, a root lies in the interval if f(z_hi) <= 0 (the membrane is at or above
    threshold at its end), or if the vertex b / 2c lies inside it and the discriminant is non-negative (it
    crosses and comes back). Anything else has no root there, so the exact test can be skipped.
    """
    if (c * z_hi - b) * z_hi + a <= 0.0:
        return True
    return 2.0 * c * z_lo < b < 2.0 * c * z_hi and b * b >= 4.0 * a * c


def exp_factors(i, t, tau_s, e1, e2, fr):
    """For flattened spike times: the frame fr[i] of t[i], e1[i] = exp((t[i] - F) / tau_s) and
    e2[i] = exp((t[i] - F) / tau) relative to its start F (0 and frame 0 for +inf padding)."""
    ti = t[i]
    if ti == INF:
        e1[i] = 0.0
        e2[i] = 0.0
        fr[i] = 0
    else:
        f = math.floor(ti / (FRAME_TAU_S * tau_s))
        rel = ti - f * (FRAME_TAU_S * tau_s)
        e1[i] = math.exp(rel / tau_s)
        e2[i] = math.exp(rel / (2.0 * tau_s))
        fr[i] = f


def lif_forward_neuron(i, st, sp, sn, se1, se2, sfr, w, tau_s, theta, delta_theta, t_max, out_t, cnt, sa, sx,
                       sz, sf):
    """Event-based spike times of neuron n = i % N in sample b = i // N (SPEC §1, closed form).

    `se1`, `se2`, `sfr` are the exponentials and frames of the sorted input times `st`.
    """
    n_post = cnt.shape[1]
    b = i // n_post
    n = i - b * n_post
    max_spikes = out_t.shape[2]
    tau = 2.0 * tau_s
    c = theta / tau
    reset = delta_theta / tau
    width = FRAME_TAU_S * tau_s
    framed = not single_frame(t_max, tau_s)
    g = b // (cnt.shape[0] // w.shape[0])
    a = 0.0
    bsum = 0.0
    frame = 0
    k = 0
    m_total = sn[b]
    for m in range(m_total):
        tj = st[b, m]
        if tj > t_max or k >= max_spikes:
            break
        if framed and sfr[b, m] != frame:  # the input moved on by some frames: rescale the sums into its frame
            a *= frame_gap(sfr[b, m] - frame, FRAME_TAU_S)
            bsum *= frame_gap(sfr[b, m] - frame, 0.5 * FRAME_TAU_S)
            frame = sfr[b, m]
        wj = w[g, sp[b, m], n]
        a += wj * se1[b, m]
        bsum += wj * se2[b, m]
        if m + 1 < m_total and st[b, m + 1] < t_max:
            t_next = st[b, m + 1]
            if not framed or sfr[b, m + 1] == frame:
                z_next = se2[b, m + 1]
            else:
                z_next = math.exp((t_next - frame * width) / tau)
        else:
            t_next = t_max
            z_next = math.exp((t_max - frame * width) / tau)
        if not may_cross(a, bsum, c, se2[b, m], z_next * LOG_FREE_MARGIN):
            continue
        while k < max_spikes:
            z = spike_root(a, bsum, c)
            # z = exp(t / tau) is monotonic in t: reject roots clearly past the next input before taking a log
            if z < 0.0 or z > z_next * LOG_FREE_MARGIN:
                break
            t = frame * width + tau * math.log(z)
            if t <= tj or t > t_next:
                break
            out_t[b, n, k] = t
            sa[b, n, k] = a
            sx[b, n, k] = math.sqrt(bsum * bsum - 4.0 * a * c)
            sz[b, n, k] = z
            sf[b, n, k] = frame
            bsum -= reset * z
            k += 1
    cnt[b, n] = k
    for r in range(k, max_spikes):
        out_t[b, n, r] = INF


def lif_backward_neuron(i, err, cnt, sa, sx, sz, sf, tau_s, theta, delta_theta, g1, g2):
    """Reset coupling and suffix sums of e*f1, e*f2 for neuron n = i % N of sample b = i // N (SPEC §2).

    `err[b, n, k]` holds dL/dt_k of the layer's spikes as seen from above (the loss or the next layer). The
    running sums are kept in the frame of the spike at hand, so g1, g2 of spike k are in frame sf[b, n, k].
    """
    n_post = cnt.shape[1]
    b = i // n_post
    n = i - b * n_post
    tau = 2.0 * tau_s
    c = theta / tau
    reset = delta_theta / tau
    r = 0.0
    s1 = 0.0
    s2 = 0.0
    frame = 0
    for k in range(cnt[b, n] - 1, -1, -1):
        if k < cnt[b, n] - 1 and sf[b, n, k] != frame:
            r *= frame_gap(frame - sf[b, n, k], 0.5 * FRAME_TAU_S)
            s1 *= frame_gap(frame - sf[b, n, k], FRAME_TAU_S)
            s2 *= frame_gap(frame - sf[b, n, k], 0.5 * FRAME_TAU_S)
        frame = sf[b, n, k]
        x = sx[b, n, k]
        z = sz[b, n, k]
        e = err[b, n, k] + r * z
        r += e * reset / x
        s1 += e * (tau / sa[b, n, k]) * (1.0 + c * z / x)
        s2 += e * tau / x
        g1[b, n, k] = s1
        g2[b, n, k] = s2
    for k in range(cnt[b, n], g1.shape[2]):
        g1[b, n, k] = 0.0
        g2[b, n, k] = 0.0


def first_after(out_t, b, n, count, t):
    """Index of the first of neuron n's `count` spikes strictly after t (count if none): binary search."""
    lo = 0
    hi = count
    while lo < hi:
        mid = (lo + hi) // 2
        if out_t[b, n, mid] <= t:
            lo = mid + 1
        else:
            hi = mid
    return lo


def lif_weight_grad(i, in_t, in_cnt, in_e1, in_e2, in_f, out_t, cnt, g1, g2, out_f, tau_s, t_max, share_post,
                    grad):
    """dL/dw[g, p, n] for synapse i of group g, summed over the group's rows: one merge pass per row.

    With `share_post`, i = (g * N + n) * P + p: neighbouring elements share the post neuron n and its spikes and
    suffix sums stay in cache (best when the post buffers are the larger); otherwise i = (g * P + p) * N + n and
    they share the pre neuron. Only the order of the elements differs, not what each computes.
    """
    n_pre = in_cnt.shape[1]
    n_post = cnt.shape[1]
    per_group = cnt.shape[0] // grad.shape[0]
    g = i // (n_pre * n_post)
    if share_post:
        p = i % n_pre
        n = (i // n_pre) % n_post
    else:
        n = i % n_post
        p = (i // n_post) % n_pre
    framed = not single_frame(t_max, tau_s)
    acc = 0.0
    for b in range(g * per_group, (g + 1) * per_group):
        c_post = cnt[b, n]
        if c_post == 0:
            continue
        k = 0
        for s in range(in_cnt[b, p]):
            tj = in_t[b, p, s]
            while k < c_post and out_t[b, n, k] <= tj:
                k += 1
            if k == c_post:
                break
            if framed:
                gap = out_f[b, n, k] - in_f[b, p, s]  # frames from the input to the spike's, >= 0
                acc += (g1[b, n, k] * in_e1[b, p, s] * frame_gap(gap, FRAME_TAU_S)
                        - g2[b, n, k] * in_e2[b, p, s] * frame_gap(gap, 0.5 * FRAME_TAU_S))
            else:
                acc += g1[b, n, k] * in_e1[b, p, s] - g2[b, n, k] * in_e2[b, p, s]
    grad[g, p, n] = acc


def lif_input_error(i, in_t, in_cnt, in_e1, in_e2, in_f, w, out_t, cnt, g1, g2, out_f, tau_s, t_max, err_in):
    """dL/dt_j for every spike j of pre neuron p = i % P in sample b = i // P (SPEC §2)."""
    n_pre = in_cnt.shape[1]
    b = i // n_pre
    p = i - b * n_pre
    tau = 2.0 * tau_s
    n_post = cnt.shape[1]
    g = b // (cnt.shape[0] // w.shape[0])
    framed = not single_frame(t_max, tau_s)
    for s in range(in_cnt[b, p]):
        tj = in_t[b, p, s]
        acc1 = 0.0
        acc2 = 0.0
        for n in range(n_post):
            k = first_after(out_t, b, n, cnt[b, n], tj)
            if k < cnt[b, n] and framed:
                gap = out_f[b, n, k] - in_f[b, p, s]
                acc1 += w[g, p, n] * g1[b, n, k] * frame_gap(gap, FRAME_TAU_S)
                acc2 += w[g, p, n] * g2[b, n, k] * frame_gap(gap, 0.5 * FRAME_TAU_S)
            elif k < cnt[b, n]:
                acc1 += w[g, p, n] * g1[b, n, k]
                acc2 += w[g, p, n] * g2[b, n, k]
        err_in[b, p, s] = acc1 * in_e1[b, p, s] / tau_s - acc2 * in_e2[b, p, s] / tau
    for s in range(in_cnt[b, p], err_in.shape[2]):
        err_in[b, p, s] = 0.0


FUNCTIONS = (single_frame, frame_gap, spike_root, may_cross, exp_factors, lif_forward_neuron, lif_backward_neuron, first_after, lif_weight_grad, lif_input_error)
