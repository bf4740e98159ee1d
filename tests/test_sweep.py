"""`snntrain sweep` on Ray Tune: the grid, trials as run directories, the results table, a failing trial, resuming
an interrupted sweep, and a Ray cluster reached through --address."""
from __future__ import annotations

import csv
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from snntrain.cli import main
from snntrain.errors import UsageError
from snntrain.runs import RunDir
from snntrain.training.sweep import parse_grid, trial_overrides

TINY = ("--set", "training.train_samples=100", "--set", "training.test_samples=50", "--set", "training.epochs=2")


def sweep(tmp_path, *args):
    result = CliRunner().invoke(main, ["sweep", "--model", "default", *TINY, "--runs-dir", str(tmp_path / "runs"),
                                       "--data-dir", str(tmp_path / "data"), *args])
    return result


def table(tmp_path):
    [folder] = (tmp_path / "runs").glob("sweep-default-*")
    return folder, list(csv.DictReader(open(folder / "results.csv")))


def test_grid_parsing_and_trials():
    grid = parse_grid(["optimizer.lr=0.001, 0.002", "training.seed=0..2"])
    assert grid == [("optimizer.lr", ["0.001", "0.002"]), ("training.seed", ["0", "1", "2"])]
    trials = trial_overrides(grid)
    assert len(trials) == 6 and trials[1] == ("optimizer.lr=0.001", "training.seed=1")
    for bad, message in [("lr", "give KEY=V1,V2"), ("training.seed=a..b", "A..B takes integers"),
                         ("training.seed=3..1", "is empty"), ("optimizer.lr=0.1,,0.2", "an empty value")]:
        with pytest.raises(UsageError, match=message):
            parse_grid([bad])
    with pytest.raises(UsageError, match="given twice"):
        parse_grid(["training.seed=0", "training.seed=1"])


def test_an_invalid_trial_stops_the_sweep_before_it_starts(tmp_path):
    result = sweep(tmp_path, "--grid", "optimizer.lr=0.01,-1")
    assert result.exit_code == 2 and "optimizer.lr" in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "runs").exists()


def test_without_ray_the_sweep_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    result = sweep(tmp_path, "--grid", "training.seed=0..1")
    assert result.exit_code == 1
    assert result.stderr == "error: snntrain sweep needs Ray Tune: pip install 'snntrain[sweep]' (or pip install " \
                            "'ray[tune]')\n"


ray = pytest.importorskip("ray")


def test_four_trials_their_table_and_a_resumed_sweep(tmp_path):
    args = ("--grid", "optimizer.lr=0.005,0.01", "--grid", "training.seed=0..1")
    result = sweep(tmp_path, *args)
    assert result.exit_code == 0, result.output
    folder, rows = table(tmp_path)
    assert [row["trial"] for row in rows] == ["t000", "t001", "t002", "t003"]
    for row, (lr, seed) in zip(rows, [("0.005", "0"), ("0.005", "1"), ("0.01", "0"), ("0.01", "1")]):
        assert (row["optimizer.lr"], row["training.seed"], row["status"]) == (lr, seed, "done")
        metrics = RunDir.open(Path(row["run_dir"])).read_metrics()  # an ordinary run directory
        best = max(metrics, key=lambda r: r["val_accuracy"])
        assert float(row["best_val_accuracy"]) == best["val_accuracy"]
        assert float(row["test_accuracy"]) == best["test_accuracy"] and int(row["epochs"]) == 2
        assert f"lr = {lr}" in (Path(row["run_dir"]) / "config.toml").read_text()
    assert (folder / "plots" / "optimizer.lr.png").exists() and (folder / "plots" / "training.seed.png").exists()

    # an interrupted sweep: t001 stopped after its first epoch (records of epoch 1 only, config asking for 2)
    t001 = Path(rows[1]["run_dir"])
    finished = {row["trial"]: (Path(row["run_dir"]) / "metrics.csv").stat().st_mtime_ns for row in rows}
    import shutil

    shutil.rmtree(t001)
    one = CliRunner().invoke(main, ["train", "--model", "default", *TINY, "--set", "training.epochs=1",
                                    "--set", "optimizer.lr=0.005", "--set", "training.seed=1",
                                    "--runs-dir", str(t001.parent), "--data-dir", str(tmp_path / "data")])
    assert one.exit_code == 0, one.output
    [made] = [p for p in t001.parent.iterdir() if p.name.startswith("default-")]
    made.rename(t001)
    config = (t001 / "config.toml").read_text()
    (t001 / "config.toml").write_text(re.sub(r"(?m)^epochs = 1$", "epochs = 2", config))

    result = sweep(tmp_path, *args)
    assert result.exit_code == 0, result.output
    assert "4 trials (3 finished earlier)" in result.output
    _, again = table(tmp_path)
    assert [row["status"] for row in again] == ["done"] * 4
    for row in again:
        if row["trial"] != "t001":  # finished trials were not run again
            assert (Path(row["run_dir"]) / "metrics.csv").stat().st_mtime_ns == finished[row["trial"]]
    # t001 went on from its last.h5: one session from scratch, one after epoch 1, two epochs of records
    sessions = json.loads((t001 / "environment.json").read_text())
    assert [s["after_epoch"] for s in sessions] == [0, 1] and len(RunDir.open(t001).read_metrics()) == 2


def test_a_failing_trial_is_marked_failed_and_the_others_finish(tmp_path):
    result = sweep(tmp_path, "--grid", "input.dataset=digits,mnist", "--max-failures", "0")
    assert result.exit_code == 0, result.output
    _, rows = table(tmp_path)
    assert [(row["input.dataset"], row["status"]) for row in rows] == [("digits", "done"), ("mnist", "failed")]
    assert "snntrain download mnist" in rows[1]["error"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_ray_cluster_through_address(tmp_path):
    """A separate Ray cluster (head node with its own worker processes) started here, reached by --address."""
    ray_cli = str(Path(sys.executable).parent / "ray")
    port = free_port()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    start = subprocess.run([ray_cli, "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1",
                            "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats"],
                           capture_output=True, text=True, env=env, timeout=180)
    assert start.returncode == 0, start.stderr
    try:
        result = sweep(tmp_path, "--grid", "training.seed=0..1", "--address", f"127.0.0.1:{port}")
        assert result.exit_code == 0, result.output
        assert f"on 127.0.0.1:{port}" in result.output
        _, rows = table(tmp_path)
        assert [row["status"] for row in rows] == ["done", "done"]
    finally:
        subprocess.run([ray_cli, "stop", "--force"], capture_output=True, env=env, timeout=120)
