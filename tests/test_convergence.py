"""`snntrain convergence` (SPEC §8) on reduced grids."""
from __future__ import annotations

import csv
import re
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from snntrain.cli import main
from snntrain.errors import SnntrainError
from snntrain.training.convergence import parse_grid


def run(tmp_path, *args):
    got = CliRunner().invoke(main, ["convergence", "--device", "cpu", "--runs-dir", str(tmp_path), *args])
    assert got.exit_code == 0, got.output
    (run_dir,) = [p for p in tmp_path.iterdir() if p.name.startswith("convergence-")]
    return run_dir


def rows(run_dir):
    with open(run_dir / "results.csv") as f:
        return list(csv.DictReader(f))


def test_reduced_study_writes_csv_and_heat_maps(tmp_path):
    run_dir = run(tmp_path, "--grid", "0:1.0:0.5", "--repeats", "4", "--epochs", "5")
    table = rows(run_dir)
    assert len(table) == 2 * 2 * 2 and {r["model"] for r in table} == {"ttfs", "count"}
    assert all(r["repeats"] == "4" and 0 <= float(r["mean_best_accuracy"]) <= 1 for r in table)
    assert (run_dir / "convergence.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (run_dir / "convergence.pdf").read_bytes()[:5] == b"%PDF-"


def test_silent_single_spike_cell_scores_chance(tmp_path):
    table = rows(run(tmp_path, "--model", "ttfs", "--grid", "0:0.1:0.2", "--repeats", "3", "--epochs", "3"))
    (cell,) = table
    assert (cell["mean"], cell["std"]) == ("0", "0")
    assert float(cell["mean_best_accuracy"]) == 0.5 and float(cell["std_best_accuracy"]) == 0.0


def test_same_seed_same_results(tmp_path):
    args = ("--grid", "0:1.5:0.5", "--repeats", "3", "--epochs", "4", "--seed", "7")
    first = (run(tmp_path / "a", *args) / "results.csv").read_text()
    assert (run(tmp_path / "b", *args) / "results.csv").read_text() == first


def test_multi_spike_converges_from_a_wider_range_than_single_spike(tmp_path):
    table = rows(run(tmp_path, "--repeats", "5"))
    mean = {m: np.mean([float(r["mean_best_accuracy"]) for r in table if r["model"] == m]) for m in ("ttfs", "count")}
    assert len(table) == 2 * 13 * 13
    assert mean["count"] > mean["ttfs"] + 0.1, mean


def test_grid_parsing():
    np.testing.assert_allclose(parse_grid("0:2.5:0.2"), np.arange(13) * 0.2)
    with pytest.raises(SnntrainError, match="start:stop:step"):
        parse_grid("0:1")


@pytest.mark.parametrize("args, message", [
    (("--grid", "0:nan:0.5"), "--grid '0:nan:0.5': needs finite numbers with 0 <= start < stop"),  # before: ValueError
    (("--grid", "0:inf:0.5"), "--grid '0:inf:0.5': needs finite numbers"),  # before: OverflowError
    (("--grid", "-5:-4:0.5"), "--grid '-5:-4:0.5': needs finite numbers with 0 <= start"),  # before: ran
    (("--grid", "0:1e3:1e-5"), "values per axis; at most 200 (40,000 cells)"),  # before: MemoryError
    (("--seed", "-1"), "--seed -1: must be >= 0"),  # before: ValueError
    (("--repeats", "0"), "--repeats and --epochs must be >= 1"),  # before: exit 1
    (("--grid", "0:1e300:1e299"), "needs finite numbers with 0 <= start < stop <= 1e+06"),  # before: traceback
    (("--repeats", "1000000000000"), "--repeats 1000000000000: 169,000,000,000,000 networks (169 cells x "
                                     "1,000,000,000,000 repeats); at most 1,000,000 per model"),  # before: MemoryError
])
def test_bad_arguments_are_one_line_usage_errors(tmp_path, args, message):
    got = CliRunner().invoke(main, ["convergence", "--runs-dir", str(tmp_path / "runs"), "--device", "cpu", *args])
    assert got.exit_code == 2 and message in got.stderr and got.stderr.count("\n") == 1, got.output
    assert not (tmp_path / "runs").exists()


def test_on_a_ray_cluster_the_results_are_the_same(tmp_path):
    """The networks split into one batch per Ray worker (2 here) train to the same numbers as one batch here."""
    pytest.importorskip("ray")
    args = ("--grid", "0:1.5:0.5", "--repeats", "3", "--epochs", "4", "--seed", "7")
    here = (run(tmp_path / "a", *args) / "results.csv").read_text()
    got = CliRunner().invoke(main, ["convergence", "--device", "cpu", "--runs-dir", str(tmp_path / "b"), *args,
                                    "--address", "local"])
    assert got.exit_code == 0, got.output
    assert re.search(r"ttfs: 27 networks in ([2-9]|\d\d+) chunks on local", got.output), got.output  # split
    (there,) = (tmp_path / "b").iterdir()
    assert (there / "results.csv").read_text() == here
    assert "on Ray at local" in (there / "log.txt").read_text()


def test_without_ray_the_address_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    got = CliRunner().invoke(main, ["convergence", "--runs-dir", str(tmp_path), "--address", "local", "--grid",
                                    "0:1:0.5", "--repeats", "1", "--epochs", "1"])
    assert got.exit_code == 1 and got.stderr == ("error: snntrain convergence --address needs Ray Tune: pip install "
                                                 "'snntrain[sweep]' (or pip install 'ray[tune]')\n")
    assert not any(tmp_path.iterdir())  # no empty run directory left behind


def test_a_malformed_ray_address_is_a_one_line_error(tmp_path):
    pytest.importorskip("ray")
    got = CliRunner().invoke(main, ["convergence", "--runs-dir", str(tmp_path / "runs"), "--address", "foo",
                                    "--grid", "0:1:0.5", "--repeats", "1", "--epochs", "1"])
    assert got.exit_code == 1 and got.stderr.count("\n") == 1, got.output  # before: ray's ValueError traceback
    assert got.stderr.startswith("error: snntrain convergence --address: cannot connect to Ray at 'foo': "), got.stderr
