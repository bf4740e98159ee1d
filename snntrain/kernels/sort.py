"""Per-sample time-sorting of a layer's input spikes, written once for both targets.

Each neuron's buffer is already in time order, so the sort is a bottom-up merge of those runs (padded to a fixed
width with +inf). Two schedules give the same result:
- `merge_pass`: a pass merges `fan_in` neighbouring runs at once, and every spike slot finds its own place in the
  merged run (its position in its own run plus a binary search in each sibling run). A pass is one launch with one
  thread per slot: what a GPU needs, where one thread walking a whole sample serially was the slowest kernel.
- `merge_row`: one thread merges a whole row pairwise, pass after pass: O(slots log neurons) simple steps, for
  the CPU's short rows (pooling windows).
- `radix_sort_row`: the CPU's long rows. One thread packs a row's spikes (only those within the counts: most slots
  of a multi-spike layer are padding) and sorts them by their IEEE bit patterns, a stable least-significant-digit
  radix sort, 8 bits a pass: O(spikes) work per pass, no comparisons to mispredict.
Ties go to the earlier run (a stable sort), so simultaneous spikes keep neuron order and every schedule and
target gives identical results (-0.0 sorts as, and comes out as, +0.0: they are the same time).
"""
from __future__ import annotations

import math

INF = math.inf


def load_slots(i, in_t, in_cnt, dst_t, dst_p):
    """Slot i of the flat [rows, P * S] layout: the spike time (+inf beyond the neuron's count), and its neuron."""
    s_max = in_t.shape[2]
    n_slots = in_t.shape[1] * s_max
    b = i // n_slots
    j = i - b * n_slots
    p = j // s_max
    s = j - p * s_max
    dst_t[b, j] = in_t[b, p, s] if s < in_cnt[b, p] else INF
    dst_p[b, j] = p


def search_sorted(values, lo, hi, value, inclusive):
    """First index in [lo, hi) of the ascending 1-D `values` that exceeds `value` (or reaches it, if not
    `inclusive`); hi when there is none."""
    while lo < hi:
        mid = (lo + hi) // 2
        t = values[mid]
        if t < value or (inclusive and t == value):
            lo = mid + 1
        else:
            hi = mid
    return lo


def merge_pass(i, width, fan_in, src_t, src_p, dst_t, dst_p, sn):
    """Move slot i of src (sorted runs of `width` slots) to its place in the merge of its `fan_in` runs in dst.

    On the last pass (one run covers the sample) slot 0 also stores the sample's number of finite times in sn.
    """
    length = src_t.shape[1]
    b = i // length
    j = i - b * length
    group = width * fan_in
    start = (j // group) * group
    end = min(start + group, length)
    own = start + ((j - start) // width) * width
    t = src_t[b, j]
    o = start + (j - own)
    for lo in range(start, end, width):
        if lo != own:
            # equal times in an earlier run go first, in a later run after: a stable merge
            o += search_sorted(src_t[b], lo, min(lo + width, end), t, lo < own) - lo
    dst_t[b, o] = t
    dst_p[b, o] = src_p[b, j]
    if j == 0 and end == length:
        n = 0
        for lo in range(0, length, width):
            n += search_sorted(src_t[b], lo, min(lo + width, length), INF, False) - lo
        sn[b] = n


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


def merge_row(b, width, passes, a_t, a_p, z_t, z_p, sn):
    """Merge row b's sorted runs of `width` slots pairwise, `passes` times, from buffer a to z and back; the
    result lands in a if `passes` is even, else in z. Also stores the row's number of finite times in sn."""
    length = a_t.shape[1]
    for k in range(passes):
        for lo in range(0, length, 2 * width):
            mid = min(lo + width, length)
            hi = min(lo + 2 * width, length)
            if k % 2 == 0:
                merge_runs(a_t, a_p, z_t, z_p, b, lo, mid, hi)
            else:
                merge_runs(z_t, z_p, a_t, a_p, b, lo, mid, hi)
        width *= 2
    if passes % 2 == 0:
        sn[b] = search_sorted(a_t[b], 0, length, INF, False)
    else:
        sn[b] = search_sorted(z_t[b], 0, length, INF, False)


def radix_pass(src_k, src_p, dst_k, dst_p, b, n, shift, hist):
    """One stable counting pass of row b's n keys (and their sources) from src to dst, on the 8-bit digit at
    `shift` (`hist[b]`: 256 counters). Returns False, and moves nothing, when every key has the same digit."""
    for d in range(256):
        hist[b, d] = 0
    for j in range(n):
        hist[b, (src_k[b, j] >> shift) & 255] += 1
    total = 0
    for d in range(256):
        count = hist[b, d]
        if count == n:
            return False
        hist[b, d] = total
        total += count
    for j in range(n):
        d = (src_k[b, j] >> shift) & 255
        o = hist[b, d]
        dst_k[b, o] = src_k[b, j]
        dst_p[b, o] = src_p[b, j]
        hist[b, d] = o + 1
    return True


def radix_sort_row(b, in_bits, in_cnt, sign, inf_bits, st_bits, sp, sn, tmp_bits, tmp_p, hist):
    """Row b's spikes in time order: the result of `merge_row` on the slots `load_slots` fills, for the CPU.

    Times come and go as the unsigned integers of their bit patterns (`in_bits`, `st_bits`, `tmp_bits`: views of
    the float arrays; `sign` the sign bit, `inf_bits` the pattern of +inf). Each is mapped to a key whose unsigned
    order is the float order (flip the sign bit of a positive number, every bit of a negative one), sorted, and
    mapped back. Slots past the count get +inf and source 0.
    """
    n = 0
    for p in range(in_cnt.shape[1]):
        for s in range(in_cnt[b, p]):
            u = in_bits[b, p, s]
            if u == sign:
                u = u ^ sign  # -0.0 is the time 0.0
            st_bits[b, n] = u ^ sign if u & sign == 0 else ~u
            sp[b, n] = p
            n += 1
    in_st = True  # which buffer holds the keys
    for shift in range(0, 8 * st_bits.itemsize, 8):
        if in_st:
            moved = radix_pass(st_bits, sp, tmp_bits, tmp_p, b, n, shift, hist)
        else:
            moved = radix_pass(tmp_bits, tmp_p, st_bits, sp, b, n, shift, hist)
        if moved:
            in_st = not in_st
    for j in range(n):
        k = st_bits[b, j] if in_st else tmp_bits[b, j]
        st_bits[b, j] = k ^ sign if k & sign != 0 else ~k
        if not in_st:
            sp[b, j] = tmp_p[b, j]
    for j in range(n, st_bits.shape[1]):
        st_bits[b, j] = inf_bits
        sp[b, j] = 0
    sn[b] = n


ENTRY_POINTS = (load_slots, merge_pass, merge_row, radix_sort_row)
