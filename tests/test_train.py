"""`snntrain train` and `snntrain eval` end to end on the shipped digits data, on the CPU.

Every run goes through the real CLI (click's CliRunner, in this process, so the numba kernels compile once).
Small runs use 300 training samples (30 of them held out for validation) and 100 test samples for 2 epochs; one
slow test trains the full default model.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from snntrain.cli import main
from snntrain.config import load_model, to_toml
from snntrain.errors import SnntrainError
from snntrain.network.optimizer import Optimizer
from snntrain.runs import RunDir, load_checkpoint, save_checkpoint
from snntrain.training import trainer
from snntrain.training.epoch import EpochRunner

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "models" / "default.toml"
SMALL = ("--set", "training.train_samples=300", "--set", "training.test_samples=100")
TIMING = {"epoch_seconds", "test_seconds"}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class Result:
    """What one CLI call left: exit code, stdout, stderr."""

    def __init__(self, exit_code: int, stdout: str, stderr: str, exception: BaseException | None) -> None:
        self.exit_code, self.stdout, self.stderr, self.exception = exit_code, stdout, stderr, exception

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def error_line(self) -> str:
        """The one line the CLI reports a failure with (stderr's last line), after checking it is clean."""
        assert "Traceback" not in self.output, self.output
        # the CLI exits through sys.exit; any other exception escaped the error handling
        assert self.exception is None or isinstance(self.exception, SystemExit), repr(self.exception)
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        assert lines, self.output
        assert lines[-1].startswith("error: "), self.output
        return lines[-1]


def cli(*args: str | Path) -> Result:
    result = CliRunner().invoke(main, [str(arg) for arg in args])
    return Result(result.exit_code, result.stdout, result.stderr, result.exception)


def train(runs_dir: Path, *args: str | Path, model: Path | None = DEFAULT) -> Result:
    """`snntrain train --device cpu --runs-dir runs_dir [--model model] args...`."""
    extra = ("--model", model) if model is not None else ()
    return cli("train", "--device", "cpu", "--runs-dir", runs_dir, "--data-dir", runs_dir / "data", *extra, *args)


def only_run(runs_dir: Path) -> Path:
    """The one run directory under `runs_dir`."""
    runs = [path for path in runs_dir.iterdir() if path.is_dir() and path.name != "data"]
    assert len(runs) == 1, runs
    return runs[0]


def metrics(run: Path) -> list[dict]:
    return RunDir.open(run).read_metrics()


def selected(rows: list[dict]) -> dict:
    """The metrics row of the epoch best.h5 holds: the first of highest validation accuracy."""
    return max(rows, key=lambda row: (row["val_accuracy"], -row["epoch"]))


def without_timing(rows: list[dict]) -> list[dict]:
    return [{key: value for key, value in row.items() if key not in TIMING} for row in rows]


def assert_same_weights(path_a: Path, path_b: Path, optimizer: bool = False) -> None:
    a, b = load_checkpoint(path_a), load_checkpoint(path_b)
    assert a.epoch == b.epoch
    assert a.test_accuracy == b.test_accuracy
    assert a.layer_names == b.layer_names
    for name, wa, wb in zip(a.layer_names, a.weights, b.weights):
        np.testing.assert_array_equal(wa, wb, err_msg=f"layer {name} of {path_a} vs {path_b}")
    if optimizer:
        assert a.optimizer_state.keys() == b.optimizer_state.keys()
        for key in a.optimizer_state:
            np.testing.assert_array_equal(a.optimizer_state[key], b.optimizer_state[key], err_msg=key)
        assert a.rng_state == b.rng_state


def assert_same_run(run: Path, reference: Path) -> None:
    """Same metrics (timing aside), same best.h5 and last.h5 (weights, optimiser and RNG state)."""
    assert without_timing(metrics(run)) == without_timing(metrics(reference))
    assert_same_weights(run / "best.h5", reference / "best.h5")
    assert_same_weights(run / "last.h5", reference / "last.h5", optimizer=True)


def interrupt_training_call(monkeypatch, call: int, after_samples: int = 100) -> dict:
    """Make the `call`-th training pass (`EpochRunner.run` with an optimizer) raise KeyboardInterrupt after
    `after_samples` samples."""
    real = EpochRunner.run
    state = {"calls": 0, "raised": False}

    def run(self, order, optimizer=None, progress=None, refresh_s=0.5):
        if optimizer is not None:
            state["calls"] += 1
            if state["calls"] == call:
                inner = progress

                def progress(stats):
                    if inner is not None:
                        inner(stats)
                    if stats.samples >= after_samples:
                        state["raised"] = True
                        raise KeyboardInterrupt

        return real(self, order, optimizer, progress, refresh_s)

    monkeypatch.setattr(EpochRunner, "run", run)
    return state


# --- shared runs --------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """An uninterrupted 2-epoch run (seed 1)."""
    runs = tmp_path_factory.mktemp("reference")
    result = train(runs, *SMALL, "--set", "training.epochs=2")
    assert result.exit_code == 0, result.output
    return only_run(runs)


@pytest.fixture(scope="module")
def one_epoch(tmp_path_factory) -> Path:
    """A 1-epoch run of the same model, to be resumed (tests copy it first)."""
    runs = tmp_path_factory.mktemp("one-epoch")
    result = train(runs, *SMALL, "--set", "training.epochs=1")
    assert result.exit_code == 0, result.output
    return only_run(runs)


def copy_run(run: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy" / run.name
    shutil.copytree(run, target)
    return target


# --- 1. determinism -----------------------------------------------------------------------------------------------

def test_same_seed_gives_identical_metrics(reference, tmp_path):
    runs = tmp_path / "runs"
    result = train(runs, *SMALL, "--set", "training.epochs=2")
    assert result.exit_code == 0, result.output
    again = only_run(runs)
    rows, expected = metrics(again), metrics(reference)
    assert len(rows) == len(expected) == 2
    assert without_timing(rows) == without_timing(expected)
    assert all(TIMING <= row.keys() for row in rows)
    assert_same_weights(again / "best.h5", reference / "best.h5")
    assert_same_weights(again / "last.h5", reference / "last.h5", optimizer=True)


def test_other_seed_gives_other_metrics(reference, tmp_path):
    runs = tmp_path / "runs"
    result = train(runs, *SMALL, "--set", "training.epochs=1", "--set", "training.seed=2")
    assert result.exit_code == 0, result.output
    row = without_timing(metrics(only_run(runs)))[0]
    assert row != without_timing(metrics(reference))[:1][0]


# --- 2. resume ----------------------------------------------------------------------------------------------------

def test_resume_matches_uninterrupted_run(reference, one_epoch, tmp_path):
    run = copy_run(one_epoch, tmp_path)
    assert load_checkpoint(run / "last.h5").epoch == 1
    result = train(tmp_path / "unused", "--resume", run, "--set", "training.epochs=2", model=None)
    assert result.exit_code == 0, result.output
    assert f"resuming {run} after epoch 1" in result.stdout
    assert "epoch 1/" not in result.stdout  # epoch 1 is not trained again
    assert_same_run(run, reference)
    assert len((run / "log.txt").read_text().splitlines()) == 2
    assert not (tmp_path / "unused").exists()  # resuming creates no new run directory
    # the start and the resume each recorded what they ran on
    sessions = json.loads((run / "environment.json").read_text())
    assert [s["after_epoch"] for s in sessions] == [0, 1]
    for session in sessions:
        assert session["device"].startswith("cpu, ") and session["packages"]["numpy"] == np.__version__
        assert session["commit"] is None or re.fullmatch(r"[0-9a-f]{40}(-dirty)?", session["commit"])


def kill_after_write(monkeypatch, writes: int) -> None:
    """End the process-like run (SystemExit 137, as a SIGKILL would: no clean-up) right after its `writes`-th
    record write: best.h5, last.h5 or metrics.csv."""
    count = {"n": 0}

    def killing(write):
        def wrapper(*args, **kwargs):
            write(*args, **kwargs)
            count["n"] += 1
            if count["n"] == writes:
                raise SystemExit(137)
        return wrapper

    monkeypatch.setattr(trainer, "save_checkpoint", killing(trainer.save_checkpoint))
    monkeypatch.setattr(RunDir, "write_metrics", killing(RunDir.write_metrics))


@pytest.mark.parametrize("writes", range(1, 6))  # 2 epochs write best, last, metrics (best when it improves)
def test_kill_at_every_write_boundary_then_resume(reference, tmp_path, monkeypatch, writes):
    with monkeypatch.context() as patch:
        kill_after_write(patch, writes)
        killed = train(tmp_path, *SMALL, "--set", "training.epochs=2")
    assert killed.exit_code == 137, killed.output
    run = only_run(tmp_path)
    result = train(tmp_path / "unused", "--resume", run, model=None)
    assert result.exit_code == 0, result.output
    assert_same_run(run, reference)  # every epoch's row, in order, and the same checkpoints


@pytest.mark.parametrize("writes", range(1, 6))
def test_a_crash_never_leaves_best_h5_ahead_of_the_records(tmp_path, monkeypatch, writes):
    """Killed after any write, then resumed with other settings (a learning rate that changes nothing, so the epoch
    trained again does not improve): best.h5 holds the best epoch that last.h5 and metrics.csv record. Before, best.h5
    was replaced before last.h5 was written, so a kill between the two left best.h5 at an epoch the records never
    got, and a resume that did not write that epoch again kept it for good. And every epoch has its line in log.txt
    (before, the line came after the records, so a kill between them lost it)."""
    with monkeypatch.context() as patch:
        kill_after_write(patch, writes)
        killed = train(tmp_path, *SMALL, "--set", "training.epochs=2")
    assert killed.exit_code == 137, killed.output
    run = only_run(tmp_path)
    result = train(tmp_path / "unused", "--resume", run, "--set", "optimizer.lr=1e-12", model=None)
    assert result.exit_code == 0, result.output
    last, best = load_checkpoint(run / "last.h5"), load_checkpoint(run / "best.h5")
    rows = metrics(run)
    assert best.epoch == last.extra["best_epoch"] == selected(rows)["epoch"]
    assert best.test_accuracy == rows[best.epoch - 1]["test_accuracy"]
    assert not (run / ".best.h5.next").exists()
    logged = {int(line.split("/")[0].split()[1]) for line in (run / "log.txt").read_text().splitlines()
              if line.startswith("epoch ")}
    assert logged == {1, 2}


def test_resume_repairs_a_broken_metrics_file(one_epoch, reference, tmp_path):
    run = copy_run(one_epoch, tmp_path)
    (run / "metrics.csv").write_text('epoch,"train_loss\n1,2\n')  # an unterminated quote
    result = train(tmp_path / "unused", "--resume", run, "--set", "training.epochs=2", model=None)
    assert result.exit_code == 0, result.output
    assert_same_run(run, reference)


@pytest.mark.parametrize("kept", ["metrics.csv", "best.h5"])
def test_resume_without_last_h5_after_recorded_epochs_is_refused(one_epoch, tmp_path, kept):
    """A run whose last.h5 is gone, but which recorded an epoch, is not a run that crashed in its first epoch:
    resuming it is refused, and its records stay (before: it trained from epoch 1 without a word, replacing
    best.h5 with a worse epoch and dropping metrics rows)."""
    run = copy_run(one_epoch, tmp_path)
    (run / "last.h5").unlink()
    (run / ("best.h5" if kept == "metrics.csv" else "metrics.csv")).unlink()
    before = {path.name: path.read_bytes() for path in run.iterdir() if path.is_file()}
    result = train(tmp_path / "unused", "--resume", run, "--set", "training.epochs=2", model=None)
    assert result.exit_code == 1, result.output
    assert result.error_line() == (f"error: {run / 'last.h5'} is missing, but the run has recorded epochs "
                                   "(metrics.csv, best.h5): resuming would train from epoch 1 over them; put last.h5 "
                                   "back from a copy, or train a new run")
    assert {path.name: path.read_bytes() for path in run.iterdir() if path.is_file()} == before


@pytest.mark.parametrize("override, key, now, before", [
    ("training.validation=0.3", "training.validation", "0.3", "0.1"),
    ("training.seed=5", "training.seed", "5", "1"),
    ("training.test_samples=50", "training.test_samples", "50", "100"),
    # a whole table: the key it changes is named
    ("training={epochs=2,test_samples=50,train_samples=300,seed=1,validation=0.1}", "training.test_samples", "50",
     "100")])
def test_resume_cannot_change_the_runs_samples(one_epoch, tmp_path, override, key, now, before):
    """The samples a run trains, selects and tests on are fixed at its start (before: `--set training.validation`
    on a resume re-split the data, so the new validation set held samples trained on, and best.h5 was compared
    across two validation sets; a new seed was recorded but never used)."""
    run = copy_run(one_epoch, tmp_path)
    before_files = {path.name: path.read_bytes() for path in run.iterdir() if path.is_file()}
    result = train(tmp_path / "unused", "--resume", run, "--set", "training.epochs=2", "--set", override, model=None)
    assert result.exit_code == 2, result.output
    assert result.error_line().startswith(f"error: --set {override} on --resume changes {key} from {before} to "
                                          f"{now}; "), result.error_line()
    assert {path.name: path.read_bytes() for path in run.iterdir() if path.is_file()} == before_files


def test_resume_cannot_set_fewer_epochs_than_trained_and_a_finished_run_says_how_to_go_on(one_epoch, tmp_path):
    """(Before: `--set training.epochs=1` on a 2-epoch run exited 0 and wrote epochs = 1 into config.toml beside
    two epochs of records; a finished run printed only "done".)"""
    run = copy_run(one_epoch, tmp_path)
    assert train(tmp_path / "unused", "--resume", run, "--set", "training.epochs=2", model=None).exit_code == 0
    before_files = {path.name: path.read_bytes() for path in run.iterdir() if path.is_file()}
    result = train(tmp_path / "unused", "--resume", run, "--set", "training.epochs=1", model=None)
    assert result.exit_code == 2 and result.error_line() == ("error: training.epochs = 1 on --resume: the run has "
                                                             "trained 2 epochs; give 2 or more"), result.output
    assert {path.name: path.read_bytes() for path in run.iterdir() if path.is_file()} == before_files
    result = train(tmp_path / "unused", "--resume", run, model=None)
    assert result.exit_code == 0
    assert (f"{run} has trained all its 2 epochs; to train on, resume it with --set training.epochs=N (N > 2)"
            in result.output), result.output


def test_resume_set_may_make_a_run_valid_again(one_epoch, tmp_path):
    """A run whose config.toml this machine (or a newer version) refuses resumes with the --set that fixes it: the
    check of its samples took config.toml without the overrides and refused the very setting given."""
    run = copy_run(one_epoch, tmp_path)
    config = run / "config.toml"
    config.write_text(config.read_text().replace("max_spikes = 30\n", "max_spikes = 30000000\n", 1))
    result = train(tmp_path / "unused", "--resume", run, "--set", "training.epochs=1", model=None)
    assert result.exit_code == 2 and "the model needs about" in result.error_line(), result.output
    result = train(tmp_path / "unused", "--resume", run, "--set", "training.epochs=1", "--set",
                   "layers[0].max_spikes=30", model=None)
    assert result.exit_code == 0, result.output


def test_resume_with_mismatched_layer_is_one_line_error(one_epoch, tmp_path):
    run = copy_run(one_epoch, tmp_path)
    before = {path.name: path.read_bytes() for path in run.iterdir() if path.is_file()}
    result = train(tmp_path / "unused", "--resume", run, "--set", "training.epochs=2",
                   "--set", "layers[0].neurons=64", model=None)
    assert result.exit_code == 1, result.output
    line = result.error_line()
    assert "dense0" in line and "(128, 64)" in line and "(64, 64)" in line, line
    # the run directory is left as it was
    assert {path.name: path.read_bytes() for path in run.iterdir() if path.is_file()} == before


@pytest.mark.parametrize("edit, message", [
    (lambda w: w * 1e6, "layer dense0: weights too large for float32"),
    (lambda w: (w > 0).astype("S1"), "layer dense0 has weights of dtype |S1, where a checkpoint holds floats")])
def test_resume_from_weights_the_model_cannot_take_is_one_line_error_before_training(one_epoch, tmp_path, edit,
                                                                                      message):
    """Weights in last.h5 that the model cannot take (edited to a scale float32 cannot resolve, or of a non-numeric
    type) stop the resume before any work, naming the file, as the API refuses them (before: weights of float32
    rounding trained a whole epoch, then stopped "epoch 2: ... weights too large"; bytes became a ValueError)."""
    import h5py

    run = copy_run(one_epoch, tmp_path)
    with h5py.File(run / "last.h5", "r+") as f:
        weights = f["layers/dense0/weights"][()]
        del f["layers/dense0/weights"]
        f["layers/dense0/weights"] = edit(weights)
    before = {path.name: path.read_bytes() for path in run.iterdir() if path.is_file()}
    result = train(tmp_path / "unused", "--resume", run, "--set", "training.epochs=2", model=None)
    assert result.exit_code == 1, result.output
    line = result.error_line()
    assert line.startswith(f"error: {run / 'last.h5'}") and message in line, line
    assert {path.name: path.read_bytes() for path in run.iterdir() if path.is_file()} == before


def _damage(path: Path, what: str) -> None:
    """Edit last.h5's resume state in place, as a bad copy or a hand edit would."""
    import h5py

    with h5py.File(path, "r+") as f:
        if what == "no optimizer step":
            del f["optimizer/step"]
        elif what == "negative optimizer step":
            f["optimizer/step"][()] = -5
        elif what == "optimizer moment of another shape":
            del f["optimizer/m/0"]
            f["optimizer/m/0"] = np.zeros((2, 2))
        elif what == "best epoch not a number":
            f["extra"].attrs["best_epoch"] = "abc"
        elif what == "generator state of another kind":
            f.attrs["rng_state"] = json.dumps({"bit_generator": "nothing"})
        elif what == "records cut off":
            f["extra"].attrs["metrics_rows"] = '[{"epoch": 1'
        elif what == "records not a list":
            f["extra"].attrs["metrics_rows"] = '{"a": 1}'
        elif what == "records of another epoch":
            f["extra"].attrs["metrics_rows"] = '[{"epoch": 99}]'
        elif what == "records of a NaN epoch":
            f["extra"].attrs["metrics_rows"] = '[{"epoch": NaN}]'
        elif what == "epoch past its records":  # before: "resuming after epoch 99", nothing trained, exit 0
            f.attrs["epoch"] = 99
        elif what == "best epoch past the last":
            f["extra"].attrs["best_epoch"] = 5
        elif what == "records nested past the limit":
            f["extra"].attrs["metrics_rows"] = "[" * 100000 + "]" * 100000


@pytest.mark.parametrize("what", ["no optimizer step", "negative optimizer step", "optimizer moment of another shape",
                                  "best epoch not a number", "generator state of another kind", "records cut off",
                                  "records not a list", "records of another epoch", "records of a NaN epoch",
                                  "records nested past the limit", "epoch past its records",
                                  "best epoch past the last"])
def test_resume_from_a_damaged_resume_state_is_one_line_error(one_epoch, tmp_path, what):
    """A last.h5 that still reads as a checkpoint, but whose optimiser, generator or records were damaged, stops the
    resume with one line naming the file (before: KeyError, ValueError or AttributeError tracebacks, or epoch 99
    copied into metrics.csv), and the run directory is left as it was."""
    run = copy_run(one_epoch, tmp_path)
    _damage(run / "last.h5", what)
    before = {path.name: path.read_bytes() for path in run.iterdir() if path.is_file()}
    result = train(tmp_path / "unused", "--resume", run, "--set", "training.epochs=2", model=None)
    assert result.exit_code == 1, result.output
    line = result.error_line()
    assert f"{run / 'last.h5'}: its resume state" in line and "is damaged" in line, line
    assert {path.name: path.read_bytes() for path in run.iterdir() if path.is_file()} == before


# --- 3. Ctrl-C ----------------------------------------------------------------------------------------------------

def test_ctrl_c_then_resume(reference, one_epoch, tmp_path, monkeypatch):
    state = interrupt_training_call(monkeypatch, call=2)  # partway through epoch 2
    runs = tmp_path / "runs"
    result = train(runs, *SMALL, "--set", "training.epochs=2")
    assert state["raised"]
    assert result.exit_code == 130, result.output
    run = only_run(runs)
    line = result.error_line()
    assert "resume with" in line
    assert f"snntrain train --resume {run}" in line
    assert "epoch 1" in line
    assert [l for l in result.output.splitlines() if "resume with" in l] == [line]

    # what is on disk is epoch 1, complete: the same as a run that stopped after epoch 1
    for name in ("last.h5", "best.h5"):
        ckpt = load_checkpoint(run / name)
        assert ckpt.epoch == 1
        assert all(np.all(np.isfinite(w)) for w in ckpt.weights)
    assert_same_weights(run / "last.h5", one_epoch / "last.h5", optimizer=True)
    assert_same_weights(run / "best.h5", one_epoch / "best.h5")
    assert without_timing(metrics(run)) == without_timing(metrics(one_epoch))
    log = (run / "log.txt").read_text().splitlines()
    assert len(log) == 2 and log[0].startswith("epoch 1/2: ") and log[1] == line  # why it stopped, as stderr said
    assert not [p.name for p in run.rglob("*") if ".tmp-" in p.name]

    monkeypatch.undo()
    result = train(tmp_path / "unused", "--resume", run, model=None)
    assert result.exit_code == 0, result.output
    assert f"resuming {run} after epoch 1" in result.stdout
    assert_same_run(run, reference)
    assert len((run / "log.txt").read_text().splitlines()) == 3


def test_ctrl_c_in_resumed_run_with_override_then_plain_resume(reference, one_epoch, tmp_path, monkeypatch):
    """The Ctrl-C message says `--resume DIR`; that alone must finish a run resumed with `--set training.epochs`."""
    run = copy_run(one_epoch, tmp_path)
    state = interrupt_training_call(monkeypatch, call=1)
    result = train(tmp_path / "unused", "--resume", run, "--set", "training.epochs=2", model=None)
    assert state["raised"]
    assert result.exit_code == 130, result.output
    line = result.error_line()
    assert f"resume with: snntrain train --resume {run}" in line, line

    monkeypatch.undo()
    result = train(tmp_path / "unused", "--resume", run, model=None)
    assert result.exit_code == 0, result.output
    assert_same_run(run, reference)
    assert load_model(run / "config.toml").training.epochs == 2


# --- 4. NaN -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("layer", [0, 1])
def test_nan_weights_stop_the_run(layer, tmp_path, monkeypatch):
    real_prepare = Optimizer.prepare
    poison_step = 20  # 15 steps per epoch (300 samples, batches of 20): the 5th batch of epoch 2

    def prepare(self):  # the host part of every training step (its device part may be a replayed capture)
        real_prepare(self)
        if self.step_count == poison_step:
            target = self.layers[layer]
            weights = target.weights
            weights[3, 5] = np.nan
            target.set_weights(weights)

    monkeypatch.setattr(Optimizer, "prepare", prepare)
    runs = tmp_path / "runs"
    result = train(runs, *SMALL, "--set", "training.epochs=3")
    assert result.exit_code == 1, result.output
    run = only_run(runs)
    line = result.error_line()
    assert "epoch 2" in line, line
    assert f"layer dense{layer}" in line, line
    assert "intact" in line and str(run / "best.h5") in line, line

    best = load_checkpoint(run / "best.h5")
    assert best.epoch == 1
    assert all(np.all(np.isfinite(w)) for w in best.weights)
    last = load_checkpoint(run / "last.h5")
    assert last.epoch == 1
    assert all(np.all(np.isfinite(w)) for w in last.weights)
    rows = metrics(run)
    assert [row["epoch"] for row in rows] == [1]


# --- 5. the run directory -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("factor", [0.0, 0.1])
def test_dead_outputs_warn_and_synaptic_scaling_revives_them(factor, tmp_path):
    """Output weights all <= 0: no output neuron spikes, so none gets a gradient. Without synaptic scaling they
    stay silent (and every epoch warns); with it they fire again within the run."""
    dead_init = 'layers[1].init={distribution="uniform",low=-0.3,high=0.0}'
    result = train(tmp_path, *SMALL, "--set", "training.epochs=3", "--set", dead_init,
                   "--set", f"loss.silent_label_scaling={factor}")
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("warning: ")]
    rows = metrics(only_run(tmp_path))
    assert "output neurons 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 never spiked" in warnings[0]
    if factor == 0:
        assert len(warnings) == 3 and "--set loss.silent_label_scaling=0.1" in warnings[0]
        assert float(rows[-1]["test_silent_labels"]) == 1.0
    else:
        assert not any("epoch 3:" in line for line in warnings), warnings
        assert float(rows[-1]["test_silent_labels"]) < 0.5 and float(rows[-1]["test_accuracy"]) > 0.1


def test_a_run_stopped_by_divergence_says_why_in_its_log(tmp_path):
    """Plain gradient descent at lr 1e6 drives the weights past float32 in epoch 1: the run stops with one line,
    and log.txt keeps that line (before: only stderr had it, and log.txt did not exist)."""
    result = train(tmp_path, *SMALL, "--set", "training.epochs=2", "--set", "optimizer.type='sgd'",
                   "--set", "optimizer.lr=1e6")
    assert result.exit_code == 1, result.output
    line = result.error_line()
    assert line.startswith("error: epoch 1: ") and "no best weights were saved yet" in line, line
    assert (only_run(tmp_path) / "log.txt").read_text().splitlines() == [line]


def test_a_silent_hidden_layer_is_named(tmp_path):
    """A hidden layer that never spikes (a threshold no input reaches) is named, not only the silent outputs it
    causes, whose advice (synaptic scaling of the output) cannot help (before: "output neurons ... raise
    loss.silent_label_scaling", and following it only grew the output weights)."""
    result = train(tmp_path, *SMALL, "--set", "training.epochs=1", "--set", "layers[0].theta=1e6")
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("warning: ")]
    assert warnings == ["warning: epoch 1: layer dense0 never spiked on the training set: no spike reaches the layers "
                        "after it and no error the layers before; lower layers[0].theta or raise the initial weights "
                        "up to it"]


def test_run_directory_contents(reference):
    run = reference
    cfg = load_model(run / "config.toml")
    assert cfg.name == "default"
    assert (cfg.training.epochs, cfg.training.train_samples, cfg.training.test_samples) == (2, 300, 100)
    # config.toml is what to_toml writes (its header comment names the file it was resolved from)
    assert to_toml(cfg).splitlines()[1:] == (run / "config.toml").read_text().splitlines()[1:]
    assert replace(cfg, source="") == replace(load_model(DEFAULT, ("training.epochs=2",) + SMALL[1::2]), source="")

    rows = metrics(run)
    assert [row["epoch"] for row in rows] == [1, 2]
    expected = {"epoch", "lr", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "test_loss",
                "test_accuracy", "train_silent_labels", "test_silent_labels", "epoch_seconds", "test_seconds"}
    for name in ("dense0", "dense1"):
        expected |= {f"mean_spikes_{name}", f"silent_neurons_{name}", f"weight_norm_{name}"}
    for row in rows:
        assert set(row) == expected
        assert row["lr"] == 0.01
        assert all(np.isfinite(float(value)) for value in row.values())
        for key in ("train_accuracy", "val_accuracy", "test_accuracy", "train_silent_labels", "test_silent_labels",
                    "silent_neurons_dense0", "silent_neurons_dense1"):
            assert 0.0 <= row[key] <= 1.0, key
        assert row["epoch_seconds"] > 0 and row["test_seconds"] > 0

    log = (run / "log.txt").read_text().splitlines()
    assert len(log) == 2
    assert log[0].startswith("epoch 1/2: ") and log[1].startswith("epoch 2/2: ")
    assert log[0].endswith(" left") and "left" not in log[1]  # the time to the last epoch, until it is done

    last, best = load_checkpoint(run / "last.h5"), load_checkpoint(run / "best.h5")
    assert last.epoch == 2 and last.optimizer_state and last.rng_state
    assert best.optimizer_state is None and best.rng_state is None
    assert best.test_accuracy == selected(rows)["test_accuracy"]
    assert best.layer_names == last.layer_names == ["dense0", "dense1"]
    assert [w.shape for w in best.weights] == [(128, 64), (10, 128)]

    for name in ("loss", "accuracy", "spike_counts", "raster"):
        png = run / "plots" / f"{name}.png"
        assert png.read_bytes().startswith(PNG_SIGNATURE), png
    assert not [p.name for p in run.rglob("*") if ".tmp-" in p.name]


# --- 6. eval ------------------------------------------------------------------------------------------------------

def test_eval_run_directory(reference):
    result = cli("eval", reference, "--device", "cpu")
    assert result.exit_code == 0, result.output
    best = selected(metrics(reference))["test_accuracy"]
    assert f"test: 100 samples, accuracy {best:.2%}" in result.stdout

    assert result.stdout.startswith(f"weights: {reference / 'best.h5'}\n")  # which file was scored
    result = cli("eval", reference, "--device", "cpu", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["split"] == "test" and data["weights"] == str(reference / "best.h5")
    assert data["samples"] == 100
    assert data["accuracy"] == best
    confusion = np.array(data["confusion"])
    assert confusion.sum() == 100
    assert np.trace(confusion) == round(best * 100)
    assert set(data["mean_spikes"]) == {"dense0", "dense1"}


def test_eval_splits_are_the_runs_own(reference):
    """--split train scores the samples training used and validation those held out (best.h5 scores the selected
    epoch's val_accuracy there); train used to score both together."""
    for split, samples in [("train", 270), ("validation", 30)]:
        result = cli("eval", reference, "--device", "cpu", "--split", split, "--json")
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert (data["split"], data["samples"]) == (split, samples)
    assert data["accuracy"] == selected(metrics(reference))["val_accuracy"]
    config = reference / "best.h5"  # the model is the one best.h5 holds
    result = cli("eval", reference, "--device", "cpu", "--split", "validation", "--set", "training.validation=0")
    assert (result.exit_code, result.stderr) == (2, f"error: {config}: split 'validation': the model holds out no "
                                                    "validation samples (training.validation = 0)\n")
    result = cli("eval", reference, "--device", "cpu", "--split", "validation", "--set", "training.validation=0.001")
    assert (result.exit_code, result.stderr) == (2, f"error: {config}: training.validation = 0.001: holds out none "
                                                    "of the 300 training samples; give a larger fraction, a count, or "
                                                    "0 for no validation set\n")


def test_eval_scores_best_h5_with_the_model_that_trained_it(reference, tmp_path):
    """`--resume --set` rewrites config.toml for the epochs to come (here a finished run's theta), but best.h5 was
    trained with the model it holds: eval scores it with that one, as export and the API do, and prints the
    accuracy metrics.csv recorded (before: config.toml's model, another accuracy). --weights alone works too."""
    run = copy_run(reference, tmp_path)
    config = run / "config.toml"
    config.write_text(config.read_text().replace("theta = 0.2\n", "theta = 0.5\n", 1))
    assert load_model(config).layers[0].theta == 0.5
    expected = selected(metrics(run))["test_accuracy"]
    for args in [(run,), ("--weights", run / "best.h5")]:
        result = cli("eval", *args, "--device", "cpu", "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["accuracy"] == expected
    result = cli("eval", "--weights", run / "best.h5", "--model", config, "--device", "cpu", "--json")
    assert json.loads(result.stdout)["accuracy"] != expected  # another model, asked for


def test_show_a_run_directory_and_a_checkpoint(reference, tmp_path):
    """`show` prints a run's model (config.toml) and a checkpoint's (the model it holds); both were errors. An .h5
    that is no checkpoint is a model-file error (exit 2)."""
    for target, source in [(reference, reference / "config.toml"), (reference / "best.h5", reference / "best.h5")]:
        result = cli("show", "--model", target)
        assert result.exit_code == 0, result.output
        assert f"source      {source}\n" in result.stdout and "parameters" in result.stdout
    (tmp_path / "fake.h5").write_text("hi\n")
    result = cli("show", "--model", tmp_path / "fake.h5")
    assert result.exit_code == 2 and result.error_line().startswith(f"error: cannot read checkpoint {tmp_path}")


def test_eval_explicit_weights_and_model(reference):
    result = cli("eval", "--weights", reference / "last.h5", "--model", reference / "config.toml",
                 "--device", "cpu", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["accuracy"] == metrics(reference)[-1]["test_accuracy"]


def test_eval_silent_output_counts_every_sample(reference, tmp_path):
    """A network whose output never spikes predicts nothing: 0% everywhere, and every sample still counted."""
    ckpt = load_checkpoint(reference / "best.h5")
    ckpt.weights[1] = np.full_like(ckpt.weights[1], -1.0)  # output layer only inhibited: never spikes
    silent = tmp_path / "silent.h5"
    save_checkpoint(silent, ckpt)
    result = cli("eval", "--weights", silent, "--model", reference / "config.toml", "--device", "cpu", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["accuracy"] == 0.0
    assert data["silent_labels"] == 1.0
    assert np.array(data["confusion"]).sum() == data["samples"] == 100
    present = np.array(data["confusion"]).sum(axis=1) > 0
    assert [a for a, p in zip(data["per_class_accuracy"], present) if p] == [0.0] * int(present.sum())


def test_eval_model_with_other_hidden_size(reference, tmp_path):
    other = tmp_path / "wide.toml"
    other.write_text(to_toml(load_model(DEFAULT, ("layers[0].neurons=64",))))
    result = cli("eval", "--weights", reference / "best.h5", "--model", other, "--device", "cpu")
    assert result.exit_code == 1, result.output
    line = result.error_line()
    assert "dense0" in line and "(128, 64)" in line and "(64, 64)" in line, line
    assert len(result.stderr.strip().splitlines()) == 1


def test_eval_without_run_or_weights(tmp_path):
    result = cli("eval", "--device", "cpu")
    assert result.exit_code == 2  # a usage error
    assert result.error_line() == "error: give a run directory, or --weights FILE.h5"
    assert len(result.stderr.strip().splitlines()) == 1
    result = cli("eval", "--weights", tmp_path / "best.h5", "--device", "cpu")
    assert result.exit_code == 1
    result.error_line()
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_path_that_is_no_run_is_a_usage_error_and_hints_say_what_to_do(one_epoch, tmp_path):
    """(Before: exit 1 for a run directory that is none, "checkpoint .../best.h5 does not exist" for a run without a
    finished epoch, and no word of --resume for a run given as a model file.)"""
    for args in (("eval", tmp_path / "none"), ("eval", tmp_path), ("export", tmp_path, "-o", tmp_path / "m.nir"),
                 ("train", "--resume", tmp_path)):
        result = cli(*args, "--device", "cpu") if args[0] != "export" else cli(*args)
        assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1, (args, result.output)
    assert cli("eval", tmp_path).error_line() == f"error: {tmp_path} is not a run directory (it has no config.toml)"
    run = copy_run(one_epoch, tmp_path)
    result = train(tmp_path / "unused", model=run)
    assert result.exit_code == 2 and result.error_line().endswith(
        f"{run}: is a directory, not a model file (a run directory: --resume it, or give its config.toml)")
    result = cli("eval", run / "best.h5", "--device", "cpu")  # before: click's "Directory ... is a file."
    assert result.exit_code == 2 and result.error_line() == (f"error: {run / 'best.h5'} is a file; RUN_DIR is a run "
                                                             f"directory (to score a checkpoint: --weights "
                                                             f"{run / 'best.h5'})")
    for name in ("best.h5", "last.h5", "metrics.csv"):
        (run / name).unlink()
    result = cli("eval", run, "--device", "cpu")
    assert result.exit_code == 1 and result.error_line() == (f"error: {run} has no best.h5: no epoch has completed yet "
                                                             f"(resume it with snntrain train --resume {run})")


def test_no_progress_bar_lines_where_stderr_is_no_terminal(tmp_path):
    """(Before: click's bar, which cannot redraw a file or pipe, left a bare "epoch N" line per epoch in logs.)"""
    result = train(tmp_path, *SMALL, "--set", "training.epochs=2")
    assert result.exit_code == 0 and result.stderr == "", result.stderr
    assert [line.split(":")[0] for line in result.stdout.splitlines() if line.startswith("epoch ")] == ["epoch 1/2",
                                                                                                       "epoch 2/2"]


def test_eval_of_non_finite_weights_is_an_error(reference, tmp_path):
    ckpt = load_checkpoint(reference / "best.h5")
    ckpt.weights[1][2, 3] = np.nan
    save_checkpoint(tmp_path / "nan.h5", ckpt)
    result = cli("eval", "--weights", tmp_path / "nan.h5", "--model", reference / "config.toml", "--device", "cpu")
    assert result.exit_code == 1
    assert result.error_line() == f"error: {tmp_path / 'nan.h5'}: layer dense1 has non-finite weights (NaN or inf)"


def test_failed_data_load_leaves_no_run_directory(tmp_path):
    runs = tmp_path / "runs"
    result = train(runs, "--set", "input.dataset=mnist")  # not downloaded
    assert result.exit_code == 1
    assert "dataset 'mnist' not found" in result.error_line()
    assert not runs.exists() or not any(runs.iterdir())


HOLD = """
import sys, time
from pathlib import Path
from snntrain.runs import RunDir
held = RunDir.open(Path(sys.argv[1])).hold()  # kept: a collected generator would let go
held.__enter__()
print("held", flush=True)
time.sleep(600)
"""


def test_a_process_that_ignores_ctrl_c_keeps_ignoring_it_while_writing():
    """`nohup snntrain train ... &` ignores SIGINT; the deferral around the record writes installed its own handler
    and raised KeyboardInterrupt for a SIGINT that arrived during a write (before: the training stopped)."""
    import signal

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with trainer.deferred_interrupt():
            os.kill(os.getpid(), signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    except KeyboardInterrupt:  # caught, or it would end the whole test run
        pytest.fail("a SIGINT the process ignores stopped it")
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_full_disk_when_the_run_is_locked_is_one_line(tmp_path, monkeypatch):
    """Before: an OSError traceback from writing the pid into .lock."""
    run = RunDir.create(tmp_path, "m")

    def full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "pwrite", full)
    with pytest.raises(SnntrainError, match=f"^cannot write {run.lock_path}: No space left on device$"):
        with run.hold():
            pass


def test_a_named_run_killed_while_writing_its_config_starts_afresh(tmp_path):
    """A kill while config.toml was being written leaves its temporary file: `snntrain reproduce` (train_named)
    refused the folder as "not a run started here" until someone deleted it by hand."""
    from snntrain.backends import get_backend

    path = tmp_path / "runs" / "named"
    (path / "plots").mkdir(parents=True)
    (path / ".config.toml.tmp-999999999").write_text("name = 'half")
    done = trainer.train_named(path, DEFAULT, (*SMALL[1::2], "training.epochs=1"), get_backend("cpu"),
                               tmp_path / "data", lambda line: None)
    assert done == "trained" and (path / "last.h5").exists()


def test_a_run_being_trained_is_not_resumed_by_a_second_process(one_epoch, tmp_path):
    """Two processes writing one run would interleave their epochs; the second is refused in one line, and the
    lock of a killed holder goes with it."""
    run = copy_run(one_epoch, tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        result = train(tmp_path / "unused", "--resume", run, "--set", "training.epochs=2", model=None)
        assert result.exit_code == 1
        assert result.error_line() == (f"error: {run} is being trained by another process (pid {holder.pid}); "
                                       "wait for it to finish or stop it")
        assert len(metrics(run)) == 1
    finally:
        holder.kill()
        holder.wait()
    result = train(tmp_path / "unused", "--resume", run, "--set", "training.epochs=2", model=None)
    assert result.exit_code == 0, result.output
    assert len(metrics(run)) == 2


def test_resume_removes_temp_files_of_dead_writers(one_epoch, tmp_path):
    run = copy_run(one_epoch, tmp_path)
    stale, live = run / ".best.h5.tmp-999999999", run / f".metrics.csv.tmp-{os.getppid()}"
    stale_plot = run / "plots" / ".raster.png.tmp-999999999"  # before: plots/ was never looked at
    for path in (stale, live, stale_plot):
        path.write_bytes(b"being written")
    result = train(tmp_path / "unused", "--resume", run, "--set", "training.epochs=2", model=None)
    assert result.exit_code == 0, result.output
    assert not stale.exists() and live.exists() and not stale_plot.exists()


@pytest.fixture
def tiny_disk(tmp_path):
    """A 300 kB tmpfs: one epoch of the default model fits, the next checkpoint does not (needs root)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode().strip() or done.returncode}")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_full_disk_is_one_line_and_keeps_the_last_complete_epoch(tiny_disk):
    """In a process of its own: before checkpoints were built in memory, h5py's failed flush segfaulted."""
    snntrain = Path(sys.executable).with_name("snntrain")
    done = subprocess.run([str(snntrain), "train", "--model", str(DEFAULT), "--device", "cpu", "--runs-dir",
                           str(tiny_disk), "--set", "training.epochs=3"], capture_output=True, text=True, timeout=600)
    errors = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("epoch ")]
    assert done.returncode == 1, done.stderr
    assert len(errors) == 1 and errors[0].endswith("No space left on device"), errors
    run = only_run(tiny_disk)
    last = load_checkpoint(run / "last.h5")
    assert [row["epoch"] for row in metrics(run)] == list(range(1, last.epoch + 1)) and last.epoch >= 1
    assert not list(run.glob(".*.tmp-*"))


# --- 7. bad input -------------------------------------------------------------------------------------------------

def test_train_missing_model_file(tmp_path):
    runs = tmp_path / "runs"
    result = train(runs, model=tmp_path / "missing.toml")
    assert result.exit_code == 2, result.output
    line = result.error_line()
    assert "missing.toml" in line
    assert len(result.stderr.strip().splitlines()) == 1
    assert not runs.exists() or not any(runs.iterdir())


def test_train_needs_model_or_resume(tmp_path):
    runs = tmp_path / "runs"
    result = train(runs, model=None)
    assert result.exit_code != 0, result.output
    line = result.error_line()
    assert "--model" in line and "--resume" in line
    assert len(result.stderr.strip().splitlines()) == 1
    assert not runs.exists() or not any(runs.iterdir())


@pytest.mark.parametrize("init, message", [
    # a setting float32 cannot hold is refused as such; one it holds may still draw weights it cannot
    ("layers[0].init.mean=-1e300", "--set layers[0].init.mean = -1e+300: beyond float32, the model's precision"),
    ('layers[1].init={ distribution = "uniform", low = 0.0, high = 1e39 }', "--set layers[1].init.high = 1e+39: "
                                                                            "beyond float32"),
    ("layers[0].init.std=3e38", "layers[0].init: its weights (normal, mean 0.5, std 3e+38) are not finite in float32"),
])
def test_initial_weights_that_overflow_are_a_model_error(tmp_path, init, message):
    """Before: training began, and after the first epoch said the weights 'became non-finite'."""
    runs = tmp_path / "runs"
    result = train(runs, "--set", init)
    assert result.exit_code == 2 and result.error_line().startswith(f"error: {DEFAULT}: {message}"), result.output
    assert not runs.exists() or not any(p.name != "data" for p in runs.iterdir())


def test_resume_with_a_model_too_is_a_usage_error(one_epoch, tmp_path):
    """A resumed run trains the model in its own config.toml: a --model beside --resume was silently ignored."""
    run = copy_run(one_epoch, tmp_path)
    before = {path.name: path.read_bytes() for path in run.iterdir() if path.is_file()}
    result = train(tmp_path / "unused", "--resume", run)
    assert result.exit_code == 2 and result.error_line().startswith(
        "error: give --model for a new run or --resume for an old one, not both"), result.output
    assert {path.name: path.read_bytes() for path in run.iterdir() if path.is_file()} == before


def test_resume_missing_run_directory(tmp_path):
    result = train(tmp_path / "runs", "--resume", tmp_path / "nope", model=None)
    assert result.exit_code == 2, result.output  # a usage error, as click's own path checks
    assert "nope" in result.error_line()
    assert len(result.stderr.strip().splitlines()) == 1


# --- 8. accuracy --------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_default_model_reaches_90_percent(tmp_path):
    runs = tmp_path / "runs"
    result = train(runs)
    assert result.exit_code == 0, result.output
    run = only_run(runs)
    rows = metrics(run)
    assert len(rows) == 30
    # best.h5: the first epoch of highest validation accuracy (the test set is never used to select)
    chosen = selected(rows)
    ckpt = load_checkpoint(run / "best.h5")
    assert ckpt.epoch == chosen["epoch"] and ckpt.test_accuracy == chosen["test_accuracy"]
    assert chosen["test_accuracy"] >= 0.90, [(row["val_accuracy"], row["test_accuracy"]) for row in rows]
    evaluation = cli("eval", run, "--device", "cpu", "--json")
    assert evaluation.exit_code == 0, evaluation.output
    data = json.loads(evaluation.stdout)
    assert data["samples"] == 360
    assert data["accuracy"] == chosen["test_accuracy"]


def test_callbacks_see_every_batch_and_epoch(tmp_path):
    """User callbacks get the running statistics after batches and each epoch's metrics row, in order, and the
    end of training; the rows are those of metrics.csv."""
    from snntrain.backends import get_backend
    from snntrain.training.callbacks import Callback

    class Recorder(Callback):
        def __init__(self) -> None:
            self.events: list = []

        def on_epoch_begin(self, epoch, samples):
            self.events.append(("begin", epoch, samples))

        def on_batch_end(self, epoch, stats):
            self.events.append(("batch", epoch, stats.samples))

        def on_epoch_end(self, epoch, row):
            self.events.append(("end", epoch, dict(row)))

        def on_train_end(self):
            self.events.append(("stop",))

    recorder, lines = Recorder(), []
    run = trainer.train(DEFAULT, ("training.train_samples=300", "training.test_samples=100", "training.epochs=2",
                                  "training.validation=0",
                                  "training.batch_size=100"), get_backend("cpu"), tmp_path / "data", tmp_path, None,
                        lines.append, [recorder])
    kinds = [event[0] for event in recorder.events]
    assert kinds == ["begin", "batch", "batch", "batch", "end"] * 2 + ["stop"]
    assert [e[2] for e in recorder.events if e[0] == "batch"] == [100, 200, 300] * 2
    rows = [e[2] for e in recorder.events if e[0] == "end"]
    assert without_timing(rows) == without_timing(metrics(run.path))
    assert any(line.startswith("epoch 2/2") for line in lines)


def test_only_the_cli_imports_click():
    """The library (training loop, config, data, ...) takes plain values and callbacks; click stays in cli/."""
    package = ROOT / "snntrain"
    offenders = [str(path.relative_to(ROOT)) for path in package.rglob("*.py")
                 if path.parent.name != "cli" and re.search(r"^\s*(import click|from click)", path.read_text(),
                                                             re.MULTILINE)]
    assert offenders == []


def test_checkpoints_describe_their_weights(reference, tmp_path):
    """Each layer of best.h5 and last.h5 says what its weights are (type, axes, neuron parameters, units), and the
    file says how inputs were encoded and numbered; the weights have the shape the layout names."""
    import h5py

    from snntrain.config import layer_shapes

    cfg = load_model(reference / "config.toml")
    for name in ("best.h5", "last.h5"):
        with h5py.File(reference / name, "r") as f:
            assert f.attrs["input_encoding"] == "latency" and f.attrs["time_unit"] == "s"
            assert f.attrs["t_window"] == cfg.input.t_window and list(f.attrs["input_shape"]) == list(cfg.input.shape)
            assert f.attrs["precision"] == cfg.precision and "(x, y, c)" in f.attrs["neuron_order"]
            groups = sorted(f["layers"].values(), key=lambda g: g.attrs["index"])
            n_in = int(np.prod(cfg.input.shape))
            for group, layer, shape in zip(groups, cfg.layers, layer_shapes(cfg)):
                assert group.attrs["type"] == "dense" and group.attrs["weight_layout"].startswith("[out, in]")
                assert group["weights"].shape == (layer.neurons, n_in)
                assert list(group.attrs["output_shape"]) == list(shape)
                for key in ("tau_s", "theta", "delta_theta", "max_spikes"):
                    assert group.attrs[key] == getattr(layer, key)
                assert group.attrs["tau_mem"] == 2 * layer.tau_s
                n_in = layer.neurons


def test_conv_and_pool_layers_are_described():
    from snntrain.network.build import describe_layers

    network, layers = describe_layers(load_model(ROOT / "models" / "conv.toml"))
    assert [layer["type"] for layer in layers] == ["conv", "pool", "conv", "pool", "dense", "dense"]
    assert layers[0]["weight_layout"].startswith("[out_c, kx, ky, in_c]") and layers[0]["max_spikes"] == 1
    assert layers[1]["size"] == 2 and "tau_s" not in layers[1]
    assert network["input_shape"] == [28, 28, 1]


def test_validation_split_selects_best_and_never_looks_at_test(tmp_path):
    """`[training] validation` holds out the last samples of the training split; metrics.csv reports train,
    validation and test; best.h5 is the epoch of highest validation accuracy, whatever the test accuracy."""
    runs = tmp_path / "runs"
    result = train(runs, "--set", "training.train_samples=400", "--set", "training.test_samples=100",
                   "--set", "training.validation=100", "--set", "training.epochs=3")
    assert result.exit_code == 0, result.output
    assert "cpu, 300 training, 100 validation and 100 test samples)" in result.output
    run = only_run(runs)
    rows = metrics(run)
    assert all(0 <= row["val_accuracy"] <= 1 and "val_loss" in row for row in rows)
    chosen = selected(rows)
    assert load_checkpoint(run / "best.h5").epoch == chosen["epoch"]
    assert f"best.h5 is epoch {int(chosen['epoch'])} (highest val accuracy" in result.output
    fraction = train(runs / "f", "--set", "training.train_samples=400", "--set", "training.test_samples=100",
                     "--set", "training.validation=0.25", "--set", "training.epochs=1")
    assert "cpu, 300 training, 100 validation and 100 test samples)" in fraction.output


def test_without_validation_best_is_chosen_on_training_accuracy(tmp_path):
    runs = tmp_path / "runs"
    result = train(runs, *SMALL, "--set", "training.validation=0", "--set", "training.epochs=2")
    assert result.exit_code == 0, result.output
    rows = metrics(only_run(runs))
    assert "val_accuracy" not in rows[0]
    chosen = max(rows, key=lambda row: (row["train_accuracy"], -row["epoch"]))
    assert load_checkpoint(only_run(runs) / "best.h5").epoch == chosen["epoch"]
    assert "(highest train accuracy" in result.output


@pytest.mark.parametrize("value, message", [
    ("300", "training.validation = 300: holds out 300 of the 300 training samples; it must leave some to train on"),
    # it used to train, selecting on training accuracy with no val columns, while a sweep judged on val_accuracy
    ("0.001", "training.validation = 0.001: holds out none of the 300 training samples; give a larger fraction"),
    ("-1", "--set training.validation = -1: must be a number of samples >= 0, or a fraction in (0, 1)"),
    ("1.5", "--set training.validation = 1.5: must be a fraction in (0, 1)"),
    ("'a'", "--set training.validation = \"a\": must be a number of samples"),
])
def test_bad_validation_sizes_are_one_line_errors(tmp_path, value, message):
    result = train(tmp_path / "runs", "--set", "training.train_samples=300", "--set", f"training.validation={value}")
    assert result.exit_code == 2
    assert message in result.error_line()


def test_training_in_a_thread_other_than_main(tmp_path):
    """A fit in a worker thread (a Ray Tune trial, a notebook's background thread) trains and writes its records:
    the Ctrl-C deferral around record writes steps aside where Python allows no signal handler."""
    import threading

    import snntrain

    errors, models = [], []

    def work():
        try:
            model = snntrain.Model.from_toml(DEFAULT, ["training.train_samples=100", "training.test_samples=50",
                                                       "training.epochs=1"], device="cpu")
            model.fit(data_dir=tmp_path / "data", runs_dir=tmp_path / "runs", echo=lambda line: None)
            models.append(model)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert errors == [] and len(models[0].history) == 1


def test_time_left_reads_in_minutes_then_hours():
    from snntrain.training.trainer import time_left

    assert time_left(60.0, 0) == ""
    assert time_left(20.0, 1) == "; under a minute left"
    assert time_left(65.0, 52) == "; about 56 min left"
    assert time_left(65.0, 100) == "; about 1 h 48 min left"
