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
from snntrain.errors import SnntrainError, UsageError
from snntrain.runs import RunDir
from snntrain.config.sweep import SweepPlan, load_sweep, merge_command_line, parse_grid

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
    assert grid == [("optimizer.lr", ("0.001", "0.002")), ("training.seed", ("0", "1", "2"))]
    trials = SweepPlan(grid=tuple(grid)).trials()
    assert len(trials) == 6 and trials[1] == ("optimizer.lr=0.001", "training.seed=1")
    for bad, message in [("lr", "give KEY=V1,V2"), ("training.seed=a..b", "A..B takes integers"),
                         ("training.seed=3..1", "is empty"), ("optimizer.lr=0.1,,0.2", "an empty value")]:
        with pytest.raises(UsageError, match=message):
            parse_grid([bad])
    with pytest.raises(UsageError, match="given twice"):
        parse_grid(["training.seed=0", "training.seed=1"])


SWEEP_FILE = """
[sweep]
model = "default"
set = ["training.epochs=2"]
metric = "val_loss"
samples = 3
seed = 7
scheduler = "asha"
grace_epochs = 1
time_budget = "90m"

[sweep.grid]
"training.seed" = "0..1"

[sweep.random]
"optimizer.lr" = { loguniform = [1e-4, 1e-2] }
"layers[0].theta" = { uniform = [0.5, 2.0] }
"layers[0].neurons" = { randint = [16, 32] }
"loss.type" = { choice = ["ttfs", "count"] }
"""


def write(tmp_path, text: str, name: str = "sweep.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_sweep_file_gives_a_fixed_list_of_trials(tmp_path):
    plan = load_sweep(write(tmp_path, SWEEP_FILE))
    assert (plan.model, plan.sets, plan.metric, plan.scheduler, plan.time_budget_s) == (
        "default", ("training.epochs=2",), "val_loss", "asha", 5400.0)
    trials = plan.trials()
    assert trials == load_sweep(write(tmp_path, SWEEP_FILE, "again.toml")).trials()  # the same on every call
    assert len(trials) == 2 * 3 and plan.keys == ["training.seed", "optimizer.lr", "layers[0].theta",
                                                  "layers[0].neurons", "loss.type"]
    values = [dict(o.split("=", 1) for o in trial) for trial in trials]
    assert [v["training.seed"] for v in values] == ["0", "1"] * 3
    for a, b in zip(values[::2], values[1::2]):  # each draw is combined with every grid point
        assert {k: v for k, v in a.items() if k != "training.seed"} == {k: v for k, v in b.items()
                                                                      if k != "training.seed"}
    draws = values[::2]
    assert len({v["optimizer.lr"] for v in draws}) == 3
    for v in draws:
        assert 1e-4 <= float(v["optimizer.lr"]) <= 1e-2 and 0.5 <= float(v["layers[0].theta"]) <= 2.0
        assert 16 <= int(v["layers[0].neurons"]) <= 32 and v["loss.type"] in ('"ttfs"', '"count"')
    other = load_sweep(write(tmp_path, SWEEP_FILE.replace("seed = 7", "seed = 8"), "other.toml"))
    assert other.trials() != trials and other.identity() != plan.identity()


def test_the_command_line_goes_on_top_of_the_sweep_file(tmp_path):
    plan = merge_command_line(load_sweep(write(tmp_path, SWEEP_FILE)), "ttfs", ("optimizer.beta1=0.8",),
                              ("training.seed=3,4,5",), metric="val_accuracy", scheduler=None, time_budget_s=None,
                              cpus_per_trial=2, max_failures=None)
    assert (plan.model, plan.metric, plan.scheduler, plan.cpus_per_trial) == ("ttfs", "val_accuracy", "asha", 2)
    assert plan.sets == ("training.epochs=2", "optimizer.beta1=0.8") and plan.grid == (
        ("training.seed", ("3", "4", "5")),)
    with pytest.raises(UsageError, match="draws it at random"):
        merge_command_line(plan, None, (), ("optimizer.lr=0.1",))
    with pytest.raises(UsageError, match="give --model"):
        merge_command_line(SweepPlan(), None, (), ("training.seed=0..1",))
    with pytest.raises(UsageError, match="nothing to sweep"):
        merge_command_line(SweepPlan(), "default", (), ())


def test_a_model_path_is_taken_from_the_sweep_files_folder(tmp_path):
    (tmp_path / "sweeps").mkdir()
    path = write(tmp_path / "sweeps", '[sweep]\nmodel = "../mine.toml"\n[sweep.grid]\n"training.seed" = [1]\n')
    assert load_sweep(path).model == str(tmp_path / "sweeps" / "../mine.toml")


@pytest.mark.parametrize("text, message", [
    ('[sweep]\nmodels = "x"', 'sweep.models = "x": unknown key; allowed: model, set,'),
    ('[other]\nx = 1', "a sweep file holds one [sweep] table"),
    ('[sweep]\nsamples = 0', "sweep.samples = 0: give an integer >= 1"),
    ('[sweep]\nmetric = "test_accuracy"', 'sweep.metric = "test_accuracy": allowed: val_accuracy, val_loss,'),
    ('[sweep]\nscheduler = "hyperband"', 'sweep.scheduler = "hyperband": allowed: none, asha'),
    ('[sweep]\ntime_budget = "soon"', 'sweep.time_budget = "soon": give seconds, or a duration such as "90m"'),
    ('[sweep]\ntime_budget = 0', "sweep.time_budget = 0: give a positive duration"),
    ('[sweep]\nset = ["epochs"]', 'sweep.set = ["epochs"]: give a list of "KEY=VALUE" strings'),
    ('[sweep.grid]\n"training.seed" = []', 'sweep.grid.training.seed = []: give a non-empty list'),
    ('[sweep.grid]\n"training.seed" = "2..1"', "sweep.grid.training.seed = \"2..1\": the range 2..1 is empty"),
    ('[sweep.grid]\n"training.seed" = "0..100000000000"', "the range holds 100,000,000,001 values; a sweep runs at "
                                                          "most 100,000 trials"),
    ('[sweep.random]\n"optimizer.lr" = { loguniform = [0, 1] }', "sweep.random.optimizer.lr = { loguniform = [0, 1] "
                                                                 "}: give one of { choice = [values] }"),
    ('[sweep.random]\n"training.seed" = { randint = [0.5, 3] }', "sweep.random.training.seed = { randint"),
    ('[sweep.random]\nlr = { normal = [0, 1] }', "sweep.random.lr = { normal = [0, 1] }: give one of"),
    ('[sweep.random]\nlr = { uniform = [2, 1] }', "sweep.random.lr = { uniform = [2, 1] }: give one of"),
    # beyond what numpy draws (before: ValueError and OverflowError tracebacks while drawing)
    ('[sweep.random]\nseed = { randint = [0, 18446744073709551616] }', "sweep.random.seed = { randint = [0, "
                                                                      "18446744073709551616] }: give one of"),
    ('[sweep.random]\nlr = { uniform = [-1e308, 1e308] }', "sweep.random.lr = { uniform = [-1e+308, 1e+308] }: "
                                                           "give one of"),
    ('[sweep.random]\nlr = { uniform = [0, 1' + "0" * 400 + '] }', "sweep.random.lr = { uniform = [0, 1000"),
    ('[sweep.grid]\n"training.seed" = "0..99999999999999999999"', "the range holds 100,000,000,000,000,000,000 "
                                                                  "values; a sweep runs at most 100,000 trials"),
    ('[sweep.grid]\nlr = [1]\n[sweep.random]\nlr = { choice = [2] }', "sweep.random.lr: also in [sweep.grid]"),
    ("[sweep\n", "invalid TOML"),
])
def test_a_bad_sweep_file_is_a_one_line_error_naming_file_and_key(tmp_path, text, message):
    path = write(tmp_path, text)
    result = CliRunner().invoke(main, ["sweep", str(path), "--model", "default", "--dry-run"])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.output
    assert result.stderr.startswith(f"error: {path}") and message in result.stderr, result.stderr


def test_bad_command_lines_are_one_line_usage_errors(tmp_path):
    for args, message in [(("--grid", "training.seed=0..1"), "give --model"),
                          (("--model", "default"), "nothing to sweep"),
                          (("--model", "default", "--grid", "training.seed=0", "--time-budget", "later"),
                           "--time-budget 'later': give seconds"),
                          ((str(tmp_path / "none.toml"),), "none.toml: no such sweep file"),
                          ((str(write(tmp_path, '[sweep]\ngrace_epochs = 3')), "--model", "default", "--grid",
                            "training.seed=0", "--set", "training.epochs=2", "--scheduler", "asha"),
                           "grace_epochs = 3: more than the trials' 2 epochs"),
                          (("--model", "default", "--grid", "training.seed=0", "--metric", "val_loss", "--set",
                            "training.validation=0"), "metric val_loss: trial t000 (training.seed=0) holds out no "
                                                      "validation samples"),
                          # before: ASHA raised Ray's 32-line traceback; without it, t001's row had no result
                          (("--model", "default", "--grid", "training.validation=100,0", "--scheduler", "asha",
                            "--metric", "val_accuracy"),
                           "metric val_accuracy: trial t001 (training.validation=0) holds out no validation"),
                          # before: the trial's value was the text "0..2"
                          (("--model", "default", "--grid", "training.seed=0..2,5"),
                           "--grid 'training.seed=0..2,5': a range A..B stands alone; list the values instead of "
                           "0..2 among others"),
                          # before: each accepted, repeating trials
                          (("--model", "default", "--grid", "optimizer.lr=0.01,0.02,1e-2"),
                           "trials t000 (optimizer.lr=0.01) and t002 (optimizer.lr=1e-2) train the same model"),
                          ((str(write(tmp_path, '[sweep]\nsamples = 3', "draws.toml")), "--model", "default",
                            "--grid", "training.seed=0..1"), "samples = 3: draws of [sweep.random] keys, but the "
                                                             "sweep draws none"),
                          (("--model", "default", "--grid", "training.seed=0..1", "--set", "training.seed=5"),
                           "set 'training.seed=5': the sweep sets training.seed in every trial"),
                          (("--model", "default", "--grid", "training.seed=0..1", "--set", "training={seed=5}"),
                           "set 'training={seed=5}': the sweep sets training.seed in every trial"),
                          # indices as loading resolves them (before the review: only a '.' was a boundary)
                          (("--model", "default", "--grid", "layers[0].theta=0.1,0.2", "--set",
                            "layers[-2].theta=2"), "set 'layers[-2].theta=2': the sweep sets layers[0].theta"),
                          (("--model", "default", "--grid", "layers[00].theta=0.1,0.2", "--set",
                            "layers[0]={type='dense',neurons=8,tau_s=0.1,theta=1.0}"),
                           "the sweep sets layers[00].theta in every trial"),
                          ((str(write(tmp_path, '[sweep]\nset = ["optimizer.lr=0.2"]\nsamples = 2\n[sweep.random]\n'
                                                '"optimizer.lr" = { uniform = [0.1, 0.2] }', "setlr.toml")),
                            "--model", "default"), "set 'optimizer.lr=0.2': the sweep sets optimizer.lr"),
                          # before: the trials' list was built until memory ran out
                          (("--model", "default", "--grid", "training.seed=0..100000000000"),
                           "--grid 'training.seed=0..100000000000': the range holds 100,000,000,001 values; a sweep "
                           "runs at most 100,000 trials"),
                          ((str(write(tmp_path, '[sweep]\nsamples = 100000000000\n[sweep.random]\n'
                                                '"training.seed" = { randint = [0, 9] }', "many.toml")), "--model", "default",
                            "--grid", "optimizer.lr=0.1,0.2"),
                           "the sweep has 200,000,000,000 trials (100,000,000,000 random draws x 2 grid points); a "
                           "sweep runs at most 100,000")]:
        result = CliRunner().invoke(main, ["sweep", *args, "--dry-run", "--runs-dir", str(tmp_path)])
        assert result.exit_code == 2 and result.stderr.count("\n") == 1 and message in result.stderr, result.output


def test_random_draws_may_repeat_a_model(tmp_path):
    """A random search over a few discrete values draws some twice: a draw, not a mistake (the review caught the
    first version of the repeat check refusing it)."""
    path = write(tmp_path, '[sweep]\nsamples = 6\n[sweep.random]\n"layers[0].neurons" = { choice = [64, 128] }')
    result = CliRunner().invoke(main, ["sweep", str(path), "--model", "default", "--dry-run", "--runs-dir",
                                       str(tmp_path / "runs")])
    assert result.exit_code == 0 and result.stdout.splitlines()[-1] == "6 trials, judged on val_accuracy", result.output


def test_trials_judged_on_training_accuracy_where_one_holds_out_no_validation(tmp_path):
    """(Before: the default metric followed trial t000 alone: val_accuracy, which t001 never reports.)"""
    result = CliRunner().invoke(main, ["sweep", "--model", "default", "--grid", "training.validation=100,0",
                                       "--dry-run", "--runs-dir", str(tmp_path)])
    assert result.exit_code == 0 and result.stdout.splitlines()[-1] == "2 trials, judged on train_accuracy"


def test_dry_run_lists_the_trials_without_training(tmp_path):
    result = CliRunner().invoke(main, ["sweep", str(write(tmp_path, SWEEP_FILE)), "--dry-run", "--runs-dir",
                                       str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 7 and lines[-1] == "6 trials, judged on val_loss"
    assert re.fullmatch(r".*/sweep-default-[0-9a-f]{10}/trials/t000: training.seed=0 optimizer.lr=\S+ "
                        r"layers\[0\].theta=\S+ layers\[0\].neurons=\d+ loss.type=\"(ttfs|count)\"", lines[0])
    assert not (tmp_path / "runs").exists()


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
    best = max(rows, key=lambda row: float(row["best_val_accuracy"]))  # the first of the best
    assert (f"best trial: {best['trial']} (optimizer.lr={best['optimizer.lr']} training.seed={best['training.seed']}): "
            f"val_accuracy {float(best['best_val_accuracy']):.6g} at epoch {best['best_epoch']}, test accuracy "
            f"{float(best['test_accuracy']):.2%}; {best['run_dir']}") in result.output, result.output

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


def test_a_trial_that_lacks_an_epoch_a_crash_cut_off_is_done_at_its_last_epoch(tmp_path):
    """A trial of an older version may lack the row of an epoch that a crash cut off: it is done at its last
    epoch, as training keeps it (the table counted rows: "epoch 1/2" for ever, with no error)."""
    from snntrain.config import load_model, to_toml
    from snntrain.training.sweep import collect, trial_dir

    path = trial_dir(tmp_path, 0)
    run = RunDir.create(path.parent, "default", path.name)
    run.write_config(to_toml(load_model("default", ["training.epochs=2"])))
    run.write_metrics([{"epoch": 2, "val_accuracy": 0.5, "test_accuracy": 0.4, "epoch_seconds": 1.0}])
    [row] = collect(tmp_path, SweepPlan(), [("optimizer.lr=0.1",)], {}, "val_accuracy")
    assert (row["status"], row["epochs"], row["best_epoch"], row["error"]) == ("done", 2, 2, "")


def test_a_failing_trial_is_marked_failed_and_the_others_finish(tmp_path):
    # weights drawn too large for float32 are refused when the trial builds its network, in its worker
    result = sweep(tmp_path, "--grid", "layers[0].init.std=1,1e30", "--max-failures", "0")
    assert result.exit_code == 1, result.output
    _, rows = table(tmp_path)
    assert [(row["layers[0].init.std"], row["status"]) for row in rows] == [("1", "done"), ("1e30", "failed")]
    # the trial's own one-line error, not the tail of Ray's traceback
    assert re.match(r"\S+/default.toml: the initial layer dense0: weights too large for float32: ", rows[1]["error"])
    assert result.output.splitlines()[-1].startswith(f"error: 1 of 2 trials failed (t001: {rows[1]['error']})")


def test_a_missing_dataset_is_refused_before_ray_starts(tmp_path):
    result = sweep(tmp_path, "--grid", "input.dataset=digits,mnist")
    assert result.exit_code == 1
    assert result.output == (f"error: dataset 'mnist' not found in {tmp_path / 'data'}; run `snntrain download mnist "
                             f"--data-dir {tmp_path / 'data'}`\n")
    assert not (tmp_path / "runs").exists()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_address_where_nothing_answers_is_a_one_line_error(tmp_path):
    """(Before: Ray retried for minutes, and convergence for ever.) A malformed one is a usage error."""
    port = free_port()
    for command, extra in (("sweep", ()), ("convergence", ("--grid", "0:1:0.5", "--repeats", "1", "--epochs", "1"))):
        for address in (f"127.0.0.1:{port}", f"ray://127.0.0.1:{port}"):
            args = ["--model", "default", "--grid", "training.seed=0..1"] if command == "sweep" else []
            got = CliRunner().invoke(main, [command, *args, *extra, "--address", address, "--runs-dir",
                                            str(tmp_path / "runs")])
            assert got.exit_code == 1 and got.stderr.count("\n") == 1, got.output
            assert f"cannot connect to Ray at '{address}': nothing answers at 127.0.0.1:{port}" in got.stderr
        got = CliRunner().invoke(main, [command, *args, *extra, "--address", "http://x", "--runs-dir",
                                        str(tmp_path / "runs")])
        assert got.exit_code == 2 and "cannot connect to Ray at 'http://x': expected host:port" in got.stderr
    assert not (tmp_path / "runs").exists()


def test_more_cpus_per_trial_than_this_machine_gives_ray_is_a_usage_error(tmp_path):
    """(Before: Ray waited for ever for the CPUs, warning once a minute.)"""
    result = sweep(tmp_path, "--grid", "training.seed=0..1", "--cpus-per-trial", "1000")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.output
    assert "cpus_per_trial = 1000: Ray has " in result.stderr and "CPUs on this machine" in result.stderr


def test_ctrl_c_stops_the_sweep_with_the_interrupted_exit_status(tmp_path):
    """Ray Tune catches Ctrl-C and returns as if the sweep had ended (before: exit 0); the table of what finished
    is written, and the sweep exits 130 as train does."""
    import signal
    import time

    runs = tmp_path / "runs"
    process = subprocess.Popen([sys.executable, "-m", "snntrain", "sweep", "--model", "default", *TINY, "--set",
                                "training.epochs=500", "--grid", "training.seed=0..3", "--runs-dir", str(runs),
                                "--data-dir", str(tmp_path / "data")], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not list(runs.glob("sweep-*/trials/t00*/metrics.csv")):  # a trial has trained an epoch
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 130, (out, err)
    assert err.splitlines()[-1] == "error: interrupted; 0 of 4 trials finished; run the same command again to go on"
    assert "4 unfinished (run the same command again to go on)" in out
    (folder,) = runs.glob("sweep-*")
    assert (folder / "results.csv").exists()


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


def test_asha_stops_a_trailing_trial_and_a_rerun_keeps_it_stopped(tmp_path):
    """One trial at a time (2 CPUs each on 2), the good learning rate first: at epoch 1, ASHA's rung holds the
    good trial's validation loss, and the trial that barely learns trails it and is stopped."""
    args = ("--grid", "optimizer.lr=0.01,0.00001", "--scheduler", "asha", "--metric", "val_loss",
            "--cpus-per-trial", "2", "--set", "training.epochs=3", "--set", "training.train_samples=300")
    result = sweep(tmp_path, *args)
    assert result.exit_code == 0, result.output
    assert "1 trials finished, 1 stopped early, 0 failed; results:" in result.output
    folder, rows = table(tmp_path)
    assert [(row["status"], row["epochs"]) for row in rows][0] == ("done", "3")
    assert rows[1]["status"] == "stopped early" and int(rows[1]["epochs"]) < 3
    stopped = json.loads((Path(rows[1]["run_dir"]) / "stopped.json").read_text())
    assert stopped["epoch"] == 1
    metrics = RunDir.open(Path(rows[1]["run_dir"])).read_metrics()
    assert float(rows[1]["best_val_loss"]) == min(r["val_loss"] for r in metrics)  # losses are minimised
    assert stopped["val_loss"] > float(rows[0]["best_val_loss"])
    assert (folder / "plots" / "optimizer.lr.png").exists()

    before = (Path(rows[1]["run_dir"]) / "metrics.csv").stat().st_mtime_ns
    result = sweep(tmp_path, *args)
    assert result.exit_code == 0 and "1 trials finished, 1 stopped early" in result.output, result.output
    assert (Path(rows[1]["run_dir"]) / "metrics.csv").stat().st_mtime_ns == before  # not resumed


def test_a_time_budget_stops_the_sweep_and_the_same_command_goes_on(tmp_path):
    args = ("--grid", "training.seed=0..3", "--set", "training.epochs=3")
    result = sweep(tmp_path, *args, "--time-budget", "1")
    assert result.exit_code == 0, result.output
    assert "for at most 1 s" in result.output and "unfinished (run the same command again to go on)" in result.output
    _, rows = table(tmp_path)
    assert [row["status"] for row in rows] != ["done"] * 4
    result = sweep(tmp_path, *args)
    assert result.exit_code == 0, result.output
    _, rows = table(tmp_path)
    assert [row["status"] for row in rows] == ["done"] * 4 and [row["epochs"] for row in rows] == ["3"] * 4


def test_the_example_sweep_file_is_valid(tmp_path):
    result = CliRunner().invoke(main, ["sweep", str(Path(__file__).parent.parent / "examples" / "sweep_ttfs.toml"),
                                       "--dry-run", "--runs-dir", str(tmp_path)])
    assert result.exit_code == 0 and result.stdout.splitlines()[-1] == "24 trials, judged on val_accuracy", \
        result.output


def test_a_clusters_workers_read_their_own_data(tmp_path, monkeypatch):
    """The dataset check is for this machine's Ray instance: with a cluster's address (given, or RAY_ADDRESS) the
    workers' data folders count, so the sweep goes on to connect; a dry run (a plan) checks no data."""
    from snntrain.config.sweep import SweepPlan
    from snntrain.training import sweep as sweeps

    class Connecting(Exception):
        pass

    def connect(address, command):
        raise Connecting(address)

    monkeypatch.setattr(sweeps, "connect", connect)
    plan = SweepPlan(model="default", grid=(("input.dataset", ("digits", "mnist")),))
    args = (plan, tmp_path / "runs", tmp_path / "data")
    with pytest.raises(Connecting):
        sweeps.run_sweep(*args, "ray://head:10001", "cpu", print)
    monkeypatch.setenv("RAY_ADDRESS", "ray://head:10001")
    with pytest.raises(Connecting):
        sweeps.run_sweep(*args, None, "cpu", print)
    monkeypatch.setenv("RAY_ADDRESS", "local")
    with pytest.raises(SnntrainError, match="dataset 'mnist' not found"):
        sweeps.run_sweep(*args, None, "cpu", print)
    assert sweeps.run_sweep(*args, None, "cpu", print, dry_run=True)
