"""Atomic file writes: a reader (or a crash) sees either the old file or the complete new one, never a mix.

The data goes to a temporary file in the same directory (so the final rename stays on one file system), is
fsync'ed, and is then `os.replace`d onto the target; the directory is fsync'ed so the rename itself survives
a power loss.
"""
from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from snntrain.errors import SnntrainError


def temp_path(path: Path) -> Path:
    """The temporary sibling `atomic_path` writes to: hidden, and per process so two writers never share it."""
    path = Path(path)
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def os_reason(exc: OSError) -> str:
    """One line on why a file operation failed; h5py's own messages span lines and repeat the errno."""
    return os.strerror(exc.errno) if exc.errno else str(exc).splitlines()[0]


def make_dirs(path: Path) -> Path:
    """Create folder `path` and any missing parents (kept if there); returns it. An OSError (a parent that is a
    file, no permission) becomes a one-line SnntrainError naming the folder."""
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SnntrainError(f"cannot create folder {path}: {os_reason(exc)}") from None
    return Path(path)


def atomic_rename(source: Path, target: Path) -> None:
    """Move `source` onto `target` in one step (same folder), durably; an OSError becomes a one-line SnntrainError."""
    try:
        _replace(source, target)
    except OSError as exc:
        raise SnntrainError(f"cannot rename {source} to {target}: {os_reason(exc)}") from None


def special_file(path: Path) -> bool:
    """Whether `path` is there and is not a regular file (a FIFO, device or folder: reading one may block for ever,
    and replacing one is never meant). False where it cannot be looked at: the open that follows says why."""
    try:
        return not stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    # Only POSIX can open a directory to fsync it; elsewhere os.replace is the best there is.
    if os.name == "posix":
        _fsync_file(directory)


def _replace(source: Path, target: Path) -> None:
    """os.replace, then the folder fsync'ed so that the rename itself survives a power loss."""
    os.replace(source, target)
    _fsync_dir(Path(target).parent)


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path to write `path`'s new content to; on success it replaces `path` atomically.

    If the body raises (KeyboardInterrupt included), the temporary file is removed and `path` is untouched.
    An OSError (disk full, no permission) becomes a one-line SnntrainError naming `path`.
    Whatever writes to the temporary path (h5py, matplotlib) must have closed it when the body ends.
    """
    path = Path(path)
    if special_file(path):
        raise SnntrainError(f"cannot write {path}: it exists and is not a regular file")
    tmp = temp_path(path)
    try:
        yield tmp
        _fsync_file(tmp)
        _replace(tmp, path)
    except BaseException as exc:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass  # a read-only or full directory: the first error is the one to report, and the temp is hidden
        if isinstance(exc, OSError):
            raise SnntrainError(f"cannot write {path}: {os_reason(exc)}") from None
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace `path` with `data` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: Path, text: str) -> None:
    """Replace `path` with `text` (UTF-8, newlines as given) atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))
