"""A run directory: everything one training run leaves behind.

    <root>/<model>-<YYYYmmdd-HHMMSS>/
        config.toml     the resolved model (what `--resume` and `eval` rebuild the network from)
        metrics.csv     one row per epoch
        log.txt         the lines printed during training
        best.h5         weights of the epoch of best validation accuracy (training accuracy without validation)
        last.h5         weights, optimiser and RNG state after the last completed epoch (for `--resume`)
        .best.h5.next   a new best.h5 waiting for last.h5 to record its epoch (see `settle_best`)
        plots/          loss.png, accuracy.png, spike_counts.png, raster.png
        environment.json  per session (the start, each resume): device, versions, command line, commit
        .lock           locked by the process training the run (holds its pid)
"""
from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from snntrain.errors import SnntrainError, UsageError
from snntrain.runs import metrics
from snntrain.atomic import atomic_rename, atomic_write_text, os_reason, special_file
from snntrain.runs.checkpoint import load_checkpoint
from snntrain.runs.environment import describe_environment, record_environment
from snntrain.runs.metrics import Row


#: The file a training process locks in its run directory; the lock goes with the process, however it ends.
LOCK_NAME = ".lock"


class RunInUse(SnntrainError):
    """Another process is training this run directory."""


class RunDir:
    """Paths of one run directory and the reading/writing of its text files (checkpoints: `checkpoint.py`)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.config_path = self.path / "config.toml"
        self.metrics_path = self.path / "metrics.csv"
        self.log_path = self.path / "log.txt"
        self.best_path = self.path / "best.h5"
        self.best_next_path = self.path / ".best.h5.next"
        self.last_path = self.path / "last.h5"
        self.plots_dir = self.path / "plots"
        self.environment_path = self.path / "environment.json"
        self.lock_path = self.path / LOCK_NAME

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    @classmethod
    def create(cls, root: Path, model_name: str, name: str | None = None) -> RunDir:
        """A new, empty run directory `root/<model_name>-<YYYYmmdd-HHMMSS>` (with `-2`, `-3`, ... if taken), or
        `root/<name>` when a name is given (an error if it exists: a caller that names its runs finds them again)."""
        root = Path(root)
        stem = f"{model_name}-{time.strftime('%Y%m%d-%H%M%S')}"
        if name is not None and (root / name).exists():
            raise SnntrainError(f"run directory {root / name} already exists")
        try:
            root.mkdir(parents=True, exist_ok=True)
            if name is not None:
                path = root / name
                path.mkdir()
            suffix = 1
            while name is None:
                path = root / (stem if suffix == 1 else f"{stem}-{suffix}")
                # mkdir without exist_ok claims the name atomically, so two runs started together never share it.
                try:
                    path.mkdir()
                    break
                except FileExistsError:
                    suffix += 1
            run = cls(path)  # plots/ is made by the first plot (bench and convergence draw none there)
        except OSError as exc:
            raise SnntrainError(f"cannot create a run directory under {root}: {os_reason(exc)}") from None
        return run

    @classmethod
    def open(cls, path: Path) -> RunDir:
        """An existing run directory (to resume or evaluate); SnntrainError if `path` is not one."""
        run = cls(path)  # a path that is no run directory is a usage error (exit 2), as click's own path checks
        if not run.path.exists():
            raise UsageError(f"run directory {run.path} does not exist")
        if not run.path.is_dir():
            raise UsageError(f"{run.path} is not a directory; a run directory holds config.toml and the weights")
        if special_file(run.config_path):
            raise UsageError(f"{run.config_path} is not a regular file; a run's config.toml is TOML text")
        if not run.config_path.is_file():
            raise UsageError(f"{run.path} is not a run directory (it has no config.toml)")
        # found now, not after an epoch of training (a FIFO in place of the log would block its first line)
        if run.plots_dir.exists() and not run.plots_dir.is_dir():
            raise SnntrainError(f"{run.plots_dir} is not a folder; the run's plots go there: move it away")
        if special_file(run.log_path):
            raise SnntrainError(f"{run.log_path} is not a regular file; the run's log goes there: move it away")
        return run

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Hold the run for training: an exclusive lock on .lock, so that two processes (a second `--resume`, two
        `snntrain reproduce` sharing the work) never write one run. The OS drops the lock when the process ends,
        crash included, so a lock is never stale. RunInUse when another process holds it."""
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise SnntrainError(f"cannot create {self.lock_path}: {os_reason(exc)}") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
                raise RunInUse(f"{self.path} is being trained by another process (pid {holder}); wait for it to "
                               "finish or stop it") from None
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            except OSError as exc:  # a full disk: nothing of the run can be written either
                raise SnntrainError(f"cannot write {self.lock_path}: {os_reason(exc)}") from None
            yield
        finally:
            os.close(fd)  # releases the lock

    def remove_stale_temps(self) -> list[Path]:
        """Delete the temporary files of atomic writes whose writing process is gone (a crash or kill mid-write
        leaves them; they are never read). Returns what was removed."""
        removed = []
        for path in [*self.path.glob(".*.tmp-*"), *self.plots_dir.glob(".*.tmp-*")]:
            pid = path.name.rsplit("-", 1)[-1]
            if pid.isdigit() and not _alive(int(pid)):
                try:
                    path.unlink()
                    removed.append(path)
                except OSError:
                    pass  # not ours to insist on: a later resume tries again
        return removed

    def commit_best(self) -> None:
        """Make the waiting .best.h5.next the run's best.h5, once last.h5 has recorded its epoch.

        A new best epoch's weights are written in three steps, so that best.h5 never holds an epoch that last.h5
        does not record (a resume with other settings would not write that epoch again): the weights to
        .best.h5.next, then last.h5 (which names the best epoch), then this rename; metrics.csv follows."""
        atomic_rename(self.best_next_path, self.best_path)

    def settle_best(self, best_epoch: int) -> None:
        """Finish or undo a best.h5 update that a crash interrupted (see `commit_best`): the waiting file becomes
        best.h5 when it holds `best_epoch`, the best epoch last.h5 records, and is deleted otherwise (its epoch was
        never recorded, or it is damaged)."""
        if not self.best_next_path.exists():
            return
        try:
            waiting = load_checkpoint(self.best_next_path).epoch
        except SnntrainError:
            waiting = -1
        if waiting == best_epoch:
            self.commit_best()
            return
        try:
            self.best_next_path.unlink()
        except OSError as exc:  # a folder in its place, say
            raise SnntrainError(f"cannot remove {self.best_next_path}: {os_reason(exc)}; move it away") from None

    def write_config(self, toml_text: str) -> None:
        """Save the resolved model as config.toml."""
        atomic_write_text(self.config_path, toml_text)

    def record_environment(self, device: str, epoch: int) -> None:
        """Add this session (starting after `epoch`, on `device` as the backend describes it) to
        environment.json."""
        try:
            record_environment(self.environment_path, describe_environment(device, epoch))
        except OSError as exc:
            raise SnntrainError(f"cannot write {self.environment_path}: {os_reason(exc)}") from None

    def log(self, line: str) -> None:
        """Append one line to log.txt, on disk before returning (the log is the one file written in place)."""
        try:
            with open(self.log_path, "a", encoding="utf-8") as f:
                f.write(line.rstrip("\n") + "\n")
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            raise SnntrainError(f"cannot write {self.log_path}: {os_reason(exc)}") from None

    def write_metrics(self, rows: list[Row]) -> None:
        """Replace metrics.csv with `rows` (all epochs so far), atomically."""
        metrics.write_metrics(self.metrics_path, rows)

    def read_metrics(self, numbers: tuple[str, ...] = ()) -> list[Row]:
        """The rows of metrics.csv, numbers as int/float, with a number in each column of `numbers`; none before
        the first epoch completed."""
        return metrics.read_metrics(self.metrics_path, numbers)


def _alive(pid: int) -> bool:
    """Whether process `pid` exists (this process counts)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
