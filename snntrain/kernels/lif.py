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

Arithmetic is in the model's precision (`real`, see `snntrain.kernels.onesource`): every literal, module
constant and frame index that meets a float goes through `real(...)`, so float32 models compute in float32 and
float64 models exactly as the plain formulas. Storage has the same dtype (the float32 scratch sums and
accumulators of the CPU schedules included).
"""
from __future__ import annotations

import math

from snntrain.kernels.onesource import real
from snntrain.kernels.sort import search_sorted

INF = math.inf
# Frame width in units of tau_s: the stored exp((t - F) / tau_s) stays below e^20 (float32 allows e^88, and
# a sum of weighted ones must fit too), while image inputs (t / tau_s < 8 in BATS) stay in frame 0.
FRAME_TAU_S = 20.0


def single_frame(t_max, tau_s):
    """Whether a simulation ending at t_max stays in frame 0: then no frame index needs reading at all (the
    image models' fast path), and the numbers are exactly those of the plain formulas."""
    return t_max < real(FRAME_TAU_S) * tau_s


def frame_gap(d, halved):
    """The factor exp(-d * FRAME_TAU_S) that moves a quantity in units of tau_s (A, e1, g1) d frames later, or
    exp(-d * FRAME_TAU_S / 2) with `halved`, for one in units of tau = 2 tau_s (B, e2, g2, the reset coupling);
    1.0 within the same frame."""
    if d == 0:
        return real(1.0)
    per_frame = real(FRAME_TAU_S) * real(0.5) if halved else real(FRAME_TAU_S)
    return math.exp(-per_frame * real(d))


def first_crossing(a, b, c, z_lo, z_hi):
    """z of the first point of [z_lo, z_hi] where c z^2 - b z + a <= 0 (V at or above theta/tau), or -1.0.

    f(z) = c z^2 - b z + a is V's threshold condition (SPEC §1). If f(z_lo) <= 0 the membrane is already at
    threshold where the interval starts: a crossing within rounding of an input time, which is a spike there
    (SPEC §1, crossings at an input time). Otherwise the smaller root, when it lies in the interval: f(z_hi) <= 0
    (at or above threshold at its end), or the vertex b / 2c inside it with real roots (it crosses and comes
    back). The root is clamped into the interval, since in exact arithmetic it lies there and only rounding can
    put it a hair outside. A (near-)tangent touch with b^2 - 4ac <= 0 is no crossing: V exceeds theta/tau by no
    more than rounding, and the spike time would have no derivative.
    """
    f_lo = (c * z_lo - b) * z_lo + a
    # The cheap test, no sqrt: no root can lie inside. Written so that NaN sums (non-finite weights) give no
    # spike, as every comparison with NaN is false.
    two = real(2.0)
    if not (f_lo <= 0.0 or (c * z_hi - b) * z_hi + a <= 0.0 or two * c * z_lo < b < two * c * z_hi):
        return real(-1.0)
    disc = b * b - real(4.0) * a * c
    if not disc > 0.0:
        return real(-1.0)
    if f_lo <= 0.0:
        return z_lo
    z = two * a / (b + math.sqrt(disc))
    if z < z_lo:
        return z_lo
    if z > z_hi:
        return z_hi
    return z


def store_after(out, b, n, k, t, t_lo):
    """Store spike time t in out[b, n, k], raised to the smallest stored value above t_lo when rounding (to the
    storage dtype) put it at or before t_lo. A spike computed with the inputs up to t_lo must be stored after
    them, since backprop lets an input act on exactly the spikes strictly after it."""
    out[b, n, k] = t
    step = abs(t_lo) * 1e-17 + 1e-300
    while out[b, n, k] <= t_lo:
        out[b, n, k] = t_lo + step
        step *= 2.0


def exp_factors(i, t, tau_s, e1, e2, fr):
    """For flattened spike times: the frame fr[i] of t[i], e1[i] = exp((t[i] - F) / tau_s) and
    e2[i] = exp((t[i] - F) / tau) relative to its start F (0 and frame 0 for +inf padding)."""
    ti = t[i]
    if ti == INF:
        e1[i] = 0.0
        e2[i] = 0.0
        fr[i] = 0
    else:
        width = real(FRAME_TAU_S) * tau_s
        f = math.floor(ti / width)
        rel = ti - real(f) * width
        e1[i] = math.exp(rel / tau_s)
        e2[i] = math.exp(rel / (real(2.0) * tau_s))
        fr[i] = f


def interval_end(st, sn, se2, sfr, b, m, t_max, tau, frame, width, framed):
    """(t_next, z_next): where the interval after sorted input m of row b ends, the next input's time or t_max,
    and its z = exp((t - F) / tau) in the current frame F (t_next == st[b, m] means a tie with the next input)."""
    if m + 1 < sn[b] and st[b, m + 1] < t_max:
        t_next = st[b, m + 1]
        if not framed or sfr[b, m + 1] == frame:
            return t_next, se2[b, m + 1]
        return t_next, math.exp((t_next - real(frame) * width) / tau)
    return t_max, math.exp((t_max - real(frame) * width) / tau)


def emit_spikes(out_t, sa, sx, sz, sf, b, n, k, a, bsum, c, reset, tau, frame, width, tj, z_lo, t_next, z_next):
    """Record neuron n's spikes in (t_j, t_next] from its sums A = a, B = bsum, from slot k on, each with its
    reset (SPEC §1). Returns the new spike count and B after the resets."""
    max_spikes = out_t.shape[2]
    while k < max_spikes:
        z = first_crossing(a, bsum, c, z_lo, z_next)
        if z < 0.0:
            break
        t = real(frame) * width + tau * math.log(z)
        if t > t_next:  # z is inside the interval; only the log's rounding can put t past its end
            t = t_next
        store_after(out_t, b, n, k, t, tj)
        sa[b, n, k] = a
        sx[b, n, k] = math.sqrt(bsum * bsum - real(4.0) * a * c)
        sz[b, n, k] = z
        sf[b, n, k] = frame
        bsum -= reset * z
        k += 1
    return k, bsum


def neuron_constants(tau_s, theta, delta_theta, t_max, b, rows, groups):
    """(tau, threshold c = theta / tau, reset size, frame width, whether frames are needed, group of row b)."""
    tau = real(2.0) * tau_s
    return (tau, theta / tau, delta_theta / tau, real(FRAME_TAU_S) * tau_s, not single_frame(t_max, tau_s),
            b // (rows // groups))


def forward_inputs(m_lo, m_hi, st, sp, sn, se1, se2, sfr, w, g, b, n, t_max, tau, c, reset, width, framed, a, bsum,
                   frame, k, out_t, sa, sx, sz, sf):
    """Feed sorted inputs m_lo..m_hi-1 of row b to neuron n, whose sums are A = a, B = bsum in `frame` with k
    spikes so far, recording its spikes after each input (SPEC §1). Returns (a, bsum, frame, k, done): done when
    an input at or after t_max or a full buffer ended the walk before m_hi (no later input can matter).

    After the inputs of one instant t_j are added, spikes are sought in (t_j, t_next]: strictly after those
    inputs (they are in A and B) and up to the next input time or t_max inclusive (the next input is not).
    Backprop uses the same rule, an input acts on the spikes strictly after it, so forward and backward always
    agree on which inputs a spike saw.
    """
    max_spikes = out_t.shape[2]
    for m in range(m_lo, m_hi):
        tj = st[b, m]
        if tj >= t_max or k >= max_spikes:
            return a, bsum, frame, k, True
        if framed and sfr[b, m] != frame:  # the input moved on by some frames: rescale the sums into its frame
            a *= frame_gap(sfr[b, m] - frame, False)
            bsum *= frame_gap(sfr[b, m] - frame, True)
            frame = sfr[b, m]
        wj = w[g, sp[b, m], n]
        a += wj * se1[b, m]
        bsum += wj * se2[b, m]
        t_next, z_next = interval_end(st, sn, se2, sfr, b, m, t_max, tau, frame, width, framed)
        if t_next == tj:
            continue  # inputs of one instant arrive together: no interval between them
        k, bsum = emit_spikes(out_t, sa, sx, sz, sf, b, n, k, a, bsum, c, reset, tau, frame, width, tj, se2[b, m],
                              t_next, z_next)
    return a, bsum, frame, k, False


def finish_neuron(b, n, k, out_t, cnt):
    """Store neuron n's spike count k and pad its unused slots with +inf."""
    cnt[b, n] = k
    for r in range(k, out_t.shape[2]):
        out_t[b, n, r] = INF


def lif_forward_neuron(i, st, sp, sn, se1, se2, sfr, w, tau_s, theta, delta_theta, t_max, out_t, cnt, sa, sx,
                       sz, sf):
    """Event-based spike times of neuron n = i % N in sample b = i // N (SPEC §1, closed form), all inputs fed in
    time order by one thread (`forward_inputs`). (The GPU's schedule in float64, and where inputs are few.)

    `se1`, `se2`, `sfr` are the exponentials and frames of the sorted input times `st`.
    """
    n_post = cnt.shape[1]
    b = i // n_post
    n = i - b * n_post
    tau, c, reset, width, framed, g = neuron_constants(tau_s, theta, delta_theta, t_max, b, cnt.shape[0],
                                                       w.shape[0])
    k = forward_inputs(0, sn[b], st, sp, sn, se1, se2, sfr, w, g, b, n, t_max, tau, c, reset, width, framed,
                       real(0.0), real(0.0), 0, 0, out_t, sa, sx, sz, sf)[3]
    finish_neuron(b, n, k, out_t, cnt)


def chunk_bounds(sn, b, chunks, ch):
    """Inputs [lo, hi) of chunk ch of row b: its sn[b] sorted inputs cut into `chunks` runs of equal length."""
    length = (sn[b] + chunks - 1) // chunks
    lo = min(ch * length, sn[b])
    return lo, min(lo + length, sn[b])


def lif_chunk_sums(i, st, sp, sn, se1, se2, w, t_max, csa, csb):
    """The chunked forward's first pass (`lif_forward_chunked`): the sums of w e1 and w e2 that the inputs of one
    chunk add to one neuron, csa[b, ch, n] and csb[b, ch, n], for i = (b * chunks + ch) * N + n (consecutive
    threads read consecutive weights). Inputs at or after t_max add nothing."""
    n_post = csa.shape[2]
    chunks = csa.shape[1]
    n = i % n_post
    ch = (i // n_post) % chunks
    b = i // (n_post * chunks)
    g = b // (csa.shape[0] // w.shape[0])
    lo, hi = chunk_bounds(sn, b, chunks, ch)
    a = real(0.0)
    bsum = real(0.0)
    for m in range(lo, hi):
        if st[b, m] >= t_max:
            break
        wj = w[g, sp[b, m], n]
        a += wj * se1[b, m]
        bsum += wj * se2[b, m]
    csa[b, ch, n] = a
    csb[b, ch, n] = bsum


def crossing_margin(a, bsum, c, z_lo, z_hi):
    """How far B may drop before V can no longer reach threshold in [z_lo, z_hi]: B - min (c z + A / z) over the
    interval. f(z) = c z^2 - B z + A <= 0 (V at threshold, SPEC §1) at some z > 0 of the interval exactly when
    B >= c z + A / z there, so with B lowered by r (resets) a crossing is possible only while r <= the margin.
    For A > 0 the minimum is 2 sqrt(A c) at the vertex z = sqrt(A / c) when it lies inside, else at an end; for
    A <= 0, c z + A / z rises with z and the minimum is at z_lo."""
    h_lo = c * z_lo + a / z_lo
    if a <= 0.0:
        return bsum - h_lo
    h_hi = c * z_hi + a / z_hi
    low = min(h_lo, h_hi)
    z_vertex = math.sqrt(a / c)
    if z_lo < z_vertex < z_hi:
        low = real(2.0) * math.sqrt(a * c)
    return bsum - low


def lif_chunk_margins(i, st, sp, sn, se1, se2, sfr, w, tau_s, theta, t_max, csa, csb, cmax):
    """The chunked forward's second pass: cmax[b, ch, n], the largest `crossing_margin` of neuron n over the
    intervals after the inputs of chunk ch, fed with every input before and none of the resets (-inf where no
    interval is tested). (Same element order as `lif_chunk_sums`.)

    A reset lowers B by reset * z, and so the membrane at every later time: once the spikes before chunk ch have
    lowered B by r in all, the neuron can cross in the chunk only if cmax >= r. The last pass walks only those
    chunks."""
    n_post = csa.shape[2]
    chunks = csa.shape[1]
    n = i % n_post
    ch = (i // n_post) % chunks
    b = i // (n_post * chunks)
    # theta stands in for the reset size, which no margin needs
    tau, c, reset, width, framed, g = neuron_constants(tau_s, theta, theta, t_max, b, csa.shape[0], w.shape[0])
    a = real(0.0)
    bsum = real(0.0)
    for before in range(ch):  # chunk by chunk, as the last pass adds the chunks it skips
        a += csa[b, before, n]
        bsum += csb[b, before, n]
    lo, hi = chunk_bounds(sn, b, chunks, ch)
    best = -real(INF)
    for m in range(lo, hi):
        tj = st[b, m]
        if tj >= t_max:
            break
        wj = w[g, sp[b, m], n]
        a += wj * se1[b, m]
        bsum += wj * se2[b, m]
        t_next, z_next = interval_end(st, sn, se2, sfr, b, m, t_max, tau, 0, width, False)
        if t_next != tj:
            best = max(best, crossing_margin(a, bsum, c, se2[b, m], z_next))
    cmax[b, ch, n] = best


def lif_forward_chunked(i, st, sp, sn, se1, se2, sfr, w, tau_s, theta, delta_theta, t_max, csa, csb, cmax, out_t,
                        cnt, sa, sx, sz, sf):
    """Spike times of neuron n = i % N in row b = i // N, as `lif_forward_neuron`, for inputs that all lie in
    frame 0 (`single_frame`): the GPU's schedule in float32 where one thread per neuron is too few to fill it.

    The rows' inputs are cut into chunks, and two passes over (row, chunk, neuron), many threads each with a
    short walk, find each chunk's sums (`lif_chunk_sums`) and how far its resets may lower B before the neuron
    cannot cross in it (`lif_chunk_margins`). This pass walks input by input, as `lif_forward_neuron` does, only
    the chunks whose margin the resets so far have not used up, and adds each other chunk's sums in one step. The
    spikes are those of the serial walk; the sums differ from its running sums by the rounding of a different
    order of addition only.
    """
    n_post = cnt.shape[1]
    b = i // n_post
    n = i - b * n_post
    chunks = csa.shape[1]
    max_spikes = out_t.shape[2]
    tau, c, reset, width, framed, g = neuron_constants(tau_s, theta, delta_theta, t_max, b, cnt.shape[0],
                                                       w.shape[0])
    a = real(0.0)
    bsum = real(0.0)
    no_reset = real(0.0)  # B without the resets, as the margins were found: the resets so far are no_reset - bsum
    k = 0
    for ch in range(chunks):
        if k >= max_spikes:
            break
        # with slack: the margin and the resets are sums rounded apart, and a crossing that lands on an input
        # time sits at a margin of 0 (walking an extra chunk costs little; skipping a spike is wrong)
        if cmax[b, ch, n] >= no_reset - bsum - real(1e-5) * (abs(no_reset) + abs(bsum)):
            lo, hi = chunk_bounds(sn, b, chunks, ch)
            a, bsum, _, k, done = forward_inputs(lo, hi, st, sp, sn, se1, se2, sfr, w, g, b, n, t_max, tau, c,
                                                     reset, width, False, a, bsum, 0, k, out_t, sa, sx, sz, sf)
            if done:
                break
        else:
            a += csa[b, ch, n]
            bsum += csb[b, ch, n]
        no_reset += csb[b, ch, n]
    finish_neuron(b, n, k, out_t, cnt)


def add_input(acc_a, acc_b, w, g, p, b, n, e1, e2):
    """Add input p (factors e1, e2) to neuron n's sums of row b in `lif_forward_row`'s scratch."""
    wj = w[g, p, n]
    acc_a[b, n] += wj * e1
    acc_b[b, n] += wj * e2


def lif_forward_row(b, st, sp, sn, se1, se2, sfr, w, tau_s, theta, delta_theta, t_max, acc_a, acc_b, hit, out_t,
                    cnt, sa, sx, sz, sf):
    """Spike times of all neurons of row b: the sums, tests and roots of `lif_forward_neuron`, in the same order
    per neuron (so the same numbers), in the CPU's schedule.

    Inputs outer, neurons inner: each input adds one contiguous weight row to every neuron's sums (`acc_a`,
    `acc_b`: scratch [rows, N]) and, in the same branch-free pass, marks in `hit` the neurons whose membrane may
    reach threshold before the next input (the cheap test of `first_crossing`; a full buffer marks none). Only
    those take the exact root, found by a scan that stops at the last mark. Neurons with a full buffer keep
    summing.
    """
    n_post = cnt.shape[1]
    max_spikes = out_t.shape[2]
    tau, c, reset, width, framed, g = neuron_constants(tau_s, theta, delta_theta, t_max, b, cnt.shape[0],
                                                       w.shape[0])
    for n in range(n_post):
        acc_a[b, n] = 0.0
        acc_b[b, n] = 0.0
        cnt[b, n] = 0
    frame = 0
    for m in range(sn[b]):
        tj = st[b, m]
        if tj >= t_max:
            break
        if framed and sfr[b, m] != frame:
            scale_a = frame_gap(sfr[b, m] - frame, False)
            scale_b = frame_gap(sfr[b, m] - frame, True)
            for n in range(n_post):
                acc_a[b, n] *= scale_a
                acc_b[b, n] *= scale_b
            frame = sfr[b, m]
        p = sp[b, m]
        e1 = se1[b, m]
        e2 = se2[b, m]
        t_next, z_next = interval_end(st, sn, se2, sfr, b, m, t_max, tau, frame, width, framed)
        if t_next == tj:  # inputs of one instant arrive together: no interval between them, only the sums
            for n in range(n_post):
                add_input(acc_a, acc_b, w, g, p, b, n, e1, e2)
            continue
        lo2 = real(2.0) * c * e2
        hi2 = real(2.0) * c * z_next
        hits = 0  # an integer: numba vectorises an integer sum, not a float one (no reassociation)
        for n in range(n_post):  # the sums and the candidate test in one pass over the neurons
            add_input(acc_a, acc_b, w, g, p, b, n, e1, e2)
            a = acc_a[b, n]
            bs = acc_b[b, n]
            f_lo = (c * e2 - bs) * e2 + a
            f_hi = (c * z_next - bs) * z_next + a
            mark = ((f_lo <= 0.0) | (f_hi <= 0.0) | ((lo2 < bs) & (bs < hi2))) & (cnt[b, n] < max_spikes)
            hit[b, n] = mark
            hits += mark
        for n in range(n_post):  # usually no mark, or a few: the scan ends at the last one
            if hits == 0:
                break
            if hit[b, n]:
                cnt[b, n], acc_b[b, n] = emit_spikes(out_t, sa, sx, sz, sf, b, n, cnt[b, n], acc_a[b, n],
                                                     acc_b[b, n], c, reset, tau, frame, width, tj, e2, t_next, z_next)
                hits -= 1
    for n in range(n_post):
        finish_neuron(b, n, cnt[b, n], out_t, cnt)


def lif_backward_neuron(i, err, cnt, sa, sx, sz, sf, tau_s, theta, delta_theta, g1, g2):
    """Reset coupling and suffix sums of e*f1, e*f2 for neuron n = i % N of sample b = i // N (SPEC §2).

    `err[b, n, k]` holds dL/dt_k of the layer's spikes as seen from above (the loss or the next layer). The
    running sums are kept in the frame of the spike at hand, so g1, g2 of spike k are in frame sf[b, n, k].
    """
    n_post = cnt.shape[1]
    b = i // n_post
    n = i - b * n_post
    tau = real(2.0) * tau_s
    c = theta / tau
    reset = delta_theta / tau
    r = real(0.0)
    s1 = real(0.0)
    s2 = real(0.0)
    frame = 0
    for k in range(cnt[b, n] - 1, -1, -1):
        if k < cnt[b, n] - 1 and sf[b, n, k] != frame:
            r *= frame_gap(frame - sf[b, n, k], True)
            s1 *= frame_gap(frame - sf[b, n, k], False)
            s2 *= frame_gap(frame - sf[b, n, k], True)
        frame = sf[b, n, k]
        x = sx[b, n, k]
        z = sz[b, n, k]
        e = err[b, n, k] + r * z
        r += e * reset / x
        s1 += e * (tau / sa[b, n, k]) * (real(1.0) + c * z / x)
        s2 += e * tau / x
        g1[b, n, k] = s1
        g2[b, n, k] = s2
    for k in range(cnt[b, n], g1.shape[2]):
        g1[b, n, k] = 0.0
        g2[b, n, k] = 0.0


def weight_term(g1k, g2k, e1, e2, gap, framed):
    """One input spike's share of dL/dw through the post spikes after it (SPEC §2): g1 e1 - g2 e2, where g1, g2
    are the suffix sums of the first post spike after the input, and the input's factors are brought `gap` >= 0
    frames later, into that spike's frame."""
    if framed:
        e1 *= frame_gap(gap, False)
        e2 *= frame_gap(gap, True)
    return g1k * e1 - g2k * e2


def lif_weight_grad(i, in_t, in_cnt, in_e1, in_e2, in_f, out_t, cnt, g1, g2, out_f, tau_s, t_max, share_post,
                    grad):
    """dL/dw[g, p, n] for synapse i of group g, summed over the group's rows: one merge pass per row.

    With `share_post`, i = (g * N + n) * P + p: neighbouring elements share the post neuron n and its spikes and
    suffix sums stay in cache (best when the post buffers are the larger); otherwise i = (g * P + p) * N + n and
    they share the pre neuron. Only the order of the elements differs, not what each computes. (The GPU's
    schedule: one thread per synapse.)
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
    acc = real(0.0)
    for b in range(g * per_group, (g + 1) * per_group):
        c_post = cnt[b, n]
        k = 0
        for s in range(in_cnt[b, p]):
            tj = in_t[b, p, s]
            while k < c_post and out_t[b, n, k] <= tj:
                k += 1
            if k == c_post:
                break
            acc += weight_term(g1[b, n, k], g2[b, n, k], in_e1[b, p, s], in_e2[b, p, s],
                               out_f[b, n, k] - in_f[b, p, s], framed)
    grad[g, p, n] = acc


def lif_weight_grad_row(i, in_t, in_cnt, in_e1, in_e2, in_f, out_t, cnt, g1, g2, out_f, tau_s, t_max, acc, grad):
    """dL/dw[g, p, :] of a single-spike layer (one post spike per neuron) for pre neuron p = i % P of group
    g = i // P: the sums of `lif_weight_grad`, term by term and in the same order, in the CPU's schedule
    (multi-spike layers take `lif_weight_grad_sweep`).

    One element per weight row, so a core owns whole rows and no two write one cache line; the inner loop runs
    over post neurons, whose spikes, suffix sums and accumulators lie contiguous, while the input spike's
    factors stay in registers (`acc[i, :]`: scratch in the layer's precision).
    """
    n_pre = in_cnt.shape[1]
    n_post = cnt.shape[1]
    per_group = cnt.shape[0] // grad.shape[0]
    g = i // n_pre
    p = i - g * n_pre
    framed = not single_frame(t_max, tau_s)
    for n in range(n_post):
        acc[i, n] = 0.0
    for b in range(g * per_group, (g + 1) * per_group):
        for s in range(in_cnt[b, p]):  # a branch-free test per neuron, vectorised over n
            tj = in_t[b, p, s]
            e1 = in_e1[b, p, s]
            e2 = in_e2[b, p, s]
            fj = in_f[b, p, s]
            for n in range(n_post):
                if cnt[b, n] > 0 and out_t[b, n, 0] > tj:
                    acc[i, n] += weight_term(g1[b, n, 0], g2[b, n, 0], e1, e2, out_f[b, n, 0] - fj, framed)
    for n in range(n_post):
        grad[g, p, n] = acc[i, n]


def sweep_start(b, j, n, g1, g2, out_f, kk, h1, h2, hf):
    """Sweep state row j, neuron n, at the start of row b: before any post spike, n's first spike is its first
    (suffix sums zero for a silent neuron: backward clears them past the count)."""
    kk[j, n] = 0
    h1[j, n] = g1[b, n, 0]
    h2[j, n] = g2[b, n, 0]
    hf[j, n] = out_f[b, n, 0]


def sweep_pass(b, j, n, cnt, g1, g2, out_f, kk, h1, h2, hf):
    """The sweep has passed one more spike of neuron n in row b: its next spike becomes the first after the
    current time (sums 0 once none is left)."""
    k = kk[j, n] + 1
    kk[j, n] = k
    if k < cnt[b, n]:
        h1[j, n] = g1[b, n, k]
        h2[j, n] = g2[b, n, k]
        hf[j, n] = out_f[b, n, k]
    else:
        h1[j, n] = 0.0
        h2[j, n] = 0.0


def lif_weight_grad_sweep(i, st, sp, sn, se1, se2, sfr, pt, pn, pcnt, out_t, cnt, g1, g2, out_f, tau_s, t_max,
                          chunk, kk, h1, h2, hf, acc, grad):
    """dL/dw[g, :, n] for a chunk of `chunk` post neurons n of group g (i = g * chunks + c): the sums of
    `lif_weight_grad`, term by term and in the same order, in a time sweep for the CPU.

    Per row, the inputs are visited in time order (`st`, `sp`, `se1`, `se2`, `sfr`: the forward's sorted inputs)
    and the row's post spikes likewise (`pt`, `pn`, `pcnt`: sorted times and neurons). `h1`, `h2`, `hf` [groups, N]
    hold each neuron's suffix sums and frame at its first spike after the current time (0 once none is left), and
    move on as the sweep passes that neuron's spikes (`kk`: spikes passed). Each input then adds one vector over
    the chunk to its weight row of `acc` ([groups * P, chunks * stride]: each chunk's columns start a `stride` of
    whole cache lines, so no two cores ever write one line): no per-pair search, and contiguous, branch-free
    inner loops (a term of 0 where no spike follows, which leaves the sum as it is).
    """
    n_post = cnt.shape[1]
    n_pre = acc.shape[0] // grad.shape[0]
    chunks = (n_post + chunk - 1) // chunk
    g = i // chunks
    c = i - g * chunks
    n0 = c * chunk
    n1 = min(n0 + chunk, n_post)
    base = c * (acc.shape[1] // chunks)  # the chunk's first column in acc
    per_group = cnt.shape[0] // grad.shape[0]
    framed = not single_frame(t_max, tau_s)
    for p in range(n_pre):
        for n in range(n0, n1):
            acc[g * n_pre + p, base + n - n0] = 0.0
    for b in range(g * per_group, (g + 1) * per_group):
        for n in range(n0, n1):
            sweep_start(b, g, n, g1, g2, out_f, kk, h1, h2, hf)
        q = 0
        for m in range(sn[b]):
            tj = st[b, m]
            while q < pcnt[b] and pt[b, q] <= tj:  # post spikes at or before t_j
                if n0 <= pn[b, q] < n1:
                    sweep_pass(b, g, pn[b, q], cnt, g1, g2, out_f, kk, h1, h2, hf)
                q += 1
            row = g * n_pre + sp[b, m]
            e1 = se1[b, m]
            e2 = se2[b, m]
            fj = sfr[b, m]
            if framed:  # frame factors differ per neuron, and none may meet a neuron with no spike left
                for n in range(n0, n1):
                    if kk[g, n] < cnt[b, n]:
                        acc[row, base + n - n0] += weight_term(h1[g, n], h2[g, n], e1, e2, hf[g, n] - fj, True)
            else:
                # views indexed from 0: numba then knows no index is negative and drops its wraparound test, which
                # otherwise keeps this loop from being vectorised
                acc_row = acc[row, base:base + n1 - n0]
                h1_chunk = h1[g, n0:n1]
                h2_chunk = h2[g, n0:n1]
                for k in range(n1 - n0):
                    acc_row[k] += weight_term(h1_chunk[k], h2_chunk[k], e1, e2, 0, False)
    for p in range(n_pre):
        for n in range(n0, n1):
            grad[g, p, n] = acc[g * n_pre + p, base + n - n0]


def lif_input_error(i, in_t, in_cnt, in_e1, in_e2, in_f, w, out_t, cnt, g1, g2, out_f, tau_s, t_max, err_in):
    """dL/dt_j of spike slot s of pre neuron p in sample b, i = (b * P + p) * S + s (SPEC §2); 0 for an empty
    slot. One element per spike rather than per neuron: a multi-spike layer's backward then has S times the
    threads, each summing over every post neuron."""
    n_slots = err_in.shape[2]
    n_pre = in_cnt.shape[1]
    s = i % n_slots
    p = (i // n_slots) % n_pre
    b = i // (n_slots * n_pre)
    if s >= in_cnt[b, p]:
        err_in[b, p, s] = 0.0
        return
    tau = real(2.0) * tau_s
    n_post = cnt.shape[1]
    g = b // (cnt.shape[0] // w.shape[0])
    framed = not single_frame(t_max, tau_s)
    tj = in_t[b, p, s]
    acc1 = real(0.0)
    acc2 = real(0.0)
    for n in range(n_post):
        k = search_sorted(out_t[b, n], 0, cnt[b, n], tj, True)  # the first of n's spikes after t_j
        if k < cnt[b, n]:
            w1 = w[g, p, n]
            w2 = w1
            if framed:  # the spike's suffix sums are in its frame, gap >= 0 frames after the input's
                gap = out_f[b, n, k] - in_f[b, p, s]
                w1 *= frame_gap(gap, False)
                w2 *= frame_gap(gap, True)
            acc1 += w1 * g1[b, n, k]
            acc2 += w2 * g2[b, n, k]
    err_in[b, p, s] = acc1 * in_e1[b, p, s] / tau_s - acc2 * in_e2[b, p, s] / tau


def lif_input_error_sweep(b, st, sp, sn, se1, se2, sfr, pt, pn, pcnt, w, out_t, cnt, g1, g2, out_f, tau_s, t_max,
                          kk, h1, h2, hf, slot, err_in):
    """dL/dt_j for every input spike of row b: the sums of `lif_input_error`, term by term and in the same order,
    in a time sweep for the CPU (multi-spike layers).

    As in `lif_weight_grad_sweep`, inputs and the row's sorted post spikes are visited in time order and `h1`,
    `h2`, `hf` [rows, N] hold each neuron's suffix sums and frame at its first spike after the current time, so no
    input searches the post spikes. `slot` [rows, P] counts each pre neuron's spikes seen, to
    find the input's slot in `err_in`.
    """
    n_pre = err_in.shape[1]
    n_post = cnt.shape[1]
    tau = real(2.0) * tau_s
    framed = not single_frame(t_max, tau_s)
    g = b // (cnt.shape[0] // w.shape[0])
    for p in range(n_pre):
        slot[b, p] = 0
    for n in range(n_post):
        sweep_start(b, b, n, g1, g2, out_f, kk, h1, h2, hf)
    q = 0
    for m in range(sn[b]):
        tj = st[b, m]
        while q < pcnt[b] and pt[b, q] <= tj:
            sweep_pass(b, b, pn[b, q], cnt, g1, g2, out_f, kk, h1, h2, hf)
            q += 1
        p = sp[b, m]
        s = slot[b, p]
        slot[b, p] = s + 1
        acc1 = real(0.0)
        acc2 = real(0.0)
        for n in range(n_post):
            if kk[b, n] >= cnt[b, n]:
                continue  # no spike of n after the input: no term (not w * 0, which a non-finite w would spoil)
            w1 = w[g, p, n]
            w2 = w1
            if framed:
                w1 *= frame_gap(hf[b, n] - sfr[b, m], False)
                w2 *= frame_gap(hf[b, n] - sfr[b, m], True)
            acc1 += w1 * h1[b, n]
            acc2 += w2 * h2[b, n]
        err_in[b, p, s] = acc1 * se1[b, m] / tau_s - acc2 * se2[b, m] / tau
    for p in range(n_pre):
        for s in range(slot[b, p], err_in.shape[2]):
            err_in[b, p, s] = 0.0


ENTRY_POINTS = (exp_factors, lif_forward_neuron, lif_forward_row, lif_chunk_sums, lif_chunk_margins,
                lif_forward_chunked, lif_backward_neuron, lif_weight_grad, lif_weight_grad_row, lif_weight_grad_sweep,
                lif_input_error, lif_input_error_sweep)
