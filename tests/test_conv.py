"""Conv LIF and spike pooling (SPEC §3): exact gradients, reduction to dense, brian2, CPU vs CUDA."""
from __future__ import annotations

import numpy as np
import pytest

from reference import assert_gradients_match, linear_loss, random_inputs, run
from snntrain.backends import cuda_available, get_backend
from snntrain.network.conv import ConvLayer
from snntrain.network.dense import DenseLayer
from snntrain.network.lif import LifParams
from snntrain.network.network import Network
from snntrain.network.pool import PoolLayer
from snntrain.network.spikes import SpikeTrains

CPU = get_backend("cpu")
T_MAX = 0.3
IN_SHAPE = (6, 6, 2)


def conv_pool_dense(backend, params, dtype=np.float64):
    """conv 3x3 (3 filters) -> pool 2 -> dense 3, on 6x6x2 inputs, with the given [filters, dense] weights."""
    filters, dense = params
    conv = ConvLayer(backend, filters, IN_SHAPE, LifParams(0.05, 0.2, 0.15, 4), T_MAX, dtype)
    pool = PoolLayer(backend, conv.out_shape, 2, dtype)
    return Network([conv, pool, DenseLayer(backend, dense, LifParams(0.05, 0.2, 0.2, 5), T_MAX, dtype)])


def make_params(rng):
    return [rng.uniform(-1.0, 4.0, (3, 3, 3, 2)) * 0.8, rng.uniform(-1.0, 4.0, (3, 12)) * 0.8]


def test_conv_pool_dense_gradients_match_finite_differences():
    rng = np.random.default_rng(5)
    params = make_params(rng)
    t, counts = random_inputs(rng, batch=2, n_in=72, spikes=2, t_max=0.15)
    net = conv_pool_dense(CPU, params)
    base = run(CPU, net, t, counts)
    assert all(o[1].sum() > 0 for o in base) and base[0][1].max() >= 2 and base[-1][1].max() >= 2
    r = linear_loss(rng, base[-1][0])
    err_in = net.backward(r, input_errors=True).copy()
    grads = [net.layers[0].gradient.copy(), net.layers[2].gradient.copy()]
    assert_gradients_match(lambda w, tt: run(CPU, conv_pool_dense(CPU, w), tt, counts), params, t, r, grads, err_in)


def test_conv_covering_the_whole_input_equals_dense():
    rng = np.random.default_rng(6)
    filters = rng.uniform(-1.0, 4.0, (4, 3, 3, 2))
    params = LifParams(0.05, 0.2, 0.2, 4)
    t, counts = random_inputs(rng, batch=3, n_in=18, spikes=2, t_max=0.15)
    conv = ConvLayer(CPU, filters, (3, 3, 2), params, T_MAX, np.float64)
    dense = DenseLayer(CPU, filters.reshape(4, -1), params, T_MAX, np.float64)
    out_c, out_d = conv.forward(SpikeTrains(t, counts)), dense.forward(SpikeTrains(t, counts))
    assert out_d.counts.sum() > 0
    np.testing.assert_array_equal(out_c.times, out_d.times)
    np.testing.assert_array_equal(out_c.counts, out_d.counts)
    r = np.where(np.isfinite(out_d.times), rng.normal(size=out_d.times.shape), 0.0)
    np.testing.assert_allclose(conv.backward(r), dense.backward(r), rtol=1e-12)
    np.testing.assert_allclose(conv.gradient.reshape(4, -1), dense.gradient, rtol=1e-12)


def test_pooling_is_the_union_of_the_window_trains():
    rng = np.random.default_rng(7)
    t, counts = random_inputs(rng, batch=2, n_in=5 * 5 * 2, spikes=3, t_max=0.2)
    pool = PoolLayer(CPU, (5, 5, 2), 2, np.float64)
    out = pool.forward(SpikeTrains(t, counts))
    assert out.times.shape == (2, 2 * 2 * 2, 12)
    grid = t.reshape(2, 5, 5, 2, 3)
    cnt = counts.reshape(2, 5, 5, 2)
    for b, x, y, c in np.ndindex(2, 2, 2, 2):
        window = [grid[b, 2 * x + i, 2 * y + j, c, :cnt[b, 2 * x + i, 2 * y + j, c]] for i in (0, 1) for j in (0, 1)]
        q = (x * 2 + y) * 2 + c
        expected = np.sort(np.concatenate(window))
        assert out.counts[b, q] == len(expected)
        np.testing.assert_array_equal(out.times[b, q, :len(expected)], expected)
    # errors go back to the spike they came from; the unpooled last row and column get none
    err = np.where(np.isfinite(out.times), rng.normal(size=out.times.shape), 0.0)
    back = pool.backward(err).reshape(2, 5, 5, 2, 3)
    assert np.all(back[:, 4] == 0) and np.all(back[:, :, 4] == 0)
    for b, x, y, c in np.ndindex(2, 2, 2, 2):
        q = (x * 2 + y) * 2 + c
        sources = np.concatenate([back[b, 2 * x + i, 2 * y + j, c, :cnt[b, 2 * x + i, 2 * y + j, c]]
                                  for i in (0, 1) for j in (0, 1)])
        np.testing.assert_array_equal(np.sort(sources), np.sort(err[b, q, :out.counts[b, q]]))


@pytest.mark.cudasim
@pytest.mark.skipif(not cuda_available(), reason="no CUDA GPU and the CUDA simulator is off")
def test_conv_pool_dense_cpu_and_cuda_agree():
    rng = np.random.default_rng(8)
    params = make_params(rng)
    t, counts = random_inputs(rng, batch=1, n_in=72, spikes=1, t_max=0.15)
    cuda = get_backend("cuda")
    results = []
    for be in (CPU, cuda):
        net = conv_pool_dense(be, params, np.float32)
        outs = run(be, net, t.astype(np.float32), counts)
        r = np.where(np.isfinite(outs[-1][0]), 1.0, 0.0).astype(np.float32)
        err_in = be.to_host(net.backward(be.to_device(r), input_errors=True))
        results.append((outs, [net.layers[0].gradient, net.layers[2].gradient], err_in))
    (o_c, g_c, e_c), (o_g, g_g, e_g) = results
    assert o_c[-1][1].sum() > 0
    for (tc, nc), (tg, ng) in zip(o_c, o_g):
        np.testing.assert_array_equal(nc, ng)
        np.testing.assert_allclose(tg, tc, rtol=1e-5)
    for a, b in zip(g_c, g_g):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(e_g, e_c, rtol=1e-4, atol=1e-6)


def test_one_conv_neuron_matches_brian2():
    pytest.importorskip("brian2")
    from test_brian2 import DT, brian_network, compare

    rng = np.random.default_rng(9)
    tau_s, t_max = 0.01, 0.04
    params = LifParams(tau_s, 0.04, 0.04, 40)
    filters = rng.uniform(-1.5, 4.0, (2, 3, 3, 2)) * 1.5
    t, counts = random_inputs(rng, batch=1, n_in=5 * 5 * 2, spikes=4, t_max=0.035)
    t = np.round(t / DT) * DT
    conv = ConvLayer(CPU, filters, (5, 5, 2), params, t_max, np.float64)
    out = conv.forward(SpikeTrains(t, counts))
    xo, yo, f = 1, 2, 1
    n = (xo * 3 + yo) * 2 + f
    assert out.counts[0, n] >= 3, "the neuron must spike several times"
    grid_t, grid_c = t.reshape(1, 5, 5, 2, 4), counts.reshape(1, 5, 5, 2)
    rf_t = grid_t[:, xo:xo + 3, yo:yo + 3].reshape(1, 18, 4)
    rf_c = grid_c[:, xo:xo + 3, yo:yo + 3].reshape(1, 18)
    theirs = brian_network([filters[f].reshape(1, -1)], [params], rf_t, rf_c, t_max)
    ours = [(out.times[:, n:n + 1].copy(), out.counts[:, n:n + 1].copy())]
    assert compare(ours, theirs, t_max, depth=1) >= 3


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("filters, ties", [(32, False), (32, True), (5, True)])
def test_cpu_conv_schedules_agree_bit_for_bit(filters, ties, dtype):
    """The CPU's conv path (each sample sorted once and handed out to the fields in order; with 32 filters or more
    the weight-gradient and input-error sweeps, which skip the fields' own layout) against the per-neuron and
    per-synapse kernels on the gathered fields: identical spikes, weight gradients and input errors."""
    be = get_backend("cpu")
    rng = np.random.default_rng(11)
    weights = rng.uniform(-1.0, 4.0, (filters, 3, 3, 2)) * 0.8
    t, counts = random_inputs(rng, batch=3, n_in=6 * 6 * 2, spikes=3, t_max=0.15)
    if ties:  # few distinct times, so ties between fields' slots and between a neuron's own spikes
        t = np.round(t * 50) / 50
    results = []
    for by_row in (True, False):
        be.row_schedules = by_row
        try:
            layer = ConvLayer(be, weights, IN_SHAPE, LifParams(0.05, 0.2, 0.15, 3), T_MAX, dtype)
            out = layer.forward(SpikeTrains(t.astype(dtype), counts))
            errors = np.where(np.isfinite(out.times), np.cos(np.arange(out.times.size)).reshape(out.times.shape),
                              0).astype(dtype)
            err_in = layer.backward(errors).copy()
        finally:
            be.row_schedules = True
        results.append([out.times.copy(), out.counts.copy(), err_in, layer.gradient.copy()])
    assert results[0][1].sum() > 0 and results[0][1].max() > 1
    for row, element in zip(*results):
        np.testing.assert_array_equal(row, element)
