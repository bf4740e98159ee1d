"""The CPU and CUDA targets of the one-source kernels give the same numbers on identical inputs.

In CI the CUDA kernels run on numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1, set by conftest.py); run with
NUMBA_ENABLE_CUDASIM=0 on a machine with a GPU to compare against the real device.
"""
from __future__ import annotations

import numpy as np
import pytest

from reference import build, random_inputs, run
from snntrain.backends import cuda_available, get_backend
from snntrain.network.dense import LifParams

pytestmark = pytest.mark.skipif(not cuda_available(), reason="no CUDA GPU and the CUDA simulator is off")


def forward_backward(backend, weights, params, t, counts, dtype, r_seed=7):
    net = build(backend, weights, params, 0.3, dtype)
    outs = run(backend, net, t.astype(dtype), counts)
    rng = np.random.default_rng(r_seed)
    r = rng.normal(size=outs[-1][0].shape).astype(dtype)
    r[~np.isfinite(outs[-1][0])] = 0
    err_in = backend.to_host(net.backward(backend.to_device(r), input_errors=True))
    return outs, [layer.gradient for layer in net.layers], err_in


@pytest.mark.cudasim
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("max_spikes", [[1, 1], [4, 5]])
def test_cpu_and_cuda_agree(dtype, max_spikes):
    rng = np.random.default_rng(3)
    sizes = [9, 6, 4]
    params = [LifParams(0.05, 0.2, 0.2, s) for s in max_spikes]
    weights = [rng.uniform(-1.0, 4.0, (o, i)) * 12 / i for i, o in zip(sizes[:-1], sizes[1:])]
    t, counts = random_inputs(rng, batch=3, n_in=sizes[0], spikes=2, t_max=0.15)
    counts[0] = 0  # a sample with no input spike at all
    cpu = forward_backward(get_backend("cpu"), weights, params, t, counts, dtype)
    gpu = forward_backward(get_backend("cuda"), weights, params, t, counts, dtype)
    assert cpu[0][-1][1].sum() > 0
    rtol = 1e-5 if dtype == np.float32 else 1e-10
    for (t_c, n_c), (t_g, n_g) in zip(cpu[0], gpu[0]):
        np.testing.assert_array_equal(n_c, n_g)
        np.testing.assert_allclose(t_g, t_c, rtol=rtol)
    for g_c, g_g in zip(cpu[1], gpu[1]):
        np.testing.assert_allclose(g_g, g_c, rtol=rtol * 10, atol=1e-6 if dtype == np.float32 else 1e-12)
    np.testing.assert_allclose(gpu[2], cpu[2], rtol=rtol * 10, atol=1e-6 if dtype == np.float32 else 1e-12)
