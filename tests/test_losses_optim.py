"""Losses (SPEC §4) against finite differences and their definitions; optimisers (SPEC §5) against numpy."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from snntrain.backends import cuda_available, get_backend
from snntrain.config.model import LossConfig, OptimizerConfig, ScheduleConfig
from snntrain.network.loss import Loss
from snntrain.network.optimizer import Optimizer
from snntrain.network.spikes import SpikeTrains

BE = get_backend("cpu")


def outputs(rng, batch=4, n=5, spikes=3, silent=()):
    t = np.sort(rng.uniform(0.01, 0.05, (batch, n, spikes)), axis=2)
    counts = rng.integers(1, spikes + 1, (batch, n)).astype(np.int32)
    for b, i in silent:
        counts[b, i] = 0
    t[np.arange(spikes)[None, None] >= counts[..., None]] = np.inf
    return t, counts


@pytest.mark.parametrize("cfg", [LossConfig("ttfs", tau_loss=0.005), LossConfig("time", t_true=0.01, t_false=0.04)])
def test_first_spike_losses_match_finite_differences(cfg):
    rng = np.random.default_rng(0)
    t, counts = outputs(rng)
    labels = rng.integers(0, 5, 4).astype(np.int32)
    loss = Loss(BE, cfg, t_max=0.1)
    err, values, _ = (x.copy() for x in loss(SpikeTrains(t, counts), labels))
    h = 1e-7
    for b, n in np.ndindex(4, 5):
        tp, tm = t.copy(), t.copy()
        tp[b, n, 0] += h
        tm[b, n, 0] -= h
        fd = (loss(SpikeTrains(tp, counts), labels)[1][b] - loss(SpikeTrains(tm, counts), labels)[1][b]) / (2 * h)
        assert err[b, n, 0] * 4 == pytest.approx(fd, rel=1e-4, abs=1e-6)  # errors are of the batch mean
        assert np.all(err[b, n, 1:] == 0)


def test_ttfs_silent_label_gives_finite_loss_and_no_error_on_silence():
    rng = np.random.default_rng(1)
    t, counts = outputs(rng, silent=[(0, 2), (1, 0), (1, 1), (1, 2), (1, 3), (1, 4)])
    labels = np.array([2, 0, 1, 1], np.int32)
    err, values, pred = Loss(BE, LossConfig("ttfs", tau_loss=0.005), t_max=0.1)(SpikeTrains(t, counts), labels)
    assert np.all(np.isfinite(values)) and values[0] > values[2]
    assert np.all(err[0, 2] == 0) and np.all(err[1] == 0) and pred[1] == -1
    assert pred[0] == np.argmin(np.where(counts[0] > 0, t[0, :, 0], np.inf))


def test_first_spike_losses_follow_spec_with_silent_neurons_and_ties():
    """SPEC §4 computed here in numpy, on outputs with silent neurons and tied first spikes. TTFS: p is a softmax over
    the neurons that spiked, e_i = (1[i = label] - p_i) / tau_loss per batch sample, none on silence, the loss printed
    counts a silent neuron at t_max, and a tie predicts the lowest index. Time loss: a silent neuron counts as
    t = 1.0 in the loss and gets no error. (tau_loss is comparable to t_max - t, so a silent neuron counted in p
    would change the errors: the finite-difference test has no silent neuron, and a kernel that did passed.)"""
    rng = np.random.default_rng(4)
    t, counts = outputs(rng, silent=[(0, 1), (2, 3), (3, 0), (3, 4)])
    t[1, 3, 0] = t[1, 1, 0] = t[1, :, 0].min()  # a tie for first: neuron 1 is predicted
    labels = np.array([1, 4, 0, 2], np.int32)  # the label of sample 0 is silent
    first = np.where(counts > 0, t[:, :, 0], np.inf)
    tau, t_max, batch = 0.05, 0.1, 4
    err, values, pred = (x.copy() for x in Loss(BE, LossConfig("ttfs", tau_loss=tau), t_max)(SpikeTrains(t, counts),
                                                                                               labels))
    for b in range(batch):
        spiking = counts[b] > 0
        p = np.zeros(5)
        p[spiking] = np.exp(-(first[b, spiking] - first[b, spiking].min()) / tau)
        p /= p.sum()
        expected = np.where(spiking, ((np.arange(5) == labels[b]) - p) / tau / batch, 0.0)
        np.testing.assert_allclose(err[b, :, 0], expected, rtol=1e-12, atol=1e-15)
        assert not err[b, :, 1:].any()
        printed = np.where(spiking, first[b], t_max)
        assert values[b] == pytest.approx(printed[labels[b]] / tau + np.log(np.exp(-printed / tau).sum()), rel=1e-12)
    np.testing.assert_array_equal(pred, np.argmin(first, axis=1))
    assert pred[1] == 1

    targets = (0.01, 0.04)
    err, values, pred = (x.copy() for x in Loss(BE, LossConfig("time", t_true=targets[0], t_false=targets[1]),
                                                t_max)(SpikeTrains(t, counts), labels))
    target = np.where(np.arange(5)[None] == labels[:, None], *targets)
    np.testing.assert_allclose(values, 0.5 * ((np.where(counts > 0, first, 1.0) - target) ** 2).sum(axis=1))
    np.testing.assert_allclose(err[:, :, 0], np.where(counts > 0, first - target, 0.0) / batch, rtol=1e-12)
    np.testing.assert_array_equal(pred, np.argmin(first, axis=1))


def test_count_loss_follows_its_definition():
    rng = np.random.default_rng(2)
    t, counts = outputs(rng, spikes=6, silent=[(3, 1)])
    labels = np.array([0, 4, 2, 1], np.int32)
    err, values, pred = Loss(BE, LossConfig("count", n_true=5, n_false=1), 0.1)(SpikeTrains(t, counts), labels)
    target = np.where(np.arange(5)[None] == labels[:, None], 5, 1)
    np.testing.assert_allclose(values, 0.5 * ((target - counts) ** 2).sum(axis=1))
    expected = np.where(np.arange(6)[None, None] < counts[..., None], (target - counts)[..., None] / 4, 0)
    np.testing.assert_allclose(err, expected)
    np.testing.assert_array_equal(pred, np.argmax(counts, axis=1))


def reference_steps(kind, w, grads, lr, b1=0.9, b2=0.999, eps=1e-8):
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    for step, g in enumerate(grads, start=1):
        if kind == "sgd":
            w = w - lr * g
            continue
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        v_hat = v / (1 - b2 ** step)
        if kind == "adam":
            m_hat = m / (1 - b1 ** step)
        else:  # NAdam: Nesterov look-ahead on the first moment
            m_hat = b1 * m / (1 - b1 ** (step + 1)) + (1 - b1) * g / (1 - b1 ** step)
        w = w - lr * m_hat / (np.sqrt(v_hat) + eps)
    return w


def optimizer_run(backend, kind, w0, grads, lr):
    layer = SimpleNamespace(w=backend.to_device(w0.copy()), grad=backend.to_device(np.zeros_like(w0)))
    opt = Optimizer(backend, OptimizerConfig(kind, lr=lr), ScheduleConfig(), [layer])
    for g in grads:
        layer.grad = backend.to_device(g)
        opt.step()
    return backend.to_host(layer.w)


@pytest.mark.parametrize("kind", ["sgd", "adam", "nadam"])
def test_optimisers_match_numpy_references(kind):
    rng = np.random.default_rng(3)
    w0 = rng.normal(size=(7, 3))
    grads = [rng.normal(size=(7, 3)) for _ in range(5)]
    np.testing.assert_allclose(optimizer_run(BE, kind, w0, grads, 0.01), reference_steps(kind, w0, grads, 0.01),
                               rtol=1e-12)


@pytest.mark.cudasim
@pytest.mark.skipif(not cuda_available(), reason="no CUDA GPU and the CUDA simulator is off")
def test_optimiser_and_loss_agree_on_cpu_and_cuda():
    rng = np.random.default_rng(4)
    w0, grads = rng.normal(size=(4, 3)), [rng.normal(size=(4, 3)) for _ in range(2)]
    cuda = get_backend("cuda")
    np.testing.assert_allclose(optimizer_run(cuda, "nadam", w0, grads, 0.01),
                               optimizer_run(BE, "nadam", w0, grads, 0.01), rtol=1e-12)
    t, counts = outputs(rng)
    labels = np.array([0, 1, 2, 3], np.int32)
    cfg = LossConfig("ttfs", tau_loss=0.005)
    on_cpu = Loss(BE, cfg, 0.1)(SpikeTrains(t, counts), labels)
    on_gpu = Loss(cuda, cfg, 0.1)(SpikeTrains(cuda.to_device(t), cuda.to_device(counts)), cuda.to_device(labels))
    for a, b in zip(on_cpu, on_gpu):
        np.testing.assert_allclose(cuda.to_host(b), a, rtol=1e-12)


def test_step_decay_schedule():
    opt = Optimizer(BE, OptimizerConfig("adam", lr=0.01), ScheduleConfig("step", factor=0.5, every=2, min_lr=0.003),
                    [])
    assert [opt.learning_rate(e) for e in range(6)] == [0.01, 0.01, 0.005, 0.005, 0.003, 0.003]


def test_step_decay_floors_only_the_decayed_rate():
    # SPEC §5: lr <- max(lr * factor, min_lr) at each decay; before the first one the configured lr stands
    opt = Optimizer(BE, OptimizerConfig("adam", lr=5e-5), ScheduleConfig("step", factor=0.5, every=2, min_lr=1e-4), [])
    assert [opt.learning_rate(e) for e in range(5)] == [5e-5, 5e-5, 1e-4, 1e-4, 1e-4]


def scaled_gradient(backend, w, labels, counts, factor, mean_over=0):
    """The output layer's gradient (start: ones) after the silent-label scaling term, host copy."""
    layer = SimpleNamespace(w=backend.to_device(w), grad=backend.to_device(np.ones_like(w)))
    out = SpikeTrains(backend.to_device(np.full(counts.shape + (2,), np.inf)), backend.to_device(counts))
    Loss(backend, LossConfig("count", silent_label_scaling=factor), 0.1).regularize(
        layer, out, backend.to_device(labels), mean_over)
    return backend.to_host(layer.grad)


def scaling_reference(w, labels, counts, factor, groups):
    """dL/dw -= factor / rows_per_group * |w| once per sample whose label neuron is silent (numpy)."""
    grad = np.ones_like(w)
    per_group = len(labels) // groups
    for b, label in enumerate(labels):
        if counts[b, label] == 0:
            grad[b // per_group, :, label] -= factor / per_group * np.abs(w[b // per_group, :, label])
    return grad


@pytest.mark.parametrize("groups", [1, 2])
def test_silent_label_scaling_raises_only_silent_label_neurons(groups):
    rng = np.random.default_rng(5)
    w = rng.normal(size=(groups, 6, 4))  # device layout [groups, n_in, n_out]
    labels = np.array([0, 1, 1, 3, 2, 1], np.int32)
    counts = rng.integers(1, 4, (6, 4)).astype(np.int32)
    counts[1, 1] = counts[2, 1] = counts[4, 2] = counts[5, 0] = 0  # silent labels in rows 1, 2, 4; row 5 not
    got = scaled_gradient(BE, w, labels, counts, 0.3, 6 // groups)
    np.testing.assert_allclose(got, scaling_reference(w, labels, counts, 0.3, groups), rtol=1e-14)
    assert np.all(got[..., 0] == 1) and np.all(got[..., 3] == 1)  # neurons 0 and 3: label never silent
    np.testing.assert_array_equal(scaled_gradient(BE, w, labels, counts, 0.0), np.ones_like(w))  # off


@pytest.mark.cudasim
@pytest.mark.skipif(not cuda_available(), reason="no CUDA GPU and the CUDA simulator is off")
def test_silent_label_scaling_agrees_on_cpu_and_cuda():
    rng = np.random.default_rng(6)
    w = rng.normal(size=(1, 5, 3))
    labels = np.array([0, 2, 2, 1], np.int32)
    counts = np.array([[0, 1, 1], [1, 1, 0], [2, 0, 0], [1, 1, 1]], np.int32)
    np.testing.assert_allclose(scaled_gradient(get_backend("cuda"), w, labels, counts, 0.5),
                               scaled_gradient(BE, w, labels, counts, 0.5), rtol=1e-14)
