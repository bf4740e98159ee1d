"""The runs layer: atomic writes, run directories, checkpoints, metrics.csv and plots."""
from __future__ import annotations

import json
import math
import os
import re
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from snntrain import __version__
from snntrain.errors import SnntrainError
from snntrain.runs import (Checkpoint, RunDir, atomic_path, atomic_write_bytes, atomic_write_text,
                           load_checkpoint, plot_curves, plot_raster, plot_spike_counts,
                           save_checkpoint)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _leftovers(directory):
    """Temporary files an atomic write left behind."""
    return [p.name for p in directory.rglob("*") if ".tmp-" in p.name]


def _checkpoint(scale: float = 1.0, full: bool = False, rng: np.random.Generator | None = None) -> Checkpoint:
    weights = [np.arange(12, dtype=np.float32).reshape(3, 4) * scale, np.empty((0,), np.float32),
               np.linspace(-1, 1, 6).reshape(2, 3) * scale]
    optimizer = {"step": np.array(7), "lr": np.array(0.002), "m/0": weights[0] * 0.1, "v/0": weights[0] ** 2,
                 "adam/m/2": weights[2] + 1} if full else None
    return Checkpoint(layer_names=["dense0", "pool1", "dense2"], weights=weights,
                      config_toml='name = "tiny"\n[training]\nepochs = 3\n', epoch=4, test_accuracy=0.875 * scale,
                      seed=11, optimizer_state=optimizer, rng_state=rng.bit_generator.state if rng else None,
                      extra={"best_accuracy": 0.9, "best_epoch": 3, "note": "résumé"})


# --- atomic writes ---------------------------------------------------------------------------------------------

def test_atomic_write_replaces_file(tmp_path):
    target = tmp_path / "a.txt"
    atomic_write_text(target, "old\n")
    atomic_write_text(target, "new\n")
    atomic_write_bytes(tmp_path / "b.bin", b"\x00\x01")
    assert target.read_text() == "new\n"
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    assert _leftovers(tmp_path) == []


def test_atomic_write_never_replaces_a_device_fifo_or_folder(tmp_path):
    """An output path that names a FIFO, a folder or a device (say `-o /dev/full`) is refused in one line and
    left as it was: a rename would have put a regular file in its place."""
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "folder").mkdir()
    for target in (tmp_path / "fifo", tmp_path / "folder", Path("/dev/null")):
        with pytest.raises(SnntrainError, match=f"^cannot write {target}: it exists and is not a regular file$"):
            atomic_write_text(target, "x")
    assert (tmp_path / "fifo").is_fifo() and (tmp_path / "folder").is_dir() and Path("/dev/null").is_char_device()
    assert _leftovers(tmp_path) == []


def test_a_target_that_cannot_be_looked_at_is_left_to_the_write(tmp_path, monkeypatch):
    """Whether the target is a special file is asked with os.stat; where that fails (a folder that may not be
    searched: Path.exists raised PermissionError there, a traceback), the write goes on and reports its own error."""
    from snntrain import atomic

    target = tmp_path / "a.txt"
    real_stat = os.stat

    def stat(path, *args, **kwargs):
        if Path(path) == target:
            raise PermissionError(13, "Permission denied")
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(atomic.os, "stat", stat)
    assert not atomic.special_file(target)
    atomic_write_text(target, "x")
    assert target.read_text() == "x"


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_failed_write_keeps_old_file_and_no_temp(tmp_path, error):
    target = tmp_path / "a.txt"
    atomic_write_text(target, "old\n")
    with pytest.raises(error):
        with atomic_path(target) as tmp:
            assert tmp.parent == tmp_path and tmp != target
            tmp.write_text("half a fi")
            raise error
    assert target.read_text() == "old\n"
    assert _leftovers(tmp_path) == []


def test_os_error_is_one_line_snntrain_error(tmp_path):
    with pytest.raises(SnntrainError, match="cannot write .*missing.*a.txt") as info:
        atomic_write_text(tmp_path / "missing" / "a.txt", "x")
    assert "\n" not in str(info.value)


# --- run directories -------------------------------------------------------------------------------------------

def test_failed_clean_up_still_gives_the_first_error_in_one_line(tmp_path, monkeypatch):
    """A read-only run directory: writing the temp fails, and removing it fails too (root ignores file modes,
    so the file system's refusals are simulated)."""
    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(type(tmp_path), "write_bytes", refuse)
    monkeypatch.setattr(type(tmp_path), "unlink", refuse)
    with pytest.raises(SnntrainError) as info:
        atomic_write_text(tmp_path / "metrics.csv", "epoch\n1\n")
    assert str(info.value) == f"cannot write {tmp_path / 'metrics.csv'}: Permission denied"


def test_create_is_unique_within_one_second(tmp_path, monkeypatch):
    monkeypatch.setattr(time, "strftime", lambda fmt: "20240102-030405")
    runs = [RunDir.create(tmp_path / "runs", "mnist_mlp") for _ in range(3)]
    assert [r.path.name for r in runs] == ["mnist_mlp-20240102-030405", "mnist_mlp-20240102-030405-2",
                                           "mnist_mlp-20240102-030405-3"]
    assert not any(r.plots_dir.exists() for r in runs)  # made by the first plot: bench and convergence draw none
    assert runs[0].best_path.name == "best.h5" and runs[0].last_path.name == "last.h5"


def test_create_name_has_timestamp(tmp_path):
    run = RunDir.create(tmp_path, "m")
    assert run.path.parent == tmp_path
    stamp = run.path.name.removeprefix("m-")
    assert time.strptime(stamp, "%Y%m%d-%H%M%S")


def test_create_under_a_file_fails_cleanly(tmp_path):
    (tmp_path / "runs").write_text("")
    with pytest.raises(SnntrainError, match="cannot create a run directory under .*runs"):
        RunDir.create(tmp_path / "runs", "m")


def test_open_names_what_is_there_instead_of_a_run_directory(tmp_path):
    (tmp_path / "file").write_text("x")
    os.mkfifo(tmp_path / "fifo")
    for name in ("file", "fifo"):
        with pytest.raises(SnntrainError, match=f"{tmp_path / name} is not a directory; a run directory holds"):
            RunDir.open(tmp_path / name)
    with pytest.raises(SnntrainError, match="does not exist"):
        RunDir.open(tmp_path / "missing")


def test_open_refuses_a_plots_path_that_is_not_a_folder(tmp_path):
    """Found when the run is opened, not when the plots are drawn after training (before: FileExistsError)."""
    run = RunDir.create(tmp_path, "m")
    run.write_config("name = 'm'\n")
    run.plots_dir.write_text("")
    with pytest.raises(SnntrainError, match=f"^{run.plots_dir} is not a folder; the run's plots go there: move it"):
        RunDir.open(run.path)


@pytest.mark.parametrize("name, make", [("log.txt", os.mkdir), ("log.txt", os.mkfifo), ("config.toml", os.mkfifo)])
def test_open_refuses_a_log_or_config_that_is_not_a_regular_file(tmp_path, name, make):
    """Before: a folder in place of log.txt failed after an epoch of training, a FIFO blocked it for ever, and a
    FIFO config.toml was called missing."""
    run = RunDir.create(tmp_path, "m")
    run.write_config("name = 'm'\n")
    (run.path / name).unlink(missing_ok=True)
    make(run.path / name)
    with pytest.raises(SnntrainError, match=f"^{run.path / name} is not a regular file; "):
        RunDir.open(run.path)


def test_open_needs_config(tmp_path):
    with pytest.raises(SnntrainError, match="does not exist"):
        RunDir.open(tmp_path / "nowhere")
    with pytest.raises(SnntrainError, match="not a run directory.*config.toml"):
        RunDir.open(tmp_path)
    run = RunDir.create(tmp_path, "m")
    run.write_config('name = "m"\n')
    opened = RunDir.open(run.path)
    assert opened.config_path.read_text() == 'name = "m"\n'
    assert opened.metrics_path == run.metrics_path


def test_log_appends(tmp_path):
    run = RunDir.create(tmp_path, "m")
    run.log("epoch 1")
    run.log("epoch 2\n")
    assert run.log_path.read_text() == "epoch 1\nepoch 2\n"


# --- metrics.csv -----------------------------------------------------------------------------------------------

def test_metrics_round_trip_and_resume(tmp_path):
    run = RunDir.create(tmp_path, "m")
    assert run.read_metrics() == []
    rows = [{"epoch": 1, "lr": 0.001, "train_loss": 2.302585092994046, "test_accuracy": 0.1, "device": "cpu"},
            {"epoch": 2, "lr": 0.001, "train_loss": 1.5, "test_accuracy": 0.5, "device": "cpu", "late": -3},
            {"epoch": 3, "lr": 1e-4, "train_loss": float("nan"), "test_accuracy": 1.0, "device": "cpu"}]
    run.write_metrics(rows)
    assert run.metrics_path.read_text().splitlines()[0] == "epoch,lr,train_loss,test_accuracy,device,late"
    back = run.read_metrics()
    assert back[:2] == rows[:2]
    assert type(back[0]["epoch"]) is int and type(back[2]["test_accuracy"]) is float
    assert math.isnan(back[2]["train_loss"])
    # What the trainer does on resume after epoch 2: truncate, then append.
    kept = [row for row in back if row["epoch"] <= 2] + [{"epoch": 3, "lr": 0.5, "device": "cuda"}]
    run.write_metrics(kept)
    assert run.read_metrics() == kept
    assert _leftovers(tmp_path) == []


# --- checkpoints -----------------------------------------------------------------------------------------------

def test_checkpoint_round_trip_with_optimizer_and_rng(tmp_path):
    rng = np.random.default_rng(1234)
    rng.random(5)
    ckpt = _checkpoint(full=True, rng=rng)
    expected_draws = rng.random(4)
    save_checkpoint(tmp_path / "last.h5", ckpt)
    back = load_checkpoint(tmp_path / "last.h5")

    assert back.layer_names == ckpt.layer_names
    for found, saved in zip(back.weights, ckpt.weights):
        assert found.dtype == saved.dtype and found.shape == saved.shape
        np.testing.assert_array_equal(found, saved)
    assert (back.config_toml, back.epoch, back.test_accuracy, back.seed, back.version) == \
           (ckpt.config_toml, 4, 0.875, 11, __version__)
    assert back.extra == ckpt.extra and type(back.extra["best_epoch"]) is int
    assert sorted(back.optimizer_state) == sorted(ckpt.optimizer_state)
    for key, value in ckpt.optimizer_state.items():
        assert back.optimizer_state[key].shape == value.shape
        np.testing.assert_array_equal(back.optimizer_state[key], value)
    assert int(back.optimizer_state["step"]) == 7

    restored = np.random.default_rng()
    restored.bit_generator.state = back.rng_state
    np.testing.assert_array_equal(restored.random(4), expected_draws)


def test_best_checkpoint_has_no_resume_state(tmp_path):
    save_checkpoint(tmp_path / "best.h5", _checkpoint())
    back = load_checkpoint(tmp_path / "best.h5")
    assert back.optimizer_state is None and back.rng_state is None
    with h5py.File(tmp_path / "best.h5") as f:
        assert list(f["layers"]) == ["dense0", "dense2", "pool1"]  # HDF5 sorts names; `index` keeps the order
        assert f["layers/pool1/weights"].shape == (0,)


def test_crash_during_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    best = tmp_path / "best.h5"
    save_checkpoint(best, _checkpoint(scale=1.0))
    real = h5py.Group.create_dataset

    def failing(self, name, *args, **kwargs):
        if self.name == "/layers/dense2":  # the old file is already partly rewritten in the temp file by now
            raise RuntimeError("simulated crash")
        return real(self, name, *args, **kwargs)

    monkeypatch.setattr(h5py.Group, "create_dataset", failing)
    with pytest.raises(RuntimeError, match="simulated crash"):
        save_checkpoint(best, _checkpoint(scale=2.0))
    monkeypatch.undo()

    back = load_checkpoint(best)
    assert back.test_accuracy == 0.875
    np.testing.assert_array_equal(back.weights[0], _checkpoint(scale=1.0).weights[0])
    assert _leftovers(tmp_path) == []


def test_load_missing_truncated_or_foreign_file(tmp_path):
    good = tmp_path / "good.h5"
    save_checkpoint(good, _checkpoint(full=True, rng=np.random.default_rng(0)))
    data = good.read_bytes()
    (tmp_path / "truncated.h5").write_bytes(data[:len(data) // 2])
    (tmp_path / "text.h5").write_text("not hdf5\n")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = np.zeros(3)
    (tmp_path / "dir.h5").mkdir()
    os.mkfifo(tmp_path / "fifo.h5")  # h5py would wait on it forever

    for name, message in [("nothing.h5", "does not exist"), ("truncated.h5", "cannot read checkpoint.*truncated"),
                          ("text.h5", "cannot read checkpoint"), ("other.h5", "not an snntrain checkpoint"),
                          ("dir.h5", "checkpoint .* is a directory$"), ("fifo.h5", "is not a regular file$")]:
        with pytest.raises(SnntrainError, match=message) as info:
            load_checkpoint(tmp_path / name)
        assert name in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("dataset", ["layers/dense0/weights", "optimizer/m/0"])
def test_a_flipped_bit_in_the_weights_or_optimiser_is_an_error_not_a_number(tmp_path, dataset):
    """Arrays carry HDF5's Fletcher-32 checksum: one flipped bit in dense0's weights or an Adam moment is a one-line
    error naming the file (before: the file loaded, with a changed weight, and `eval` printed another accuracy)."""
    path = tmp_path / "last.h5"
    save_checkpoint(path, _checkpoint(full=True, rng=np.random.default_rng(0)))
    with h5py.File(path, "r") as f:
        offset = f[dataset].id.get_chunk_info(0).byte_offset if f[dataset].chunks else f[dataset].id.get_offset()
    data = bytearray(path.read_bytes())
    data[offset + 9] ^= 0x01  # one mantissa bit of the third value
    path.write_bytes(bytes(data))
    with pytest.raises(SnntrainError, match=f"^cannot read checkpoint {path}: its data does not match its checksum "
                                            r"\(damaged\)$"):
        load_checkpoint(path)


def test_a_checkpoint_whose_hdf5_structures_are_damaged_is_one_line(tmp_path):
    """A flipped bit in HDF5's own records (here the cache type of each symbol-table entry in turn) makes h5py raise
    RuntimeError ("unknown symbol table entry cache type"): a one-line error naming the file (before: a traceback)."""
    path = tmp_path / "last.h5"
    save_checkpoint(path, _checkpoint(full=True, rng=np.random.default_rng(0)))
    data = path.read_bytes()
    tried = 0
    for node in re.finditer(b"SNOD", data):
        damaged = bytearray(data)
        damaged[node.start() + 8 + 17] ^= 0x60  # the first entry's cache type: 0 or 1 becomes 96 or 97
        path.write_bytes(bytes(damaged))
        try:
            load_checkpoint(path)
        except SnntrainError as exc:
            assert "\n" not in str(exc) and str(path) in str(exc)
            tried += 1
    assert tried >= 3  # the groups of the file: root, layers, optimizer, ...


def test_a_checkpoint_with_integer_weights_is_refused(tmp_path):
    """snntrain writes float weights; integers (a hand edit or another tool) would truncate without a word, and `eval`
    printed 8% for a run of 59%."""
    path = tmp_path / "best.h5"
    save_checkpoint(path, _checkpoint())
    with h5py.File(path, "r+") as f:
        weights = f["layers/dense2/weights"][()]
        del f["layers/dense2/weights"]
        f["layers/dense2/weights"] = (weights * 10).astype(np.int32)
    with pytest.raises(SnntrainError, match=f"^{path} is not a valid snntrain checkpoint \\(ValueError: layer dense2 has "
                                            "weights of dtype int32, where a checkpoint holds floats\\)$"):
        load_checkpoint(path)


@pytest.mark.parametrize("damage, message", [
    ("layers a dataset", "AttributeError"), ("config a group", "AttributeError"),
    ("weights larger than memory", "MemoryError"), ("rng_state nested past the limit", "RecursionError"),
])
def test_a_checkpoint_damaged_in_its_structure_is_one_line(tmp_path, damage, message):
    """An HDF5 file whose groups and datasets are swapped, whose weights dataset declares more than any memory (an
    unwritten chunked dataset costs nothing on disk), or whose JSON nests past Python's limit (before: AttributeError,
    MemoryError and RecursionError tracebacks)."""
    path = tmp_path / "damaged.h5"
    save_checkpoint(path, _checkpoint(full=True, rng=np.random.default_rng(0)))
    with h5py.File(path, "r+") as f:
        if damage == "layers a dataset":
            del f["layers"]
            f["layers"] = np.zeros(3)
        elif damage == "config a group":
            del f["config"]
            f.create_group("config")
        elif damage == "weights larger than memory":
            del f["layers/dense0/weights"]
            f["layers/dense0"].create_dataset("weights", shape=(200000, 200000, 10), dtype="f8", chunks=(1, 1, 10))
        else:
            f.attrs["rng_state"] = "[" * 100000 + "]" * 100000
    with pytest.raises(SnntrainError) as info:
        load_checkpoint(path)
    assert str(info.value).startswith(f"{path} is not a valid snntrain checkpoint ({message}: ")
    assert "\n" not in str(info.value)


def test_check_weights():
    from snntrain.network.build import check_weights

    ckpt = _checkpoint()
    names, shapes = ["dense0", "pool1", "dense2"], [(3, 4), (0,), (2, 3)]
    check_weights(ckpt.layer_names, ckpt.weights, names, shapes, "best.h5")

    with pytest.raises(SnntrainError, match=r"^best.h5: the checkpoint has 3 layers .* the model has 2"):
        check_weights(ckpt.layer_names, ckpt.weights, names[:2], shapes[:2], "best.h5")
    with pytest.raises(SnntrainError, match=r"layer 1 is 'pool1' in the checkpoint but 'dense1' in the model"):
        check_weights(ckpt.layer_names, ckpt.weights, ["dense0", "dense1", "dense2"], shapes, "best.h5")
    with pytest.raises(SnntrainError, match=r"layer dense2 has weights of shape \(2, 3\) but the model expects "
                                            r"\(5, 3\)"):
        check_weights(ckpt.layer_names, ckpt.weights, names, [(3, 4), (0,), (5, 3)], "best.h5")


# --- plots -----------------------------------------------------------------------------------------------------

def _assert_png(path):
    assert path.stat().st_size > 0
    assert path.read_bytes()[:8] == PNG_SIGNATURE


def test_curve_and_spike_plots(tmp_path):
    rows = [{"epoch": e, "train_loss": 2.0 / e, "test_loss": 2.2 / e, "train_accuracy": 0.3 * e,
             "test_accuracy": 0.28 * e, "mean_spikes_dense0": 1.5 + e, "mean_spikes_dense1": 0.9} for e in (1, 2, 3)]
    out = tmp_path / "plots"
    plot_curves(rows, out)
    plot_spike_counts(rows, out)
    for name in ("loss.png", "accuracy.png", "spike_counts.png"):
        _assert_png(out / name)
    assert _leftovers(tmp_path) == []


def test_raster(tmp_path):
    inf = np.inf
    hidden_t = np.array([[0.001, 0.004, inf], [inf, inf, inf], [0.002, inf, inf]])
    hidden_n = np.array([2, 0, 1])
    silent_t, silent_n = np.full((4, 2), inf), np.zeros(4, np.int32)
    out = tmp_path / "plots" / "raster.png"
    plot_raster([("dense0", hidden_t, hidden_n), ("dense1", silent_t, silent_n)], out, "test sample 0")
    _assert_png(out)


def test_environment_records_append_and_keep_an_unreadable_file_aside(tmp_path):
    run = RunDir.create(tmp_path, "m")
    run.record_environment("cpu, 2 threads", 0)
    run.record_environment("cuda: some GPU", 3)
    sessions = json.loads(run.environment_path.read_text())
    assert [(s["device"], s["after_epoch"]) for s in sessions] == [("cpu, 2 threads", 0), ("cuda: some GPU", 3)]
    assert sessions[0]["python"] and "numba" in sessions[0]["packages"]
    run.environment_path.write_bytes(b"\xff{ half")
    run.record_environment("cpu, 2 threads", 4)
    assert len(json.loads(run.environment_path.read_text())) == 1
    assert (run.path / "environment.json.bad").read_bytes() == b"\xff{ half"
