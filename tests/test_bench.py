"""`snntrain bench` as a smoke test: it runs, sweeps and writes its files. Speed is reported, never asserted."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from snntrain.cli import main
from snntrain.backends import get_backend
from snntrain.config import load_model
from snntrain.backends.profile import launch_hook
from snntrain.training.bench import SWEEPS, _Stepper, bench_data, checked_variant, vary
from snntrain.training.yardstick import Mlp, mlp_sizes

MODELS = Path(__file__).resolve().parents[1] / "models"
DEFAULT = str(MODELS / "default.toml")


def test_bench_sweep_writes_json_table_and_plot(tmp_path):
    got = CliRunner().invoke(main, ["bench", "--device", "cpu", "--model", DEFAULT, "--sweep", "neurons",
                                    "--values", "8,16", "--steps", "1", "--repeats", "1", "--data-dir",
                                    str(tmp_path / "none"), "--runs-dir", str(tmp_path)])
    assert got.exit_code == 0, got.output
    (run_dir,) = tmp_path.glob("bench-*")
    payload = json.loads((run_dir / "bench.json").read_text())
    assert payload["dataset"] == "digits" and payload["sweep"] == "neurons"
    assert [r["label"] for r in payload["results"]] == ["neurons=8", "neurons=16"]
    for r in payload["results"]:
        assert r["train_samples_per_s"] > 0 and r["forward_samples_per_s"] > 0 and r["peak_memory_mb"] > 0
        assert "lif_forward_row" in r["kernel_ms_per_step"] and r["launches_per_step"] > 0
        assert r["mlp_train_samples_per_s"] > 0 and r["mlp_ratio"] > 0  # the yardstick of an all-dense model
    assert (run_dir / "plots" / "sweep_neurons.png").read_bytes()[:4] == b"\x89PNG"
    assert "train samples/s" in (run_dir / "table.txt").read_text()
    assert "float32 MLP of the same sizes (numpy, same cores, batch 20)" in (run_dir / "table.txt").read_text()


def test_bench_json_output(tmp_path):
    got = CliRunner().invoke(main, ["bench", "--device", "cpu", "--model", DEFAULT, "--steps", "1", "--repeats",
                                    "1", "--data-dir", str(tmp_path / "none"), "--runs-dir", str(tmp_path), "--json"])
    assert got.exit_code == 0, got.output
    payload = json.loads(got.stdout)  # bench.json's (before: its results alone, without the dataset measured on)
    assert payload == json.loads(next(tmp_path.glob("bench-*/bench.json")).read_text())
    assert (payload["dataset"], payload["device"], payload["left_out"]) == ("digits", "cpu", [])
    (result,) = payload["results"]
    assert got.stderr.startswith("bench: model default on digits, device cpu")  # progress: not in the JSON
    assert result["label"] == "default" and result["batch"] == 20 and result["test_set_seconds"] > 0
    # training with captured steps, and in turns without them
    assert result["eager_train_samples_per_s"] > 0 and result["graph_ratio"] > 0
    assert result["step_capture"].startswith("launch lists: ") and " 0 replays" not in result["step_capture"]
    assert result["kernel_timing"] == "wall time, synchronised after each launch"


@pytest.mark.parametrize("precision", ["float32", "float64"])
def test_the_memory_estimate_follows_the_precision(precision):
    """The estimate that refuses a model too large for this machine (`step_bytes`) is within a factor 1.5 of what
    building the network and one training step allocate (traced), in both precisions: it counted every element at
    4 bytes, half of float64's."""
    from snntrain.backends.profile import MemoryMeter
    from snntrain.config.shapes import step_bytes

    cfg = load_model(DEFAULT, [f"simulation.precision={precision}", "training.batch_size=50",
                               "training.test_batch_size=50"])
    cfg, data = bench_data(cfg, Path("/nonexistent"))
    _Stepper(cfg, data, get_backend("cpu"), 1, graphs=False)(True)  # compiles: numba's own memory is not the step's
    with MemoryMeter(get_backend("cpu")) as meter:
        _Stepper(cfg, data, get_backend("cpu"), 1, graphs=False)(True)
    assert 1 / 1.5 < meter.peak_mb * 2**20 / sum(step_bytes(cfg)) < 1.5


@pytest.mark.parametrize("sweep, value, check", [
    ("neurons", 300, lambda c: c.layers[0].neurons == 300),
    ("batch", 7, lambda c: c.training.batch_size == 7),
    ("spikes", 3, lambda c: all(layer.max_spikes == 3 for layer in c.layers) and (c.loss.n_true, c.loss.n_false)
     == (3, 2)),
    ("spikes", 1, lambda c: (c.loss.n_true, c.loss.n_false) == (1, 0)),
    ("layers", 3, lambda c: len(c.layers) == 4 and c.layers[1] == c.layers[0]),
])
def test_sweeps_change_one_parameter(sweep, value, check):
    assert check(checked_variant(vary(load_model(DEFAULT), sweep, value), sweep, value))


@pytest.mark.parametrize("args, message", [
    (("--sweep", "batch", "--values", "a,b"), "--values 'a,b': expected comma-separated integers"),
    (("--sweep", "batch", "--values", ""), "--values '': expected comma-separated integers"),  # before: the standard set
    (("--sweep", "batch", "--values", "0"), "--sweep batch=0: training.batch_size = 0: "),  # before: ZeroDivision
    (("--sweep", "spikes", "--values", "0"), "--sweep spikes=0: layers[0].max_spikes = 0: "),  # before: SystemError
    (("--sweep", "layers", "--values", "-1"), "--values '-1': each layers value must be in 0..1000"),  # before: ran
    (("--values", "1,2"), "--values '1,2': give --sweep too"),  # before: ignored
    (("--steps", "0"), "--steps 0 --repeats 3: --steps must be in 1..10,000 and --repeats in 1..1,000"),
    # before: a 146 TiB allocation error (traceback), and minutes of model-file checks
    (("--steps", "1000000000000"), "--steps 1000000000000 --repeats 3: --steps must be in 1..10,000"),
    (("--sweep", "layers", "--values", "100000000"), "--values '100000000': each layers value must be in 0..1000"),
    (("--sweep", "neurons", "--values", "100,99999999999999999999"),  # before: numpy's error, after one measurement
     "--sweep neurons=99999999999999999999: layers[1]: the model needs about"),
    # the bench repeats samples to fill a batch beyond the split: its memory is that of the batch asked for
    (("--sweep", "batch", "--values", "100000000"), "--sweep batch=100000000: layers[1]: the model needs about"),
])
def test_bad_values_are_one_line_usage_errors(tmp_path, args, message):
    # the shipped digits whether or not Fashion-MNIST is downloaded here (the layer named follows the input size)
    got = CliRunner().invoke(main, ["bench", "--device", "cpu", "--model", DEFAULT, *args, "--data-dir",
                                    str(tmp_path / "none"), "--runs-dir", str(tmp_path / "runs")])
    assert got.exit_code == 2 and got.stderr.startswith(f"error: {message}") and got.stderr.count("\n") == 1, \
        got.output
    assert got.stdout == "" and not (tmp_path / "runs").exists()  # nothing measured, nothing written


def test_launch_hooks_nest_and_restore():
    # the memory meter's hook wraps the profiler's on CUDA; leaving the inner one used to drop the outer one
    backend = get_backend("cpu")
    seen = []

    def tag(label):
        return lambda launch, name, total, *args: (seen.append((label, name)), launch(name, total, *args))

    counts, totals = np.ones((2, 3), np.int32), np.zeros(3, np.int64)
    with launch_hook(backend, tag("outer")):
        with launch_hook(backend, tag("inner")):
            backend.launch("add_spike_counts", 3, counts, totals)
        backend.launch("add_spike_counts", 3, counts, totals)
    backend.launch("add_spike_counts", 3, counts, totals)
    assert seen == [("inner", "add_spike_counts"), ("outer", "add_spike_counts"), ("outer", "add_spike_counts")]
    assert "launch" not in vars(backend) and list(totals) == [6, 6, 6]


def test_yardstick_mlp_learns_and_matches_the_model_sizes():
    """The MLP is a real one: Adam steps lower its loss on the fixed batch. Sizes follow an all-dense model."""
    cfg = load_model(DEFAULT)
    assert mlp_sizes(cfg) == [64, 128, 10]
    assert mlp_sizes(load_model(MODELS / "conv.toml")) is None
    mlp = Mlp([64, 128, 10], batch=20)

    def loss() -> float:
        h = np.maximum(mlp.x @ mlp.w[0], 0) @ mlp.w[1]
        p = np.exp(h - h.max(axis=1, keepdims=True))
        return float(-np.log(p[np.arange(20), mlp.y] / p.sum(axis=1)).mean())

    before = loss()
    for _ in range(50):
        mlp.step(lr=1e-2)
    assert loss() < 0.5 * before
    assert all(w.dtype == np.float32 for w in mlp.w)


def test_standard_sweep_leaves_out_what_this_machine_cannot_hold(tmp_path, monkeypatch):
    """(Before: `bench --model conv --sweep batch` stopped at batch 4096 on machines under 26 GiB, nothing measured.)
    A value given with --values is still an error (above)."""
    monkeypatch.setitem(SWEEPS, "neurons", [8, 99999999999999999999, 16])
    monkeypatch.setattr("snntrain.config.load._physical_memory", lambda: 8 << 30)  # whatever this machine says
    got = CliRunner().invoke(main, ["bench", "--device", "cpu", "--model", DEFAULT, "--sweep", "neurons", "--steps",
                                    "1", "--repeats", "1", "--data-dir", str(tmp_path / "none"), "--runs-dir",
                                    str(tmp_path), "--json"])
    assert got.exit_code == 0, got.output
    assert [r["label"] for r in json.loads(got.stdout)["results"]] == ["neurons=8", "neurons=16"]
    (run_dir,) = tmp_path.glob("bench-*")
    assert json.loads((run_dir / "bench.json").read_text())["left_out"][0].startswith("neurons=99999999999999999999:")
    assert "neurons=99999999999999999999: left out" in (run_dir / "table.txt").read_text()
    left_out = [line for line in got.stderr.splitlines() if "left out" in line]
    assert len(left_out) == 1 and "more than this machine's 8 GiB" in left_out[0]
    assert left_out[0].startswith("  neurons=99999999999999999999: left out, the model needs about ")


def test_a_sweep_value_is_checked_at_the_batch_it_times_not_the_test_batch(tmp_path, monkeypatch):
    """(Before: a value that fits at the training batch a sweep times was refused as a model file at the model's
    test batch, which a sweep never builds.)"""
    from snntrain.config.shapes import step_bytes

    base = load_model(DEFAULT, ["training.test_batch_size=1437"])
    variant = vary(base, "neurons", 4096)
    fits = 2 * max(sum(step_bytes(base)), sum(step_bytes(variant, base.training.batch_size)))
    assert fits < sum(step_bytes(variant, 1437))
    monkeypatch.setattr("snntrain.config.load._physical_memory", lambda: fits)
    got = CliRunner().invoke(main, ["bench", "--device", "cpu", "--model", DEFAULT, "--set",
                                    "training.test_batch_size=1437", "--sweep", "neurons", "--values", "4096",
                                    "--steps", "1", "--repeats", "1", "--data-dir", str(tmp_path / "none"),
                                    "--runs-dir", str(tmp_path), "--json"])
    assert got.exit_code == 0, got.output
    assert [r["label"] for r in json.loads(got.stdout)["results"]] == ["neurons=4096"]


def test_standard_sweep_of_which_nothing_fits_is_a_usage_error(tmp_path, monkeypatch):
    monkeypatch.setitem(SWEEPS, "neurons", [99999999999999999999])
    monkeypatch.setattr("snntrain.config.load._physical_memory", lambda: 8 << 30)
    got = CliRunner().invoke(main, ["bench", "--device", "cpu", "--model", DEFAULT, "--sweep", "neurons",
                                    "--runs-dir", str(tmp_path / "runs")])
    assert got.exit_code == 2 and got.stderr.count("\n") == 1, got.output
    assert got.stderr.startswith("error: --sweep neurons: no value of the standard set fits this machine's memory "
                                 "(neurons=99999999999999999999: left out, the model needs about ")
    assert not (tmp_path / "runs").exists()


def test_every_repeat_times_the_same_steps_from_the_seed_0_weights(tmp_path, monkeypatch):
    """The timed steps train, and the work of a step follows the spikes: each timed repeat (and the kernel
    profile) starts again from the seed-0 weights and a fresh optimiser, where it used to go on training."""
    from snntrain.training import bench

    seed_0 = load_model(DEFAULT)
    cfg, data = bench.bench_data(seed_0, tmp_path)
    fresh = bench.build_network(cfg, get_backend("cpu"), np.random.default_rng(0))
    start = np.concatenate([layer.weights.ravel() for layer in fresh.layers])
    from_start = []
    step = bench._Stepper.__call__

    def recording(self, train):
        weights = np.concatenate([layer.weights.ravel() for layer in self.optimizer.layers])
        from_start.append(np.array_equal(weights, start))
        step(self, train)

    monkeypatch.setattr(bench._Stepper, "__call__", recording)
    repeats = 3
    result = bench.measure(cfg, data, get_backend("cpu"), "default", steps=2, repeats=repeats)
    assert not all(from_start)  # the warm-up trains
    # the repeats of captured and of eager training and of forward passes, the profile; and (before too) the first
    # warm-up call of each of the two steppers and the memory meter's fresh network
    assert sum(from_start) == 3 * repeats + 4, from_start
    # the reset writes into the arrays the captured steps read: every repeat replays them, none captures anew
    once = bench.measure(cfg, data, get_backend("cpu"), "default", steps=2, repeats=1)
    captures = [int(re.search(r"(\d+) captures", m.step_capture).group(1)) for m in (result, once)]
    assert captures[0] == captures[1] > 0, (result.step_capture, once.step_capture)
