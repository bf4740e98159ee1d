"""`[simulation] precision`: float32 models compute in float32, float64 models in float64, and the two agree
within what float32 rounding allows.

Tolerance of float32 against float64 (stated here, used below): float32 rounds each operation to a relative
6e-8. A spike time comes out of sums over every input and earlier reset, then a square root and a log whose
condition grows as the crossing gets flatter; on random layers of 100 inputs the worst spike time moved by a
relative 4.7e-6 (about 80 ulps) and whole gradients by 1e-5 of their norm. The bounds below are 4-10x those
worst cases, and still far below what a kernel that mixes up a term (an error of order 1) would give.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from snntrain.backends import get_backend
from snntrain.backends.base import PRECISION_KERNELS
from snntrain.backends.compile_cache import CACHE_ENV
from snntrain.backends.cpu import CpuBackend
from snntrain.backends.launch import compiled_math
from snntrain.config.load import load_model
from snntrain.config.model import OptimizerConfig, ScheduleConfig
from snntrain.network.build import build_network
from snntrain.network.conv import ConvLayer
from snntrain.network.dense import DenseLayer
from snntrain.network.lif import LifParams
from snntrain.network.optimizer import Optimizer
from snntrain.network.spikes import SpikeTrains

ROOT = Path(__file__).resolve().parents[1]

# The one function allowed float64 values in a float32 kernel: the step that moves a spike stored at or before
# its inputs' time onto the next representable value (a rare fix-up of the storage, not arithmetic on spikes).
FLOAT64_ALLOWED = {"store_after"}


def random_layer_inputs(rng: np.random.Generator, batch: int, n_in: int, spikes: int, t_max: float):
    times = np.sort(rng.uniform(0, t_max, (batch, n_in, spikes)), axis=2)
    counts = rng.integers(0, spikes + 1, (batch, n_in)).astype(np.int32)
    times = np.where(np.arange(spikes) < counts[..., None], times, np.inf).astype(np.float32)
    return times, counts


def forward_backward(layer, times, counts, dtype):
    t, c = layer._lif_forward(times.astype(dtype), counts)
    t, c = t.copy(), c.copy()
    err = np.where(np.isfinite(t), np.cos(np.arange(t.size).reshape(t.shape)), 0.0).astype(dtype)
    err_in = layer._lif_backward(err, True).copy()
    return t, c, layer.gradient.copy(), err_in


def test_float32_kernels_compute_in_float32(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every variable and intermediate of every float32 kernel is float32: numba types a bare literal, a module
    constant or an int next to a float32 as float64, which would silently turn the arithmetic into float64.
    Checked on numba's typing of each compiled function, for both CPU schedules and the GPU's per-neuron and
    chunked ones (compiled here, not loaded from the compile cache, which keeps machine code but no typing)."""
    monkeypatch.setenv(CACHE_ENV, "off")
    be = CpuBackend()
    rng = np.random.default_rng(0)
    layers = []
    for by_row, threads in ((True, 0), (False, 0), (False, 1 << 17)):  # the GPU's: one walk or chunks per row
        be.row_schedules, be.forward_threads = by_row, threads
        try:
            for spikes, n_out in ((1, 70), (3, 70), (3, 7)):  # single spike, time sweep, weight rows
                layer = DenseLayer(be, rng.uniform(0, 1, (n_out, 40)), LifParams(0.13, 0.7, 0.7, spikes), 1.0,
                                   np.float32)
                forward_backward(layer, *random_layer_inputs(rng, 4, 40, 2, 0.3), np.float32)  # 5 chunks
                layers.append(layer)
        finally:
            be.row_schedules, be.forward_threads = True, 0
    for kind in ("adam", "nadam", "sgd"):
        Optimizer(be, OptimizerConfig(type=kind), ScheduleConfig(), layers).step()
    checked = set()
    for name, function in vars(compiled_math("cpu", "float32")).items():
        for signature, result in function.overloads.items():
            if not any(str(arg).startswith("array(float32") for arg in signature):
                continue  # not (yet) compiled for float32 arrays
            checked.add(name)
            wide = sorted(var for var, ty in result.type_annotation.typemap.items()
                          if str(ty) == "float64" and not var.startswith("$const") and "load_global" not in var)
            if name not in FLOAT64_ALLOWED:
                assert not wide, f"{name} computes in float64: {wide}"
    assert PRECISION_KERNELS <= checked  # every kernel whose numbers depend on the precision


def test_precision_dependent_kernels_must_name_one() -> None:
    be = get_backend("cpu")
    assert {"lif_forward_row", "lif_weight_grad_sweep", "exp_factors", "adam_step"} <= PRECISION_KERNELS
    assert not {"merge_row", "ttfs_loss", "gather_sample"} & PRECISION_KERNELS  # no arithmetic that depends on it
    t = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match="exp_factors needs precision float32 or float64"):
        be.launch("exp_factors", 3, t, np.float32(0.1), t.copy(), t.copy(), np.zeros(3, np.int32))


@pytest.mark.parametrize("spikes", [1, 5])
@pytest.mark.parametrize("conv", [False, True])
def test_float32_agrees_with_float64(spikes: int, conv: bool) -> None:
    """Same float32-representable weights and inputs, both precisions: the same spike counts, and times, input
    errors and gradients within float32's tolerance (module docstring). And float32 really rounds: some spike
    times differ from the float64 ones rounded to float32."""
    be = get_backend("cpu")
    rng = np.random.default_rng(1)
    if conv:  # 6x6x4 inputs, 3x3 filters: the weight-row schedule with multi-spike merges
        weights = rng.uniform(-0.3, 1.0, (8, 3, 3, 4)).astype(np.float32)
        times, counts = random_layer_inputs(rng, 10, 6 * 6 * 4, 3, 0.3)
        make = lambda dtype: ConvLayer(be, weights, (6, 6, 4), LifParams(0.13, 0.7, 0.7, spikes), 1.0, dtype)
    else:
        weights = rng.uniform(-0.3, 1.0, (200, 100)).astype(np.float32)
        times, counts = random_layer_inputs(rng, 20, 100, 3, 0.3)
        make = lambda dtype: DenseLayer(be, weights, LifParams(0.13, 0.7, 0.7, spikes), 1.0, dtype)
    results = {}
    for dtype in (np.float32, np.float64):
        layer = make(dtype)
        if conv:
            out = layer.forward(SpikeTrains(times.astype(dtype), counts))
            t, c = out.times.copy(), out.counts.copy()
            err = np.where(np.isfinite(t), np.cos(np.arange(t.size).reshape(t.shape)), 0.0).astype(dtype)
            results[dtype] = (t, c, layer.gradient.copy(), layer.backward(err).copy())
        else:
            results[dtype] = forward_backward(layer, times, counts, dtype)
    (t32, c32, g32, e32), (t64, c64, g64, e64) = results[np.float32], results[np.float64]
    assert t32.dtype == np.float32 and t64.dtype == np.float64
    np.testing.assert_array_equal(c32, c64)
    assert c64.sum() > 0 and (spikes == 1 or c64.max() > 1)
    fired = np.isfinite(t64)
    np.testing.assert_allclose(t32[fired], t64[fired], rtol=2e-5)
    assert np.any(t32[fired] != t64[fired].astype(np.float32))
    assert np.linalg.norm(g32 - g64) <= 1e-4 * np.linalg.norm(g64)
    assert np.linalg.norm(e32 - e64) <= 1e-4 * np.linalg.norm(e64)


@pytest.mark.parametrize("case", ["full buffers", "ties", "long window (framed)"])
def test_float32_agrees_with_float64_at_the_edges(case: str) -> None:
    """As above, where float32 is most exposed: buffers that fill (every spike after the last kept one dropped
    while its inputs still arrive), inputs tied on a coarse grid, and sums rescaled across frames (inputs up to
    40 tau_s)."""
    be = get_backend("cpu")
    rng = np.random.default_rng(2)
    scale, t_span, t_max = {"full buffers": (6.0, 0.3, 1.0), "ties": (1.0, 0.3, 1.0),
                            "long window (framed)": (4.0, 40 * 0.13, 45 * 0.13)}[case]
    weights = (rng.uniform(-0.3, 1.0, (70, 40)) * scale).astype(np.float32)
    times, counts = random_layer_inputs(rng, 10, 40, 3, t_span)
    if case == "ties":
        times = (np.round(times * 50) / 50).astype(np.float32)
    results = [forward_backward(DenseLayer(be, weights, LifParams(0.13, 0.7, 0.7, 4), t_max, dtype), times, counts,
                                dtype) for dtype in (np.float32, np.float64)]
    (t32, c32, g32, e32), (t64, c64, g64, e64) = results
    np.testing.assert_array_equal(c32, c64)
    if case == "full buffers":
        assert (c64 == 4).mean() > 0.5
    assert c64.sum() > 0
    fired = np.isfinite(t64)
    # framed: a time t carries float32's absolute resolution t * 6e-8 (3.5e-7 s at 45 tau_s, a relative 3e-6 of
    # tau_s in every exponential factor) on top of the relative error; measured 1.1e-4 of the gradients' norm
    framed = "framed" in case
    np.testing.assert_allclose(t32[fired], t64[fired], rtol=2e-5, atol=1e-6 if framed else 0)
    bound = 1e-3 if framed else 1e-4
    assert np.linalg.norm(g32 - g64) <= bound * np.linalg.norm(g64)
    assert np.linalg.norm(e32 - e64) <= bound * np.linalg.norm(e64)


@pytest.mark.parametrize("precision", ["float32", "float64"])
def test_model_precision_sets_the_network_dtype(precision: str) -> None:
    cfg = load_model(ROOT / "models" / "fashion.toml", (f'simulation.precision="{precision}"',))
    network = build_network(cfg, get_backend("cpu"), np.random.default_rng(0))
    assert {layer.w.dtype.name for layer in network.layers} == {precision}


def test_a_trained_float32_model_predicts_as_float64_does(tmp_path: Path) -> None:
    """What the README says of trained networks (the random-layer tolerances above do not hold for them): the
    float32 weights of a trained model give the same prediction in float64 for every digits test image, and spike
    counts differ in a tiny share of (sample, neuron) pairs."""
    import snntrain

    model = snntrain.Model.from_toml("default", overrides=["training.epochs=3"], device="cpu")
    model.fit(runs_dir=tmp_path, echo=lambda line: None)
    exact = snntrain.Model.from_toml("default", overrides=["simulation.precision=float64"], device="cpu")
    exact.set_weights(model.weights)
    images, _ = snntrain.datasets.load("digits").split("test")
    assert (model.predict(images) == exact.predict(images)).all()
    for ours, theirs in zip(model.spikes(images), exact.spikes(images)):
        assert np.mean(ours.counts != theirs.counts) <= 1e-3, ours.name
