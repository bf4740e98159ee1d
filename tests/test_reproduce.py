"""`snntrain reproduce`: its plan, its errors, and (with real Fashion-MNIST) the --smoke path end to end: runs,
results table, keeping finished runs and resuming an interrupted one."""
from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from snntrain.cli import main
from snntrain.runs import RunDir
from snntrain.training.reproduce import EXPERIMENTS, overrides, select

FASHION = Path("/usr/share/datasets/fashion-mnist")


def run(*args: str):
    result = CliRunner().invoke(main, ["reproduce", *args])
    return result.exit_code, result.stdout, result.stderr


def test_selection_and_overrides():
    assert [e.name for e in select(["ttfs"])] == ["ttfs-fashion-mnist", "ttfs-mnist"]
    assert [e.name for e in select(["conv-fashion-mnist", "emnist"])] == ["conv-fashion-mnist", "emnist-emnist"]
    assert select([]) == list(EXPERIMENTS)
    sets = overrides(EXPERIMENTS[0], 2, smoke=False)
    assert sets == ['input.dataset="fashion-mnist"', "training.seed=2", "training.validation=5000"]
    assert overrides(EXPERIMENTS[0], 2, smoke=True)[:3] == sets and "training.epochs=1" in overrides(
        EXPERIMENTS[0], 2, smoke=True)


def test_a_runs_dir_that_cannot_be_made_is_one_line(tmp_path):
    """Before: a NotADirectoryError traceback from mkdir."""
    (tmp_path / "a-file").write_text("")
    runs = tmp_path / "a-file" / "runs"
    code, _, err = run("--only", "ttfs", "--runs-dir", str(runs), "--data-dir", str(tmp_path))
    assert code == 1 and err == f"error: cannot create folder {runs / 'reproduce-full'}: Not a " \
        "directory\n"


@pytest.mark.parametrize("args, message", [
    (("--only", "resnet"), "--only 'resnet': allowed are conv, count, emnist, fashion, ttfs or one of"),
    (("--only", ""), "--only '': allowed are"),
    (("--seeds", "a,b"), "--seeds 'a,b': give integers separated by commas"),
    (("--seeds", ","), "--seeds: give at least one seed"),
    # before: run folders were made, then the packaged model file was named as the error's source
    (("--seeds", "0,-1"), "--seeds: seed -1 is not in [0, 9223372036854775807]"),
])
def test_bad_arguments_are_one_line_usage_errors(args, message, tmp_path):
    code, _, err = run(*args, "--runs-dir", str(tmp_path), "--data-dir", str(tmp_path))
    assert code == 2 and err.startswith(f"error: {message}") and err.count("\n") == 1


def test_datasets_not_downloaded_are_listed_as_needed(tmp_path):
    code, out, _ = run("--only", "ttfs-mnist", "--runs-dir", str(tmp_path), "--data-dir", str(tmp_path / "data"))
    assert code == 0 and "ttfs-mnist: needs the dataset (snntrain download mnist)" in out
    rows = [r for r in csv.DictReader(open(tmp_path / "reproduce-full" / "results.csv")) if r["dataset"] == "mnist"]
    assert [(r["model"], r["seed"], r["status"]) for r in rows] == [(m, str(s), "needs the dataset")
                                                                    for m in ("ttfs", "count", "conv")
                                                                    for s in (0, 1, 2)]
    assert "| ttfs | mnist | | needs the dataset |" in (tmp_path / "reproduce-full" / "results.md").read_text()


@pytest.mark.skipif(not (FASHION / "train-images-idx3-ubyte.gz").exists(),
                    reason="real Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
def test_smoke_trains_every_configuration_keeps_finished_runs_and_resumes(tmp_path):
    data, runs = tmp_path / "data", tmp_path / "runs"
    download = CliRunner().invoke(main, ["download", "fashion-mnist", "--from", str(FASHION), "--data-dir",
                                         str(data)])
    assert download.exit_code == 0, download.output
    args = ("--smoke", "--seeds", "0", "--data-dir", str(data), "--runs-dir", str(runs))
    code, out, err = run(*args)
    assert code == 0, err
    out_dir = runs / "reproduce-smoke"
    rows = {r["model"] + "-" + r["dataset"]: r for r in csv.DictReader(open(out_dir / "results.csv"))}
    for name in ("ttfs-fashion-mnist", "fashion-fashion-mnist", "conv-fashion-mnist"):
        assert rows[name]["status"] == "done" and rows[name]["devices"].startswith("cpu, ")
        assert float(rows[name]["selected_test_accuracy"]) > 0.1  # above chance: 10 classes
        assert (out_dir / f"{name}-seed0" / "best.h5").exists()
    assert rows["ttfs-mnist"]["status"] == "needs the dataset"
    assert "(200 training images held out)" in (out_dir / "results.md").read_text()  # it said 5000
    # again: nothing is retrained
    code, out, _ = run(*args, "--only", "ttfs")
    assert code == 0 and "ttfs-fashion-mnist-seed0: done (1 epochs), kept" in out and "epoch 1/1" not in out
    # a run interrupted before its first epoch ended (config written, no records) resumes where it stands
    run_dir = out_dir / "ttfs-fashion-mnist-seed0"
    for name in ("metrics.csv", "best.h5", "last.h5"):
        (run_dir / name).unlink()
    # a run another process is training is left to it: a second `snntrain reproduce` takes the next run
    with RunDir.open(run_dir).hold():
        code, out, _ = run(*args, "--only", "ttfs", "--seeds", "0")
    assert code == 0 and (f"ttfs-fashion-mnist-seed0: skipped, {run_dir} is being trained by another process "
                          f"(pid {os.getpid()})") in out
    code, out, _ = run(*args, "--only", "ttfs")
    assert code == 0 and "ttfs-fashion-mnist-seed0: resuming" in out and "epoch 1/1" in out
    again = {r["model"] + "-" + r["dataset"]: r for r in csv.DictReader(open(out_dir / "results.csv"))}
    assert again["conv-fashion-mnist"] == rows["conv-fashion-mnist"]  # a call with --only keeps the other rows
    assert again["ttfs-fashion-mnist"]["selected_test_accuracy"] == rows["ttfs-fashion-mnist"][
        "selected_test_accuracy"]  # the same seed gives the same run


def test_the_table_selects_on_validation_and_shows_the_papers_selection_beside(tmp_path):
    """Epoch 2 has the best validation accuracy, epoch 3 the best test accuracy: the table's selected test accuracy
    is epoch 2's, and the paper's selection (best test of any epoch) is epoch 3's, in their own column."""
    from snntrain.config import load_model, to_toml
    from snntrain.training.reproduce import collect, write_results

    out = tmp_path / "reproduce-full"
    run_dir = RunDir.create(out, "ttfs", "ttfs-fashion-mnist-seed0")
    run_dir.write_config(to_toml(load_model("ttfs", overrides(EXPERIMENTS[0], 0, smoke=False)
                                            + ["training.epochs=3"])))
    # the first epoch also compiles: the time per epoch is the median, 12 s (the mean would say 17)
    run_dir.write_metrics([{"epoch": e, "val_accuracy": v, "test_accuracy": t, "epoch_seconds": s}
                           for e, v, t, s in [(1, 0.80, 0.79, 30.0), (2, 0.90, 0.85, 10.0), (3, 0.88, 0.87, 12.0)]])
    [row] = [r for r in collect([0], out, tmp_path, smoke=False) if r.experiment == EXPERIMENTS[0]]
    assert (row.status, row.best_epoch, row.selected_test_accuracy, row.best_test_accuracy) == ("done", 2, 0.85,
                                                                                              0.87)
    write_results(out, collect([0], out, tmp_path, smoke=False))
    assert "| ttfs | fashion-mnist | 3 | 1/1 | 90.00% | 85.00% | 87.00% | 12 |" in (out / "results.md").read_text()
    assert "(5000 training images held out)" in (out / "results.md").read_text()
    [csv_row] = [r for r in csv.DictReader(open(out / "results.csv")) if r["model"] == "ttfs" and r["seed"] == "0"
                 and r["dataset"] == "fashion-mnist"]
    assert (csv_row["selected_test_accuracy"], csv_row["best_test_accuracy"]) == ("0.8500", "0.8700")


def test_a_run_that_lacks_an_epoch_a_crash_cut_off_is_done_at_its_last_epoch(tmp_path):
    """A run of an older version may lack the row of an epoch that a crash cut off (here epoch 2 of 3): training
    keeps it as finished, and the table says "done" at epoch 3 (it counted rows: "epoch 2/3", for ever)."""
    from snntrain.config import load_model, to_toml
    from snntrain.training.reproduce import collect
    from snntrain.training.trainer import run_finished

    out = tmp_path / "reproduce-full"
    run_dir = RunDir.create(out, "ttfs", "ttfs-fashion-mnist-seed0")
    run_dir.write_config(to_toml(load_model("ttfs", overrides(EXPERIMENTS[0], 0, smoke=False)
                                            + ["training.epochs=3"])))
    run_dir.write_metrics([{"epoch": e, "val_accuracy": v, "test_accuracy": 0.8, "epoch_seconds": 10.0}
                           for e, v in [(1, 0.8), (3, 0.9)]])
    assert run_finished(run_dir.path)
    [row] = [r for r in collect([0], out, tmp_path, smoke=False) if r.experiment == EXPERIMENTS[0]]
    assert (row.status, row.epochs_done, row.best_epoch) == ("done", 3, 3)


def test_the_table_names_only_the_sessions_that_trained_an_epoch(tmp_path):
    """A session stopped before its first epoch ended (the next session starts after the same epoch) trained
    nothing the table reports, so its device and commit are not listed; the others are."""
    from snntrain.config import load_model, to_toml
    from snntrain.runs.environment import record_environment
    from snntrain.training.reproduce import collect

    out = tmp_path / "reproduce-full"
    run_dir = RunDir.create(out, "ttfs", "ttfs-fashion-mnist-seed0")
    run_dir.write_config(to_toml(load_model("ttfs", overrides(EXPERIMENTS[0], 0, smoke=False)
                                            + ["training.epochs=3"])))
    run_dir.write_metrics([{"epoch": e, "val_accuracy": 0.8, "test_accuracy": 0.8, "epoch_seconds": 10.0}
                           for e in (1, 2, 3)])
    for after, device, commit in [(0, "cpu, 1 thread", "a" * 40), (2, "cuda: NVIDIA H100", "b" * 40),
                                  (2, "cpu, 2 threads", "c" * 40 + "-dirty")]:
        record_environment(run_dir.environment_path, {"after_epoch": after, "device": device, "commit": commit,
                                                      "machine": {"processor": "AMD EPYC"}})
    [row] = [r for r in collect([0], out, tmp_path, smoke=False) if r.experiment == EXPERIMENTS[0]]
    assert row.devices == ["cpu, 1 thread, AMD EPYC", "cpu, 2 threads, AMD EPYC"]
    assert row.commits == ["a" * 12, "c" * 12 + "-dirty"]


@pytest.mark.parametrize("environment", ["{bad", "[1, 2]", '[{"device": 3, "commit": "a"}]', "[" * 100000])
def test_a_damaged_environment_json_leaves_the_row_with_unknown_provenance(tmp_path, environment):
    """A hand-edited or damaged environment.json: the row keeps its accuracies and says its device and commit are
    unknown (before: JSONDecodeError, AttributeError or RecursionError tracebacks)."""
    from snntrain.config import load_model, to_toml
    from snntrain.training.reproduce import collect

    out = tmp_path / "reproduce-full"
    run_dir = RunDir.create(out, "ttfs", "ttfs-fashion-mnist-seed0")
    run_dir.write_config(to_toml(load_model("ttfs", overrides(EXPERIMENTS[0], 0, smoke=False)
                                            + ["training.epochs=1"])))
    run_dir.write_metrics([{"epoch": 1, "val_accuracy": 0.8, "test_accuracy": 0.7, "epoch_seconds": 10.0}])
    run_dir.environment_path.write_text(environment)
    [row] = [r for r in collect([0], out, tmp_path, smoke=False) if r.experiment == EXPERIMENTS[0]]
    assert (row.status, row.selected_test_accuracy) == ("done", 0.7)
    assert len(row.devices) == 1 and row.devices[0].startswith("unknown (environment.json unreadable: ")
    assert row.commits == row.devices


@pytest.mark.parametrize("header, values, message", [
    ("epoch,test_accuracy,epoch_seconds", "1,0.5,1.0", "epoch 1 has no number in column val_accuracy ('missing')"),
    ("epoch,val_accuracy,test_accuracy,epoch_seconds", "1,abc,0.5,1",
     "epoch 1 has no number in column val_accuracy ('abc')"),
    ("epoch,val_accuracy,test_accuracy,epoch_seconds", "2,0.5,0.5,1\n1,0.5,0.5,1",
     "row 2 has epoch 1, where an epoch after 2 belongs"),
    ("epoch,val_accuracy,test_accuracy,epoch_seconds", "nan,0.5,0.5,1", "row 1 has epoch nan, where an epoch after 0 "
                                                                        "belongs"),
])
def test_a_damaged_metrics_csv_is_one_line_naming_the_file_and_the_repair(tmp_path, header, values, message):
    """A metrics.csv edited in a spreadsheet (a column gone, text where a number was, epochs renumbered): one line
    that names the file, what is wrong and how to rebuild it (before: KeyError or ValueError tracebacks, or a
    table built on the wrong rows)."""
    from snntrain.config import load_model, to_toml

    out = tmp_path / "reproduce-full"
    run_dir = RunDir.create(out, "ttfs", "ttfs-fashion-mnist-seed0")
    run_dir.write_config(to_toml(load_model("ttfs", overrides(EXPERIMENTS[0], 0, smoke=False))))
    run_dir.metrics_path.write_text(f"{header}\n{values}\n")
    code, _, err = run("--only", "ttfs", "--seeds", "0", "--runs-dir", str(tmp_path), "--data-dir", str(tmp_path))
    assert code == 1 and err == (f"error: metrics file {run_dir.metrics_path}: {message}; its run's last.h5 holds "
                                 f"the records too, and `snntrain train --resume {run_dir.path}` rewrites the file "
                                 "from it\n")


def test_runs_that_differ_from_the_model_file_are_named_in_the_table_and_when_kept(tmp_path):
    """A run keeps the settings it started with. When the packaged model file has changed since (here: seed 1 was
    started with another learning rate), the table says which setting differs and how many runs do, and
    `reproduce` says so when it keeps the finished run; a run started as the model file says "as the model file"."""
    from snntrain.config import load_model, to_toml
    from snntrain.training.reproduce import collect, reproduce, write_results

    out = tmp_path / "reproduce-full"
    for seed, extra in [(0, []), (1, ["optimizer.lr=0.01"])]:
        run_dir = RunDir.create(out, "ttfs", f"ttfs-fashion-mnist-seed{seed}")
        run_dir.write_config(to_toml(load_model("ttfs", overrides(EXPERIMENTS[0], seed, smoke=False) + extra)))
        epochs = load_model(run_dir.config_path).training.epochs
        run_dir.write_metrics([{"epoch": e, "val_accuracy": 0.8, "test_accuracy": 0.8, "epoch_seconds": 10.0}
                               for e in range(1, epochs + 1)])
    rows = {r.seed: r for r in collect([0, 1], out, tmp_path, smoke=False) if r.experiment == EXPERIMENTS[0]}
    assert rows[0].differences == [] and rows[1].differences == ["optimizer.lr = 0.01 (reference: 0.002)"]
    write_results(out, collect([0, 1], out, tmp_path, smoke=False))
    table = (out / "results.md").read_text()
    assert "| 1 of 2 runs differ from the model file |" in table
    assert "| ttfs-fashion-mnist-seed1 | done |" in table and table.count("| as the model file |") == 1
    assert "| optimizer.lr = 0.01 (reference: 0.002) |" in table
    by_seed = {r["seed"]: r for r in csv.DictReader(open(out / "results.csv")) if r["model"] == "ttfs"
               and r["dataset"] == "fashion-mnist"}
    assert by_seed["0"]["differs_from_model_file"] == ""
    assert by_seed["1"]["differs_from_model_file"] == "optimizer.lr = 0.01 (reference: 0.002)"

    data = tmp_path / "data"
    data.mkdir()
    (data / "fashion-mnist.npz").write_bytes(b"")  # finished runs are kept without reading their data
    said: list[str] = []
    reproduce(["ttfs-fashion-mnist"], [0, 1], False, "cpu", data, out, said.append)
    assert said[:3] == ["ttfs-fashion-mnist-seed0: done (30 epochs), kept",
                        "ttfs-fashion-mnist-seed1: was started with settings that differ from ttfs.toml's now, "
                        "and keeps them: optimizer.lr = 0.01 (reference: 0.002) (delete the folder to train it "
                        "afresh)",
                        "ttfs-fashion-mnist-seed1: done (30 epochs), kept"]
