"""The per-row spike sort: a stable time order of every neuron's buffer, for any fan-in, on both targets."""
from __future__ import annotations

import numpy as np
import pytest

from snntrain.backends import cuda_available, get_backend
from snntrain.network.spikes import RADIX_MIN_SLOTS, sort_spikes


def spike_rows(rng, rows, n_pre, s_max, dtype=np.float32):
    """Per-neuron time-ordered buffers on a coarse grid (so ties are common), with random counts."""
    times = np.sort(rng.integers(0, 6, (rows, n_pre, s_max)) * 0.125, axis=2).astype(dtype)
    counts = rng.integers(0, s_max + 1, (rows, n_pre)).astype(np.int32)
    times[np.arange(s_max)[None, None, :] >= counts[:, :, None]] = np.inf
    return times, counts


def expected(times, counts):
    """Reference: a stable sort of each row's (time, neuron) pairs taken in neuron order."""
    rows, n_pre, s_max = times.shape
    st = np.full((rows, n_pre * s_max), np.inf, times.dtype)
    sp, sn = np.zeros((rows, n_pre * s_max), np.int32), np.zeros(rows, np.int32)
    for r in range(rows):
        p = np.repeat(np.arange(n_pre), counts[r])
        t = np.concatenate([times[r, q, :counts[r, q]] for q in range(n_pre)])
        order = np.argsort(t, kind="stable")
        sn[r] = len(t)
        st[r, :len(t)], sp[r, :len(t)] = t[order], p[order]
    return st, sp, sn


def run_sort(backend, times, counts):
    rows, n_pre, s_max = times.shape
    m = n_pre * s_max
    f = times.dtype
    out = [backend.empty((rows, m), f), backend.empty((rows, m), np.int32), backend.empty((rows,), np.int32),
           backend.empty((rows, m), f), backend.empty((rows, m), np.int32)]
    sort_spikes(backend, backend.to_device(times), backend.to_device(counts), *out)
    return [backend.to_host(a) for a in out[:3]]


@pytest.mark.parametrize("by_row, fan_in", [(True, 2), (False, 2), (False, 3), (False, 32)])
@pytest.mark.parametrize("n_pre, s_max", [(1, 1), (1, 4), (2, 3), (7, 1), (33, 2), (100, 3)])
def test_sort_is_a_stable_time_order(monkeypatch, by_row, fan_in, n_pre, s_max):
    backend = get_backend("cpu")
    monkeypatch.setattr(backend, "sort_by_row", by_row)
    monkeypatch.setattr(backend, "sort_fan_in", fan_in)
    times, counts = spike_rows(np.random.default_rng(n_pre * 10 + s_max), 4, n_pre, s_max)
    st, sp, sn = run_sort(backend, times, counts)
    want_t, want_p, want_n = expected(times, counts)
    np.testing.assert_array_equal(sn, want_n)
    np.testing.assert_array_equal(st, want_t)
    for r in range(len(sn)):  # source indices beyond the count are unused
        np.testing.assert_array_equal(sp[r, :sn[r]], want_p[r, :sn[r]])


@pytest.mark.parametrize("n_pre", [5, 50])  # a merge, a radix sort
def test_silent_rows_sort_to_nothing(n_pre):
    times = np.full((3, n_pre, 2), np.inf, np.float32)
    st, _, sn = run_sort(get_backend("cpu"), times, np.zeros((3, n_pre), np.int32))
    assert (sn == 0).all() and np.isinf(st).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_pre, s_max", [(40, 2), (100, 3), (400, 5)])
def test_radix_sort_is_the_merge(dtype, n_pre, s_max):
    """The CPU's radix sort of long rows (float32 and float64 bit patterns) gives the merge's order, ties
    included, and the rows with one spike, none, and every slot full."""
    assert n_pre * s_max >= RADIX_MIN_SLOTS
    rng = np.random.default_rng(n_pre)
    times, counts = spike_rows(rng, 5, n_pre, s_max, dtype)
    counts[1] = 0
    counts[2] = np.where(np.arange(n_pre) == 7, 1, 0)
    counts[3] = s_max
    times[3] = np.sort(rng.integers(0, 6, (n_pre, s_max)) * 0.125, axis=1)
    times[np.arange(s_max)[None, None, :] >= counts[:, :, None]] = np.inf
    st, sp, sn = run_sort(get_backend("cpu"), times, counts)
    want_t, want_p, want_n = expected(times, counts)
    np.testing.assert_array_equal(sn, want_n)
    np.testing.assert_array_equal(st, want_t)
    for r in range(len(sn)):
        np.testing.assert_array_equal(sp[r, :sn[r]], want_p[r, :sn[r]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_radix_sort_orders_signs_zeros_and_extremes(dtype):
    """Bit patterns in the order of the numbers: negative times (before every positive one, larger magnitude
    first), -0.0 tied with 0.0 (in neuron order, both coming out as 0.0), subnormals, the largest finite value."""
    info = np.finfo(dtype)
    values = np.array([-info.max, -1.0, -info.tiny, -0.0, 0.0, info.smallest_subnormal, info.tiny, 1e-3, 1.0,
                       info.max], dtype)
    rng = np.random.default_rng(5)
    n_pre = 70
    picks = rng.integers(0, len(values), (2, n_pre, 2))
    times = np.sort(values[picks], axis=2)
    counts = rng.integers(0, 3, (2, n_pre)).astype(np.int32)
    times[np.arange(2)[None, None, :] >= counts[:, :, None]] = np.inf
    st, sp, sn = run_sort(get_backend("cpu"), times, counts)
    want_t, want_p, want_n = expected(times, counts)
    np.testing.assert_array_equal(sn, want_n)
    for r in range(2):
        np.testing.assert_array_equal(st[r], want_t[r])
        np.testing.assert_array_equal(sp[r, :sn[r]], want_p[r, :sn[r]])
        assert not np.signbit(st[r][st[r] == 0]).any()


@pytest.mark.cudasim
@pytest.mark.skipif(not cuda_available(), reason="no CUDA GPU and the CUDA simulator is off")
def test_cuda_sort_matches_cpu():
    times, counts = spike_rows(np.random.default_rng(3), 2, 40, 2)
    cpu, gpu = run_sort(get_backend("cpu"), times, counts), run_sort(get_backend("cuda"), times, counts)
    for a, b in zip(cpu[:1] + cpu[2:], gpu[:1] + gpu[2:]):
        np.testing.assert_array_equal(a, b)
    for r in range(len(cpu[2])):
        np.testing.assert_array_equal(cpu[1][r, :cpu[2][r]], gpu[1][r, :gpu[2][r]])
