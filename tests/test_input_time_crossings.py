"""Threshold crossings at, or within rounding of, an input time (SPEC §1, "Crossings at an input time").

In exact arithmetic V is continuous, so a crossing that lands on an input time belongs to both intervals around
it; in floating point both can reject it. These tests check the rule that the membrane never stays above
theta/tau by more than rounding, against V(t) computed from SPEC §1's sum (not from the engine's A, B), on the
case that lost spikes before the fix, on generated families of at-input and near-tangent crossings, and the
gradients there against one-sided finite differences.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from reference import build, run
from snntrain.backends import get_backend
from snntrain.network.dense import LifParams

BE = get_backend("cpu")
# V's rounding scale is sum |w| over the inputs seen: float64 storage keeps exponentials to ~1e-16, float32 to
# ~6e-8 (and spike times to one float32 ulp); the tolerances sit well above that and far below a lost spike,
# which leaves V above threshold by a sizeable fraction of theta/tau.
REL_TOL = {np.float64: 1e-11, np.float32: 2e-6}


def membrane(t: float, in_t: np.ndarray, w: np.ndarray, spikes: np.ndarray, p: LifParams,
             before_reset: bool = False) -> float:
    """V(t) of one neuron from SPEC §1's sum, float64. `in_t[q]` is the time of input q with weight w[q];
    resets act strictly after their spike (with `before_reset`, a spike at exactly t has not yet reset)."""
    tau = 2.0 * p.tau_s
    seen = in_t <= t
    dt = t - in_t[seen]
    v = np.sum(w[seen] * (np.exp(-dt / tau) - np.exp(-dt / p.tau_s)))
    past = spikes < t if before_reset else spikes <= t
    return float(v - (p.delta_theta / tau) * np.sum(np.exp(-(t - spikes[past]) / tau)))


def check_membrane(in_t: np.ndarray, w: np.ndarray, spikes: np.ndarray, p: LifParams, t_max: float,
                   dtype) -> None:
    """V never exceeds theta/tau by more than rounding on [0, t_max] (up to the last spike of a full buffer),
    and V is at theta/tau when each spike is emitted.

    V's maxima lie at event times or at the vertex z = 2A/B of an interval between events, so those are the
    points checked, with A and B summed afresh from the events.
    """
    tau = 2.0 * p.tau_s
    c = p.theta / tau
    tol = REL_TOL[dtype] * (np.sum(np.abs(w)) + p.delta_theta / tau * len(spikes) + c)
    end = spikes[-1] if len(spikes) == p.max_spikes else t_max
    events = np.unique(np.concatenate([in_t[in_t <= end], spikes, [0.0, end]]))
    points = list(events)
    for lo, hi in zip(events[:-1], events[1:]):
        on = in_t <= lo
        a = np.sum(w[on] * np.exp(in_t[on] / p.tau_s))
        b = np.sum(w[on] * np.exp(in_t[on] / tau)) - p.delta_theta / tau * np.sum(np.exp(spikes[spikes <= lo] / tau))
        if a > 0 and b > 0 and lo < tau * math.log(2 * a / b) < hi:
            points.append(tau * math.log(2 * a / b))
    worst = max(membrane(t, in_t, w, spikes, p) for t in points)
    assert worst <= c + tol, f"V exceeds theta/tau by {(worst - c) / c:.3g} of it (spikes {spikes})"
    for s in spikes:
        assert membrane(s, in_t, w, spikes, p, before_reset=True) == pytest.approx(c, abs=tol), f"spike at {s}"


def forward(weights: np.ndarray, p: LifParams, in_t: np.ndarray, t_max: float, dtype) -> np.ndarray:
    """Spike times of a dense layer [n_out, n_in] for one sample whose input q spikes once at in_t[q]
    (+inf: silent); the engine's output trains [n_out, max_spikes]."""
    counts = np.isfinite(in_t).astype(np.int32)[None, :]
    times, _ = run(BE, build(BE, [weights], [p], t_max, dtype), in_t.astype(dtype)[None, :, None], counts)[0]
    return times[0]


def check_layer(weights: np.ndarray, p: LifParams, in_t: np.ndarray, t_max: float, dtype) -> np.ndarray:
    """Run the layer and check every neuron's membrane; the output trains."""
    out = forward(weights, p, in_t, t_max, dtype)
    stored_in = in_t.astype(dtype).astype(np.float64)
    for n in range(weights.shape[0]):
        spikes = out[n][np.isfinite(out[n])].astype(np.float64)
        seen = np.isfinite(stored_in)
        check_membrane(stored_in[seen], weights[n][seen].astype(dtype).astype(np.float64), spikes, p, t_max, dtype)
    return out


# The case that gave no spike at all: the second input lands exactly on the first input's crossing.
MINIMAL = {np.float64: 0.0841118541009361, np.float32: 0.08411184698343277}
P_MINIMAL = LifParams(0.13, 1.3, 1.3, 5)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_crossing_exactly_at_an_input_time_spikes(dtype):
    out = check_layer(np.array([[25.0, 5.0]]), P_MINIMAL, np.array([0.0, MINIMAL[dtype]]), 0.2, dtype)
    assert np.isfinite(out[0]).sum() == 1
    assert out[0, 0] == pytest.approx(0.0841118541, abs=1e-7)


def shifted(t: float, ulps: int, dtype) -> float:
    """t moved by `ulps` units in the last place of `dtype`."""
    x = dtype(t)
    direction = dtype(np.inf) if ulps > 0 else dtype(-np.inf)
    for _ in range(abs(ulps)):
        x = np.nextafter(x, direction)
    return float(x)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", range(4))
def test_generated_inputs_on_and_around_crossings_never_leave_v_above_threshold(dtype, seed):
    """Random layers; each neuron then gets one more input exactly at (and a few ulps around) each of its own
    spike times, through a random excitatory or inhibitory weight."""
    rng = np.random.default_rng(seed)
    p = LifParams(0.05, 0.2, 0.2, 4)
    n_in, n_out, t_max = 5, 4, 0.3
    weights = rng.uniform(-1.0, 4.0, (n_out, n_in)) * 2.5
    in_t = rng.uniform(0.0, 0.12, n_in)
    base = check_layer(weights, p, in_t, t_max, dtype)
    crossings = [(n, s) for n in range(n_out) for s in base[n][np.isfinite(base[n])]]
    assert crossings, "the random layer must spike for the test to mean anything"
    for n, s in crossings:
        for ulps in (-2, -1, 0, 1, 2):
            extra = np.zeros((n_out, 1))
            extra[n, 0] = rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 6.0)
            check_layer(np.hstack([weights, extra]), p, np.append(in_t, shifted(s, ulps, dtype)), t_max, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("excess", [-1e-6, -1e-13, 0.0, 1e-13, 1e-10, 1e-6, 1e-3])
@pytest.mark.parametrize("second", [None, "at peak", "inhibit at peak"])
def test_near_tangent_crossings(dtype, excess, second):
    """One input at t=0 whose V peaks at theta/tau * (1 + excess) (the peak of w (e^-x - e^-2x) is w/4, at
    t = tau ln 2), optionally with a second input exactly at the peak."""
    p = LifParams(0.05, 0.2, 0.2, 3)
    c = p.theta / (2 * p.tau_s)
    peak = 2 * p.tau_s * math.log(2.0)
    w2 = {None: 0.0, "at peak": 0.5, "inhibit at peak": -0.5}[second]
    in_t = np.array([0.0, peak if second else np.inf])
    out = check_layer(np.array([[4 * c * (1 + excess), w2]]), p, in_t, 0.3, dtype)
    if excess >= 1e-6:  # well above rounding in both precisions: the crossing must be there
        assert np.isfinite(out[0, 0])


def one_sided_matches(grad: float, loss, x: float, h: float) -> bool:
    """Whether `grad` equals the forward or the backward difference of loss at x: at a crossing exactly at an
    input time the spike time has a kink, and the engine's gradient is the exact derivative of one side."""
    base = loss(x)
    sides = [(loss(x + h) - base) / h, (base - loss(x - h)) / h]
    return any(abs(grad - d) <= 1e-4 * abs(d) + 1e-7 for d in sides)


@pytest.mark.parametrize("dtype", [np.float64])
def test_gradients_at_an_input_time_crossing_are_one_sided_derivatives(dtype):
    weights = np.array([[25.0, 5.0]])
    in_t = np.array([0.0, MINIMAL[dtype]])
    net = build(BE, [weights], [P_MINIMAL], 0.2, dtype)
    counts = np.ones((1, 2), np.int32)
    out = run(BE, net, in_t[None, :, None], counts)[0]
    assert out[1].sum() == 1
    err = np.zeros_like(out[0])
    err[0, 0, 0] = 1.0  # L = t of the spike
    err_in = BE.to_host(net.backward(BE.to_device(err), input_errors=True))[0, :, 0]
    grad = net.layers[0].gradient[0]

    def spike_time(w, t):
        return forward(w, P_MINIMAL, t, 0.2, dtype)[0, 0]

    h = 1e-8
    for q in range(2):
        def by_weight(x, q=q):
            w = weights.copy()
            w[0, q] = x
            return spike_time(w, in_t)

        def by_time(x, q=q):
            t = in_t.copy()
            t[q] = x
            return spike_time(weights, t)

        assert one_sided_matches(grad[q], by_weight, weights[0, q], h), f"weight {q}: {grad[q]}"
        assert one_sided_matches(err_in[q], by_time, in_t[q], h), f"input time {q}: {err_in[q]}"


def test_float32_gradients_at_an_input_time_crossing_are_one_sided_derivatives():
    """In float32 the same kink: the gradients must be those of one of its two sides, as float64 computes them
    with the second input moved 1e-7 s later (the spike comes before it) or earlier (after it). The kink's
    position differs between the precisions by float32 rounding (an ulp of t is 7.5e-9 s here), so float32 may
    take the other side than float64 does at the same inputs; each side is an exact derivative, and float64's are
    checked against finite differences above. Tolerance 1e-4 relative: float32 arithmetic (test_precision.py)
    plus the 1e-7 s shift, which moves a side's derivative by about 1e-6 of itself."""
    weights = np.array([[25.0, 5.0]])
    in_t = np.array([0.0, MINIMAL[np.float32]])

    def gradients(dtype, t):
        net = build(BE, [weights], [P_MINIMAL], 0.2, dtype)
        out = run(BE, net, t.astype(dtype)[None, :, None], np.ones((1, 2), np.int32))[0]
        assert out[1].sum() == 1
        err = np.zeros_like(out[0])
        err[0, 0, 0] = 1.0  # L = t of the spike
        err_in = BE.to_host(net.backward(BE.to_device(err), input_errors=True))[0, :, 0]
        return np.concatenate([net.layers[0].gradient[0], err_in]).astype(np.float64)

    ours = gradients(np.float32, in_t)
    sides = [gradients(np.float64, in_t + np.array([0.0, shift])) for shift in (1e-7, -1e-7)]
    assert not np.allclose(sides[0], sides[1], rtol=1e-2)  # the two sides really differ here
    assert any(np.allclose(ours, side, rtol=1e-4, atol=1e-7) for side in sides), (ours, sides)
