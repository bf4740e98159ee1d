"""Long time windows (SPEC §1's overflow hazard): spikes and exact gradients stay finite and correct for input
times up to t / tau_s = 10,000, far past where exp(t / tau_s) overflows (float32 at ~88, float64 at ~709)."""
from __future__ import annotations

import numpy as np
import pytest

from reference import assert_gradients_match, build, linear_loss, run
from snntrain.backends import cuda_available, get_backend
from snntrain.network.dense import LifParams

TAU_S = 1e-3
# not a multiple of the kernels' frame width (20 tau_s), so frame boundaries fall elsewhere in the burst
OFFSET = 9_950.5 * TAU_S
BURST = 0.06  # 60 tau_s: every burst crosses several frames
PARAMS = [LifParams(TAU_S, 0.004, 0.004, 40), LifParams(TAU_S, 0.006, 0.005, 40)]


def burst_inputs(seed: int, dt: float | None = None):
    """Inputs within [0, BURST] (on the dt grid if given): batch 2, 10 neurons, up to 6 spikes each."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0.0, BURST, (2, 10, 6)), axis=2)
    if dt is not None:
        t = np.round(t / dt) * dt
    counts = rng.integers(2, 7, (2, 10)).astype(np.int32)
    t[np.arange(6)[None, None, :] >= counts[:, :, None]] = np.inf
    weights = [rng.uniform(-1.0, 4.0, (6, 10)), rng.uniform(-1.0, 4.0, (4, 6)) * 1.5]
    return weights, t, counts


def forward_backward(backend, weights, t, counts, t_max, dtype=np.float64, seed=5):
    net = build(backend, weights, PARAMS, t_max, dtype)
    outs = run(backend, net, t.astype(dtype), counts)
    r = linear_loss(np.random.default_rng(seed), outs[-1][0])
    err_in = backend.to_host(net.backward(backend.to_device(r.astype(dtype)), input_errors=True))
    return outs, [layer.gradient.copy() for layer in net.layers], err_in, r


def test_spike_times_far_from_zero_match_brian2():
    pytest.importorskip("brian2")
    from test_brian2 import DT, brian_network, compare

    weights, t, counts = burst_inputs(0, DT)
    be = get_backend("cpu")
    late = run(be, build(be, weights, PARAMS, OFFSET + BURST + 0.01), t + OFFSET, counts)
    assert late[0][1].max() >= 3 and late[1][1].max() >= 2, "the test needs neurons with several spikes"
    # the neuron is time invariant, so brian2 simulates the burst from 0 (10,000 tau_s of silence cost nothing)
    shifted = [(np.where(cnt[..., None] > np.arange(times.shape[2]), times - OFFSET, np.inf), cnt)
               for times, cnt in late]
    theirs = brian_network(weights, PARAMS, t, counts, BURST + 0.01)
    # double the tolerance: float64 rounding of t near 10 s plus brian2's own grid error
    assert compare(shifted, theirs, BURST + 0.01, depth=2) > 20


def test_shifting_the_inputs_shifts_spikes_and_keeps_gradients():
    weights, t, counts = burst_inputs(1)
    be = get_backend("cpu")
    early = forward_backward(be, weights, t, counts, BURST + 0.01)
    late = forward_backward(be, weights, t + OFFSET, counts, OFFSET + BURST + 0.01)
    for (te, ce), (tl, cl) in zip(early[0], late[0]):
        np.testing.assert_array_equal(ce, cl)
        np.testing.assert_allclose(tl[np.isfinite(tl)] - OFFSET, te[np.isfinite(te)], rtol=0, atol=1e-11)
    for ge, gl in zip(early[1], late[1]):
        np.testing.assert_allclose(gl, ge, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(late[2], early[2], rtol=1e-7, atol=1e-9)


def test_gradients_far_from_zero_match_finite_differences():
    weights, t, counts = burst_inputs(2)
    t = t + OFFSET
    be = get_backend("cpu")
    t_max = OFFSET + BURST + 0.01
    outs, grads, err_in, r = forward_backward(be, weights, t, counts, t_max)
    assert outs[-1][1].max() >= 2, "multi-spike outputs needed"

    def outputs_of(w, tt):
        # times relative to OFFSET: sum r * t of times near 10 s would lose the differences to cancellation
        return [(times - OFFSET, cnt) for times, cnt in run(be, build(be, w, PARAMS, t_max), tt, counts)]

    assert_gradients_match(outputs_of, weights, t, r, grads, err_in, h=1e-6)


def test_float32_stays_finite_and_close_to_float64_over_10000_tau_s():
    """Inputs spread over the whole window (with silent gaps) in float32: finite, and the float64 answer to
    within float32's resolution of times near 10 s."""
    rng = np.random.default_rng(4)
    weights, t, counts = burst_inputs(3)
    t = t + rng.choice([0.0, 2.0, 5.0, OFFSET], size=(2, 10, 1))  # bursts at t / tau_s = 0 ... 10,000
    t = np.sort(t, axis=2)
    be = get_backend("cpu")
    t_max = OFFSET + BURST + 0.01
    wide = forward_backward(be, weights, t, counts, t_max, np.float64)
    narrow = forward_backward(be, weights, t, counts, t_max, np.float32)
    for (t64, c64), (t32, c32) in zip(wide[0], narrow[0]):
        assert (c32 > 0).any()
        np.testing.assert_array_equal(c32, c64)
        np.testing.assert_allclose(t32[np.isfinite(t32)], t64[np.isfinite(t64)], rtol=0, atol=5e-5)
    for g64, g32 in zip(wide[1], narrow[1]):
        assert np.isfinite(g32).all()
        np.testing.assert_allclose(g32, g64, rtol=2e-2, atol=1e-3 * np.abs(g64).max())


@pytest.mark.cudasim
@pytest.mark.skipif(not cuda_available(), reason="no CUDA GPU and the CUDA simulator is off")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cuda_matches_cpu_far_from_zero(dtype):
    """Framed sums (inputs 200 frames from zero) on both targets; float32 within the CPU-vs-CUDA tolerances of
    test_cpu_vs_cuda.py, whose justification holds here (frame rescaling adds one rounded factor per gap)."""
    weights, t, counts = burst_inputs(5)
    t = t + OFFSET
    t_max = OFFSET + BURST + 0.01
    cpu = forward_backward(get_backend("cpu"), weights, t, counts, t_max, dtype)
    gpu = forward_backward(get_backend("cuda"), weights, t, counts, t_max, dtype)
    wide = dtype == np.float32
    for (tc, cc), (tg, cg) in zip(cpu[0], gpu[0]):
        np.testing.assert_array_equal(cc, cg)
        np.testing.assert_allclose(tg, tc, rtol=1e-5 if wide else 1e-12)
    for a, b in zip(cpu[1] + [cpu[2]], gpu[1] + [gpu[2]]):
        np.testing.assert_allclose(b, a, rtol=1e-4 if wide else 1e-9, atol=1e-6 * np.abs(a).max() if wide else 1e-12)


def test_single_frame_fast_path_equals_the_framed_path():
    # a simulation shorter than one frame reads no frame indices; a longer one must give the same early spikes
    weights, t, counts = burst_inputs(6)
    t = np.where(np.isfinite(t), t * (15 * TAU_S / BURST), np.inf)  # inputs within [0, 15 tau_s]
    be = get_backend("cpu")
    short = run(be, build(be, weights, PARAMS, 19 * TAU_S), t, counts)
    long = run(be, build(be, weights, PARAMS, 500 * TAU_S), t, counts)
    assert short[0][1].sum() > 0
    for (ts, cs), (tl, cl) in zip(short, long):
        early = np.where(tl <= 19 * TAU_S, tl, np.inf)
        np.testing.assert_array_equal(cs, (early < np.inf).sum(axis=2))
        np.testing.assert_array_equal(ts[np.isfinite(ts)], early[np.isfinite(early)])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_single_spike_weight_gradient_over_frames_with_silent_neurons(dtype):
    """A single-spike layer (the CPU's weight-row schedule) whose inputs span frames 10 to 13, beside neurons that
    never spike: the gradient is finite and equals the per-synapse schedule's exactly, and in float64 it matches
    finite differences. A silent neuron's frame gap was not read only for neurons that spiked (a mutation that
    read it for all gave NaN, and no test saw it)."""
    be = get_backend("cpu")
    params = [LifParams(1e-3, 0.004, 0.004, 1)]
    rng = np.random.default_rng(0)
    t = np.sort(rng.uniform(0.2, 0.26, (2, 10, 3)), axis=2)  # frames of 20 tau_s = 0.02 s
    counts = np.full((2, 10), 3, np.int32)
    weights = rng.uniform(-1.0, 4.0, (6, 10))
    weights[::2] = -np.abs(weights[::2])  # every other neuron silent
    results = []
    for by_row in (True, False):
        be.row_schedules = by_row
        try:
            net = build(be, [weights], params, 0.3, dtype)
            outs = run(be, net, t.astype(dtype), counts)
            r = linear_loss(np.random.default_rng(1), outs[0][0]).astype(dtype)
            err_in = be.to_host(net.backward(be.to_device(r), input_errors=True))
            results.append((outs, net.layers[0].gradient.copy(), err_in, r))
        finally:
            be.row_schedules = True
    (outs, grad, err_in, r), (_, per_synapse, _, _) = results
    spiked = outs[0][1].sum(axis=0)
    assert (spiked[::2] == 0).all() and (spiked > 0).sum() >= 2
    assert np.isfinite(grad).all()
    np.testing.assert_array_equal(grad, per_synapse)
    if dtype == np.float64:
        def outputs_of(w, tt):
            return run(be, build(be, w, params, 0.3), tt, counts)

        assert_gradients_match(outputs_of, [weights], t, r, [grad], err_in, h=1e-7)
