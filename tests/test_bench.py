"""`snntrain bench` as a smoke test: it runs, sweeps and writes its files. Speed is reported, never asserted."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from snntrain.cli import main
from snntrain.config import load_model
from snntrain.backends import get_backend
from snntrain.training.bench import launch_hook, vary

DEFAULT = str(Path(__file__).resolve().parents[1] / "models" / "default.toml")


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
        assert "lif_forward_neuron" in r["kernel_ms_per_step"] and r["launches_per_step"] > 0
    assert (run_dir / "plots" / "sweep_neurons.png").read_bytes()[:4] == b"\x89PNG"
    assert "train samples/s" in (run_dir / "table.txt").read_text()


def test_bench_json_output(tmp_path):
    got = CliRunner().invoke(main, ["bench", "--device", "cpu", "--model", DEFAULT, "--steps", "1", "--repeats",
                                    "1", "--data-dir", str(tmp_path / "none"), "--runs-dir", str(tmp_path), "--json"])
    assert got.exit_code == 0, got.output
    (result,) = json.loads(got.output)
    assert result["label"] == "default" and result["batch"] == 20 and result["test_set_seconds"] > 0


@pytest.mark.parametrize("sweep, value, check", [
    ("neurons", 300, lambda c: c.layers[0].neurons == 300),
    ("batch", 7, lambda c: c.training.batch_size == 7),
    ("spikes", 3, lambda c: all(layer.max_spikes == 3 for layer in c.layers)),
    ("layers", 3, lambda c: len(c.layers) == 4 and c.layers[1] == c.layers[0]),
])
def test_sweeps_change_one_parameter(sweep, value, check):
    assert check(vary(load_model(DEFAULT), sweep, value))


def test_bad_values_are_one_line_errors(tmp_path):
    got = CliRunner().invoke(main, ["bench", "--device", "cpu", "--model", DEFAULT, "--sweep", "batch", "--values",
                                    "a,b", "--runs-dir", str(tmp_path)])
    assert got.exit_code == 1 and "--values" in got.output and "Traceback" not in got.output


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
