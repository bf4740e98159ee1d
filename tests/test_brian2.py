"""Spike times of the event-based simulator vs brian2's clock-based simulation of SPEC §1 (the oracle).

brian2 integrates dV/dt = (I - V)/tau, dI/dt = -I/tau_s exactly per step, detects V >= theta/tau on the
dt grid and resets V -= delta_theta/tau; its spike times are therefore late by less than a step per spike.
Input spike times are put on the dt grid so both simulators see the same inputs.
"""
from __future__ import annotations

import numpy as np
import pytest

from reference import build, random_inputs, run
from snntrain.backends import get_backend
from snntrain.network.dense import LifParams

brian2 = pytest.importorskip("brian2")

DT = 1e-6
TOL = 4 * DT


def brian_network(weights, params, t, counts, t_max):
    """Simulate every sample as an independent copy of the network in one brian2 run; spike trains per layer."""
    b2 = brian2
    b2.prefs.codegen.target = "numpy"
    b2.start_scope()
    batch, n_in, _ = t.shape
    idx, times = [], []
    for b in range(batch):
        for p in range(n_in):
            for s in range(counts[b, p]):
                idx.append(b * n_in + p)
                times.append(t[b, p, s])
    source = b2.SpikeGeneratorGroup(batch * n_in, np.array(idx), np.array(times) * b2.second, dt=DT * b2.second)
    objects, monitors, pre, pre_size = [source], [], source, n_in
    for w, par in zip(weights, params):
        n_out = w.shape[0]
        tau = 2 * par.tau_s
        group = b2.NeuronGroup(
            batch * n_out,
            "dv/dt = (I - v) / tau : 1\ndI/dt = -I / tau_s : 1",
            threshold="v >= c", reset="v -= dr", method="exact", dt=DT * b2.second,
            namespace={"tau": tau * b2.second, "tau_s": par.tau_s * b2.second, "c": par.theta / tau,
                       "dr": par.delta_theta / tau},
        )
        syn = b2.Synapses(pre, group, "w : 1", on_pre="I_post += w", dt=DT * b2.second)
        ii, jj = np.meshgrid(np.arange(pre_size), np.arange(n_out), indexing="ij")
        src = (np.arange(batch)[:, None, None] * pre_size + ii[None]).ravel()
        dst = (np.arange(batch)[:, None, None] * n_out + jj[None]).ravel()
        syn.connect(i=src, j=dst)
        syn.w = np.broadcast_to(w.T[None], (batch, pre_size, n_out)).ravel()
        mon = b2.SpikeMonitor(group)
        objects += [group, syn, mon]
        monitors.append((mon, n_out))
        pre, pre_size = group, n_out
    net = b2.Network(*objects)
    net.run((t_max + 20 * DT) * b2.second)
    result = []
    for mon, n_out in monitors:
        trains = mon.spike_trains()
        result.append([[np.asarray(trains[b * n_out + n] / b2.second) for n in range(n_out)] for b in range(batch)])
    return result


def compare(ours, theirs, t_max, depth):
    """Every brian2 spike clear of the end window has a match within tolerance, and vice versa."""
    tol = TOL * depth
    checked = 0
    for layer, ((t, cnt), trains) in enumerate(zip(ours, theirs)):
        for b in range(t.shape[0]):
            for n in range(t.shape[1]):
                mine = t[b, n, :cnt[b, n]]
                assert np.all(mine <= t_max), "a spike after the simulation end"
                ref = trains[b][n]
                clear = t_max - 4 * tol
                a, r = mine[mine <= clear], ref[ref <= clear]
                assert len(a) == len(r), f"layer {layer} sample {b} neuron {n}: {mine} vs brian2 {ref}"
                np.testing.assert_allclose(a, r, atol=tol, rtol=0, err_msg=f"layer {layer} sample {b} neuron {n}")
                checked += len(r)
    return checked


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", [0, 1])
def test_spike_times_match_brian2(seed, dtype):
    """Both precisions: float32's error on these times (below 1e-7 s) is far inside brian2's grid tolerance."""
    rng = np.random.default_rng(seed)
    tau_s, t_max = 0.01, 0.04
    params = [LifParams(tau_s, 0.04, 0.04, 40), LifParams(tau_s, 0.06, 0.05, 40)]
    # inhibitory weights included; inputs on the dt grid
    weights = [rng.uniform(-1.5, 4.0, (6, 10)) * 1.2, rng.uniform(-1.5, 4.0, (4, 6)) * 2.0]
    t, counts = random_inputs(rng, batch=3, n_in=10, spikes=4, t_max=0.035)
    t = np.round(t / DT) * DT
    be = get_backend("cpu")
    ours = run(be, build(be, weights, params, t_max, dtype), t.astype(dtype), counts)
    assert ours[0][1].max() >= 3 and ours[1][1].max() >= 2, "the test needs neurons with several spikes"
    assert (ours[0][0][np.isfinite(ours[0][0])] > t_max - 0.008).any(), "the test needs spikes near the end"
    theirs = brian_network(weights, params, t, counts, t_max)
    assert compare(ours, theirs, t_max, depth=1) > 20


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", ["ties and silent neurons", "full buffers"])
def test_edges_match_brian2(case, dtype):
    """Inputs that arrive together (a coarse grid, as pixels do), neurons that never fire, and buffers that fill:
    a full neuron keeps its first spikes, brian2's first ones (one layer, so no later layer sees the rest)."""
    rng = np.random.default_rng(3)
    tau_s, t_max = 0.01, 0.04
    # one spike per input where times are rounded to a coarse grid: brian2 refuses two spikes of one source at once
    n_in = 10 if case == "full buffers" else 40
    t, counts = random_inputs(rng, batch=3, n_in=n_in, spikes=4 if case == "full buffers" else 1, t_max=0.035)
    if case == "full buffers":
        params = [LifParams(tau_s, 0.04, 0.04, 3)]
        weights = [rng.uniform(-0.5, 4.0, (6, 10)) * 4.0]
        t = np.round(t / DT) * DT
    else:
        params = [LifParams(tau_s, 0.04, 0.04, 40), LifParams(tau_s, 0.06, 0.05, 40)]
        weights = [rng.uniform(-1.5, 4.0, (6, n_in)) * 0.8, rng.uniform(-1.5, 4.0, (4, 6)) * 2.0]
        weights[0][::3] = -np.abs(weights[0][::3])
        t = np.where(np.isfinite(t), np.round(t / 0.005) * 0.005, np.inf)  # on brian2's dt grid too
    be = get_backend("cpu")
    ours = run(be, build(be, weights, params, t_max, dtype), t.astype(dtype), counts)
    theirs = brian_network(weights, params, t, counts, t_max)
    if case == "full buffers":
        assert (ours[0][1] == 3).mean() > 0.3
        theirs = [[[train[:3] for train in sample] for sample in theirs[0]]]
    else:
        assert (ours[0][1][:, ::3] == 0).all() and ours[0][1].max() >= 2
        assert all(len(np.unique(row[np.isfinite(row)])) < 0.6 * np.isfinite(row).sum() for row in t)
    assert compare(ours, theirs, t_max, depth=1) > 10
