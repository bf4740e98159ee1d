"""Exact BATS gradients vs float64 central finite differences of the forward pass (SPEC §2)."""
from __future__ import annotations

import numpy as np
import pytest

from reference import assert_gradients_match, build, linear_loss, random_inputs, run
from snntrain.backends import get_backend
from snntrain.network.dense import DenseLayer, LifParams
from snntrain.network.spikes import SpikeTrains

H = 1e-6
T_MAX = 0.3


CASES = {
    "1 layer, single spike": ([12, 6], [1]),
    "1 layer, multi-spike": ([12, 6], [6]),
    "2 layers, multi-spike": ([12, 8, 5], [5, 4]),
    "2 layers, single spike": ([12, 8, 5], [1, 1]),
    "3 layers, multi-spike": ([10, 8, 6, 4], [4, 4, 5]),
}


def make_case(sizes, max_spikes, seed):
    rng = np.random.default_rng(seed)
    # delta_theta != theta in every other layer: the reset coupling must not assume they are equal
    params = [LifParams(tau_s=0.05, theta=0.2, delta_theta=0.2 if i % 2 else 0.15, max_spikes=s)
              for i, s in enumerate(max_spikes)]
    weights = [rng.uniform(-1.0, 4.0, (n_out, n_in)) * 12 / n_in for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    t, counts = random_inputs(rng, batch=3, n_in=sizes[0], spikes=3, t_max=0.15)
    return rng, params, weights, t, counts


@pytest.mark.parametrize("case", list(CASES))
def test_weight_and_input_gradients_match_finite_differences(case):
    sizes, max_spikes = CASES[case]
    be = get_backend("cpu")
    rng, params, weights, t, counts = make_case(sizes, max_spikes, seed=1)
    net = build(be, weights, params, T_MAX)
    base = run(be, net, t, counts)
    assert all(o[1].sum() > 0 for o in base), "every layer must spike for the test to mean anything"
    assert base[-1][1].max() >= min(2, max_spikes[-1]), "multi-spike cases need neurons with several spikes"
    r = linear_loss(rng, base[-1][0])
    input_err = be.to_host(net.backward(be.to_device(r), input_errors=True))
    grads = [layer.gradient.copy() for layer in net.layers]
    assert_gradients_match(lambda w, tt: run(be, build(be, w, params, T_MAX), tt, counts), weights, t, r, grads,
                           input_err, H)


@pytest.mark.parametrize("case", ["full buffers", "ties", "silent neurons"])
def test_gradients_at_the_edges_match_finite_differences(case):
    """The edges through the CPU's schedules (the forward's candidate scan, the sweeps' neuron chunks): buffers
    that fill (later crossings dropped), inputs that arrive together, and neurons that never fire."""
    be = get_backend("cpu")
    rng, params, weights, t, counts = make_case([12, 8, 5], [3, 3], seed=2)
    if case == "full buffers":
        weights = [w * 3.0 for w in weights]
    elif case == "ties":  # pixel-like inputs: few distinct times
        t = np.round(t * 50) / 50
    else:
        weights[0][::3] = -np.abs(weights[0][::3])
    net = build(be, weights, params, T_MAX)
    base = run(be, net, t, counts)
    hidden = base[0][1]
    assert {"full buffers": (hidden == 3).mean() > 0.3, "ties": len(np.unique(t[np.isfinite(t)])) < 0.5 * counts.sum(),
            "silent neurons": (hidden[:, ::3] == 0).all() and hidden.max() > 1}[case]
    assert base[-1][1].sum() > 0
    r = linear_loss(rng, base[-1][0])
    input_err = be.to_host(net.backward(be.to_device(r), input_errors=True))
    grads = [layer.gradient.copy() for layer in net.layers]
    assert_gradients_match(lambda w, tt: run(be, build(be, w, params, T_MAX), tt, counts), weights, t, r, grads,
                           input_err, H)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", ["single spike", "multi-spike", "long window (framed)", "groups", "ties", "sweep",
                                  "sweep, framed", "sweep, groups, ties", "full buffers", "sweep, full buffers"])
def test_cpu_row_schedules_agree_bit_for_bit(case, dtype, monkeypatch):
    """The CPU's schedules (`lif_forward_row`, `lif_weight_grad_row`, the time sweeps) and the per-neuron and
    per-synapse ones (the GPU's) do the same arithmetic in the same order: identical spikes, input errors and
    weight gradients."""
    be = get_backend("cpu")
    rng = np.random.default_rng(4)
    # multi-spike layers take the time sweep over chunks of neurons, a multiple of the cores; the "sweep" cases plan
    # for 3 cores, whatever the machine has (70 neurons: five chunks of 12 and one of 10); single-spike ones the weight
    # rows
    if case.startswith("sweep"):
        monkeypatch.setattr(type(be), "cores", property(lambda self: 3))
    spikes_in, spikes_out, t_scale, groups, n_out = {
        "single spike": (1, 1, 1.0, 1, 70), "multi-spike": (3, 5, 1.0, 1, 7), "long window (framed)": (3, 4, 40.0, 1, 7),
        "groups": (2, 3, 1.0, 3, 7), "ties": (2, 4, 1.0, 1, 7), "sweep": (3, 5, 1.0, 1, 70),
        "sweep, framed": (3, 4, 40.0, 1, 70), "sweep, groups, ties": (2, 3, 1.0, 2, 70),
        "full buffers": (3, 2, 1.0, 1, 7), "sweep, full buffers": (3, 2, 1.0, 1, 70)}[case]
    params = LifParams(tau_s=0.05, theta=0.2, delta_theta=0.15, max_spikes=spikes_out)
    t, counts = random_inputs(rng, batch=6, n_in=9, spikes=spikes_in, t_max=0.15 * t_scale)
    if "ties" in case:  # pixel-like inputs: few distinct times
        t = np.round(t * 100) / 100
    weights = rng.uniform(-1.0, 4.0, (groups, n_out, 9)) * (6.0 if "full" in case else 1.5)
    if case.startswith("sweep") and "full" not in case:  # a third of the neurons silent: no terms in any sweep
        weights[:, ::3] = -np.abs(weights[:, ::3])
    errors = None
    results = []
    for by_row in (True, False):
        be.row_schedules = by_row
        try:
            layer = DenseLayer(be, weights if groups > 1 else weights[0], params, 0.3 * t_scale, dtype)
            out = layer.forward(SpikeTrains(t.astype(dtype), counts))
            if errors is None:
                errors = linear_loss(rng, out.times).astype(dtype)
            err_in = layer.backward(errors).copy()
        finally:
            be.row_schedules = True
        cnt = layer._buffers["cnt"]
        real = np.arange(spikes_out)[None, None, :] < cnt[:, :, None]  # A, X, z, frame exist for real spikes only
        saved = [np.where(real, layer._buffers[name], 0) for name in ("a", "x", "z", "f")]
        results.append([layer._buffers["t"].copy(), cnt.copy(), *saved, err_in, layer.gradient.copy()])
    assert results[0][1].sum() > 0 and (spikes_out == 1 or results[0][1].max() > 1)
    if "full" in case:  # spikes beyond the buffer are dropped, and their inputs still arrive
        assert (results[0][1] == spikes_out).mean() > 0.3
    for row, element in zip(*results):
        np.testing.assert_array_equal(row, element)
    assert np.any(results[0][-1] != 0)
