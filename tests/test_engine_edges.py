"""Edge cases of the event-based simulator and its backprop."""
from __future__ import annotations

import math

import numpy as np
import pytest

from reference import build, random_inputs, run
from snntrain.backends import get_backend
from snntrain.network.dense import DenseLayer, LifParams
from snntrain.network.spikes import SpikeTrains

BE = get_backend("cpu")
P = LifParams(0.05, 0.2, 0.2, 5)


def backward(net, out_t):
    err = np.where(np.isfinite(out_t), 1.0, 0.0)
    err_in = BE.to_host(net.backward(BE.to_device(err), input_errors=True))
    return [layer.gradient for layer in net.layers], err_in


def test_no_input_spikes_gives_silence_and_zero_gradients():
    t = np.full((2, 5, 3), np.inf)
    counts = np.zeros((2, 5), np.int32)
    net = build(BE, [np.full((4, 5), 3.0), np.full((2, 4), 3.0)], [P, P], 0.3)
    outs = run(BE, net, t, counts)
    for times, cnt in outs:
        assert cnt.sum() == 0 and np.all(np.isinf(times))
    grads, err_in = backward(net, outs[-1][0])
    assert all(np.all(g == 0) for g in grads) and np.all(err_in == 0)


def test_silent_hidden_layer_silences_output_without_nan():
    rng = np.random.default_rng(0)
    t, counts = random_inputs(rng, 3, 6, 2, 0.1, silent=0.0)
    net = build(BE, [-np.ones((4, 6)), np.full((2, 4), 5.0)], [P, P], 0.3)  # inhibitory only: silent
    outs = run(BE, net, t, counts)
    assert outs[0][1].sum() == 0 and outs[1][1].sum() == 0
    grads, err_in = backward(net, outs[-1][0])
    assert all(np.all(np.isfinite(g)) for g in grads) and np.all(np.isfinite(err_in))


def test_full_buffer_keeps_the_first_spikes():
    rng = np.random.default_rng(1)
    t, counts = random_inputs(rng, 2, 8, 3, 0.1, silent=0.0)
    w = [np.full((3, 8), 6.0)]
    big = run(BE, build(BE, w, [LifParams(0.05, 0.2, 0.2, 30)], 0.3), t, counts)[0]
    small = run(BE, build(BE, w, [LifParams(0.05, 0.2, 0.2, 2)], 0.3), t, counts)[0]
    assert big[1].min() > 2 and np.all(small[1] == 2)
    np.testing.assert_array_equal(small[0], big[0][:, :, :2])


def test_spike_exactly_at_the_next_input_spike_is_kept():
    # one input at t=0 gives a spike at t* (closed form); a second input exactly at t* must not hide it
    tau_s, theta, w = 0.05, 0.2, 12.0
    tau = 2 * tau_s
    a, b, c = w, w, theta / tau
    z = 2 * a / (b + math.sqrt(b * b - 4 * a * c))
    t_star = tau * math.log(z)
    params = [LifParams(tau_s, theta, theta, 3)]
    alone = run(BE, build(BE, [np.array([[w, 0.0]])], params, 0.3), np.array([[[0.0], [np.inf]]]),
                np.array([[1, 0]], np.int32))[0]
    assert alone[0][0, 0, 0] == pytest.approx(t_star, rel=1e-12)
    both = run(BE, build(BE, [np.array([[w, 0.5]])], params, 0.3), np.array([[[0.0], [alone[0][0, 0, 0]]]]),
               np.array([[1, 1]], np.int32))[0]
    assert both[0][0, 0, 0] == alone[0][0, 0, 0]


def test_batch_of_one_matches_the_same_sample_in_a_batch():
    rng = np.random.default_rng(2)
    t, counts = random_inputs(rng, 4, 7, 2, 0.15)
    weights = [rng.uniform(-1, 4, (5, 7)) * 1.7]
    full = run(BE, build(BE, weights, [P], 0.3), t, counts)[0]
    one = run(BE, build(BE, weights, [P], 0.3), t[2:3], counts[2:3])[0]
    np.testing.assert_array_equal(one[0], full[0][2:3])
    np.testing.assert_array_equal(one[1], full[1][2:3])


def test_spikes_stop_at_the_simulation_end():
    t = np.array([[[0.0]]])
    counts = np.ones((1, 1), np.int32)
    times, cnt = run(BE, build(BE, [np.array([[50.0]])], [LifParams(0.05, 0.2, 0.2, 100)], 0.1), t, counts)[0]
    assert 1 < cnt[0, 0] < 100 and times[0, 0, cnt[0, 0] - 1] <= 0.1


def test_independent_networks_side_by_side_equal_separate_runs():
    rng = np.random.default_rng(3)
    t, counts = random_inputs(rng, 6, 5, 2, 0.15, silent=0.0)
    weights = rng.uniform(-1, 4, (3, 4, 5)) * 2.0  # 3 networks, 2 samples each
    grouped = DenseLayer(BE, weights, P, 0.3, np.float64)
    out = grouped.forward(SpikeTrains(t, counts))
    err = np.where(np.isfinite(out.times), 1.0, 0.0)
    err_in = grouped.backward(err).copy()
    assert out.counts.sum() > 0
    for g in range(3):
        rows = slice(2 * g, 2 * g + 2)
        single = DenseLayer(BE, weights[g], P, 0.3, np.float64)
        ref = single.forward(SpikeTrains(t[rows], counts[rows]))
        np.testing.assert_array_equal(out.times[rows], ref.times)
        np.testing.assert_allclose(err_in[rows], single.backward(err[rows]), rtol=1e-12)
        np.testing.assert_allclose(grouped.gradient[g], single.gradient, rtol=1e-12)
