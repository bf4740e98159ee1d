"""Canonical dataset files: fetching and verifying the raw files, converting them once, and loading the result.

Layout under the data directory (default `data/`):
    <name>.npz          image datasets: train_images (N, X, Y, C) uint8, train_labels (N,) uint8, test_images,
                        test_labels
    <name>/train.h5     event datasets: each split in the SHD layout (spikes/times in seconds, spikes/units,
    <name>/test.h5      labels), read back by formats.read_event_hdf5
    <file>.sha256       SHA-256 of each converted file, written at conversion; a match means "already present,
                        verified"
    <name>/raw/         the official files, each verified against its pinned checksum before it lands here
"""
from __future__ import annotations

import gzip
import hashlib
import math
import os
import shutil
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from snntrain.data.formats import (
    ZIP_ERRORS,
    EventSamples,
    Split,
    read_emnist_zip,
    read_event_hdf5,
    read_idx_images,
    read_idx_labels,
    read_nmnist_zip,
    write_event_hdf5,
)
from snntrain.data.registry import DATASETS, DatasetInfo, RemoteFile
from snntrain.atomic import atomic_path, atomic_write_text
from snntrain.errors import DataError, shown

KEYS = ("train_images", "train_labels", "test_images", "test_labels")


def _quiet(message: str) -> None:
    """The default `log`: say nothing."""


@dataclass
class Dataset:
    """One image dataset in memory: images (N, X, Y, C) uint8 and labels (N,) per split, plus its facts."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    info: DatasetInfo

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(images, labels) of split "train" or "test"."""
        return (self.train_images, self.train_labels) if check_split(name) == "train" else (self.test_images,
                                                                                              self.test_labels)

    def __repr__(self) -> str:  # one line, not the arrays
        return (f"Dataset({self.info.name!r}: {len(self.train_images):,} training and {len(self.test_images):,} test "
                f"images {'x'.join(map(str, self.info.shape))}, uint8; {self.info.classes} classes)")


@dataclass
class EventDataset:
    """One event-stream dataset in memory: the train and test samples (flat event arrays), plus its facts."""

    train: EventSamples
    test: EventSamples
    info: DatasetInfo

    def split(self, name: str) -> EventSamples:
        """The samples of split "train" or "test"."""
        return self.train if check_split(name) == "train" else self.test

    def __repr__(self) -> str:  # one line, not the arrays
        return (f"EventDataset({self.info.name!r}: {len(self.train.labels):,} training and {len(self.test.labels):,} "
                f"test samples, {self.info.shape[0]} channels; {self.info.classes} classes)")


SPLITS = ("train", "test")


def check_split(name: object) -> str:
    """`name` when it is a split a dataset has ("train" or "test"); DataError otherwise (anything else used to
    mean the test split)."""
    if not isinstance(name, str) or name not in SPLITS:
        raise DataError(f"split {shown(name)}: a dataset has the splits {' and '.join(SPLITS)}")
    return name


def dataset_info(name: str) -> DatasetInfo:
    """The registry entry for `name`; DataError listing the known names otherwise."""
    try:
        return DATASETS[name]
    except KeyError:
        raise DataError(f"unknown dataset '{name}'; known: {', '.join(DATASETS)}") from None


def canonical_path(name: str, data_dir: Path) -> Path:
    """Where the converted dataset lives: `data_dir/<name>.npz` for images, the folder `data_dir/<name>` (holding
    train.h5 and test.h5) for event streams."""
    files = _canonical_files(dataset_info(name), data_dir)
    return files[0] if len(files) == 1 else files[0].parent


def _canonical_files(info: DatasetInfo, data_dir: Path) -> tuple[Path, ...]:
    """Every file the conversion writes (each gets a .sha256 record beside it)."""
    if info.kind == "events":
        return tuple(Path(data_dir) / info.name / f"{split}.h5" for split in ("train", "test"))
    return (Path(data_dir) / f"{info.name}.npz",)


def load_dataset(name: str, data_dir: Path) -> Dataset | EventDataset:
    """Load a dataset: "digits" from the copy shipped in the package, image datasets from `data_dir/<name>.npz`,
    event datasets from `data_dir/<name>/{train,test}.h5`.

    Raises DataError when a file is missing (with the command that fetches it) or is not a valid dataset file.
    """
    info = dataset_info(name)
    check_present(name, data_dir)
    if name == "digits":
        with resources.as_file(resources.files("snntrain.data") / "digits.npz") as path:
            arrays = _read_npz(path, "the installed package is damaged; reinstall snntrain")
    elif info.kind == "events":
        return _load_events(info, Path(data_dir))
    else:
        path = canonical_path(name, data_dir)
        arrays = _read_npz(path, f"run `snntrain download {name} --force`")
    _check_arrays(info, arrays, str(path))
    return Dataset(**arrays, info=info)


def check_present(name: str, data_dir: Path) -> None:
    """DataError (with the command that fetches it) unless dataset `name` can be loaded from `data_dir`: shipped
    with the package ("digits") or converted there. Reads no more than the folder."""
    if name != "digits":
        for path in _canonical_files(dataset_info(name), Path(data_dir)):
            _check_dataset_file(path, name, data_dir)


def _load_events(info: DatasetInfo, data_dir: Path) -> EventDataset:
    paths = _canonical_files(info, data_dir)
    splits = []
    for path in paths:
        try:
            events = read_event_hdf5(path, channels=math.prod(info.shape))
        except DataError as err:
            raise DataError(f"{err}; run `snntrain download {info.name} --force`") from None
        if not len(events):
            raise DataError(f"{path}: no samples; run `snntrain download {info.name} --force`")
        _check_event_labels(info, events, str(path))
        splits.append(events)
    return EventDataset(*splits, info=info)


def _check_dataset_file(path: Path, name: str, data_dir: Path) -> None:
    """A converted dataset file must exist and be a regular file (a directory or FIFO in its place is named as
    such, not reported missing)."""
    if not path.exists():
        where = "" if Path(data_dir) == Path("data") else f" --data-dir {data_dir}"  # where this command looked
        raise DataError(f"dataset '{name}' not found in {data_dir}; run `snntrain download {name}{where}`")
    if not path.is_file():
        what = "a directory" if path.is_dir() else "not a regular file"
        raise DataError(f"{path}: {what}; expected the converted dataset '{name}' (move it away, then run "
                        f"`snntrain download {name}`)")


def _check_event_labels(info: DatasetInfo, events: EventSamples, where: str) -> None:
    if len(events) and events.labels.max() >= info.classes:
        raise DataError(f"{where}: labels outside 0..{info.classes - 1}")


# An .npz file is a zip archive; np.load reads any other file as a pickle and would blame pickling for it
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # an archive with members, an empty one


def _read_npz(path: Path, hint: str) -> dict[str, np.ndarray]:
    try:
        with open(path, "rb") as file:
            zipped = file.read(4) in _ZIP_MAGIC
        if not zipped:
            reason = "not a zip archive, which an .npz file is"
        else:
            with np.load(path, allow_pickle=False) as archive:
                missing = [key for key in KEYS if key not in archive.files]
                if not missing:
                    return {key: archive[key] for key in KEYS}
            reason = f"missing {', '.join(missing)}"
    except (ValueError, OSError, NotImplementedError, RuntimeError, *ZIP_ERRORS) as err:
        # zlib: a compressed one; NotImplementedError, RuntimeError: a member compressed as zipfile cannot read, or
        # encrypted (the whole read is numpy's, so they are caught here, around it)
        reason = str(err) or type(err).__name__
    raise DataError(f"{path} is damaged or not a dataset file ({reason}); {hint}")


def _check_arrays(info: DatasetInfo, arrays: dict[str, np.ndarray], where: str) -> None:
    """Shapes, dtypes and label range must match the registry: a mismatch here would surface later as nonsense."""
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if not len(images):
            raise DataError(f"{where}: the {split} split has no samples")
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != info.shape:
            raise DataError(f"{where}: {split} images are {images.dtype} {images.shape}, "
                            f"expected uint8 (N, {', '.join(map(str, info.shape))})")
        if labels.shape != (len(images),) or labels.dtype.kind not in "iu":
            raise DataError(f"{where}: {split} labels are {labels.dtype} {labels.shape}, "
                            f"expected integers ({len(images)},)")
        if labels.size and (labels.min() < 0 or labels.max() >= info.classes):
            raise DataError(f"{where}: {split} labels outside 0..{info.classes - 1}")


def download_dataset(name: str, data_dir: Path, source: str | None = None, force: bool = False,
                     log: Callable[[str], None] = _quiet) -> Path:
    """Make the converted dataset (see canonical_path) exist and verified; return its canonical_path.

    `source` replaces the built-in mirrors: an http(s) base URL that serves the official file names, or a local
    directory holding them. Raw files are fetched (resuming partial ones), checked against pinned checksums and
    only then moved into `data_dir/<name>/raw/`; they are converted once. If the converted file is present and
    matches its recorded checksum, nothing is done ("already present, verified"); `force` fetches everything
    again. Progress and results go to `log`. Raises DataError for every failure.
    """
    info = dataset_info(name)
    if not info.downloadable:
        raise DataError(f"downloading '{name}' is not yet supported")
    data_dir = Path(data_dir)
    target = canonical_path(name, data_dir)
    files = _canonical_files(info, data_dir)
    raw_dir = data_dir / name / "raw"
    try:
        if force:
            if source is not None and Path(source).resolve() == raw_dir.resolve():
                raise DataError(f"--from {source} is where the raw files are kept; --force would delete them first")
            for path in (*files, *map(_digest_path, files), *(raw_dir / f.name for f in info.files),
                         *(raw_dir / f"{f.name}.part" for f in info.files)):
                path.unlink(missing_ok=True)
        elif all(map(_verified, files)):
            log(f"{name}: already present, verified ({target})")
            return target
        raw_dir.mkdir(parents=True, exist_ok=True)
        for remote in info.files:
            fetch_raw_file(remote, raw_dir, source, info.mirrors, log)
        log(f"{name}: converting to {target}")
        convert = _convert_events if info.kind == "events" else _convert_images
        sizes = convert(info, raw_dir, files)
    except OSError as err:  # disk full, no permission: one line for the user, not a traceback
        raise DataError(f"cannot access {err.filename or data_dir}: {err.strerror or err}") from err
    log(f"{name}: ready, {sizes[0]} train / {sizes[1]} test samples ({target})")
    return target


def _check_sizes(info: DatasetInfo, sizes: tuple[int, int]) -> None:
    if info.sizes is not None and sizes != info.sizes:
        raise DataError(f"{info.name}: raw files hold {sizes[0]} train / {sizes[1]} test samples, "
                        f"expected {info.sizes[0]} / {info.sizes[1]}")


def _convert_images(info: DatasetInfo, raw_dir: Path, files: tuple[Path, ...]) -> tuple[int, int]:
    """Parse the verified raw image files into `files` (the .npz); return the split sizes."""
    train, test = _parse_images(info, raw_dir)
    arrays = {"train_images": train.images, "train_labels": train.labels,
              "test_images": test.images, "test_labels": test.labels}
    _check_arrays(info, arrays, f"{info.name} raw files")
    sizes = (len(train.labels), len(test.labels))
    _check_sizes(info, sizes)

    def save(path: Path) -> None:
        with open(path, "wb") as f:
            # Uncompressed: loading then costs one read, well under a second even for EMNIST.
            np.savez(f, **arrays)

    _write_canonical(files[0], save)
    return sizes


def _convert_events(info: DatasetInfo, raw_dir: Path, files: tuple[Path, ...]) -> tuple[int, int]:
    """Parse the verified raw event files into `files` (train.h5, test.h5); return the split sizes."""
    paths = [raw_dir / f.name for f in info.files]
    if info.raw_format == "shd-hdf5":
        splits = [read_event_hdf5(path, channels=math.prod(info.shape)) for path in paths]
    elif info.raw_format == "nmnist-zip":
        splits = [read_nmnist_zip(path, path.stem) for path in paths]  # Train.zip holds Train/<digit>/<id>.bin
    else:
        raise AssertionError(f"no converter for raw format {info.raw_format!r}")
    for events in splits:
        _check_event_labels(info, events, f"{info.name} raw files")
    sizes = (len(splits[0]), len(splits[1]))
    _check_sizes(info, sizes)
    for path, events in zip(files, splits, strict=True):
        _write_canonical(path, lambda tmp, events=events: write_event_hdf5(tmp, events))
    return sizes


def _digest_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def file_digest(path: Path, algorithm: str, decompressed: bool = False) -> str:
    """Hex digest of a file, or of its gzip-decompressed content. Raises DataError if the gzip data is invalid."""
    h = hashlib.new(algorithm)
    try:
        with (gzip.open(path, "rb") if decompressed else open(path, "rb")) as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except (gzip.BadGzipFile, EOFError, zlib.error) as err:
        raise DataError(f"invalid gzip data ({err})") from err
    return h.hexdigest()


def _verified(path: Path) -> bool:
    """Whether `path` exists and matches the digest recorded when it was written."""
    record = _digest_path(path)
    if not (path.is_file() and record.is_file()):
        return False
    # bytes, not text: a damaged record is a mismatch (the file is rebuilt), not a UnicodeDecodeError
    return record.read_bytes().split(maxsplit=1)[:1] == [file_digest(path, "sha256").encode()]


def _matches(path: Path, remote: RemoteFile) -> tuple[bool, str]:
    """(verified, actual digest or reason). An unreadable gzip counts as a mismatch, not a crash."""
    try:
        actual = file_digest(path, remote.algorithm, remote.decompressed)
    except DataError as err:
        return False, str(err)
    return actual == remote.hexdigest, actual


def _what(remote: RemoteFile) -> str:
    return f"{remote.algorithm} {remote.hexdigest}" + (" of the decompressed content" if remote.decompressed else "")


def fetch_raw_file(remote: RemoteFile, raw_dir: Path, source: str | None = None, mirrors: Sequence[str] = (),
                   log: Callable[[str], None] = _quiet) -> Path:
    """Make raw_dir/<remote.name> a verified copy of `remote`; return its path.

    A present file that verifies is kept. Otherwise the file is copied from the local directory `source`, or
    downloaded from the base URL `source`, or else from `mirrors` in order and then the file's own `urls`, into
    `<name>.part`, checked against the pinned checksum, and only then moved into place. Raises DataError naming
    the file and what to do.
    """
    final = raw_dir / remote.name
    if final.exists():
        ok, _ = _matches(final, remote)
        if ok:
            log(f"  {remote.name}: present, verified")
            return final
        log(f"  {remote.name}: present but fails its checksum; fetching it again")
        final.unlink()
    part = raw_dir / f"{remote.name}.part"
    if source is not None and not source.startswith(("http://", "https://")):
        _copy_local(remote, source, part, final, log)
    else:
        bases = (source,) if source is not None else tuple(mirrors)
        urls = [base.rstrip("/") + "/" + remote.name for base in bases]
        if source is None:
            urls += remote.urls
        if not urls:
            raise DataError(f"{remote.name}: no mirror known; use --from DIR or --from URL")
        _download(remote, urls, part, final, log)
    return final


def _copy_local(remote: RemoteFile, source: str, part: Path, final: Path, log: Callable[[str], None]) -> None:
    directory = Path(source)
    if not directory.is_dir():
        what = "not a directory" if directory.exists() else "no such directory"
        # `source` as typed: a Path would write ftp://host as ftp:/host
        raise DataError(f"--from {source}: {what}, and not an http(s):// URL")
    origin = directory / remote.name
    if not origin.is_file():
        raise DataError(f"{remote.name} not found in {directory}; the directory must hold the official file names")
    shutil.copyfile(origin, part)
    ok, actual = _matches(part, remote)
    if not ok:
        part.unlink()
        raise DataError(f"{origin}: checksum mismatch (expected {_what(remote)}, got {actual}); "
                        "it is corrupt or not the official file: replace it with an official copy")
    os.replace(part, final)
    log(f"  {remote.name}: copied from {directory}, verified")


def _download(remote: RemoteFile, urls: list[str], part: Path, final: Path, log: Callable[[str], None]) -> None:
    """Try each URL in turn until one yields a file that verifies; the first good one is moved into place."""
    import requests

    from snntrain.data.fetch import FetchFailed, host_of, http_fetch, human_bytes

    failures: list[FetchFailed] = []
    mismatch = ""
    with requests.Session() as session:
        for url in urls:
            try:
                transfer = http_fetch(url, part, session=session)
            except FetchFailed as err:
                failures.append(err)
                continue
            ok, actual = _matches(part, remote)
            if ok:
                os.replace(part, final)
                resumed = f", resumed at {human_bytes(transfer.resumed_from)}" if transfer.resumed_from else ""
                log(f"  {remote.name}: {human_bytes(final.stat().st_size)} from {host_of(url)} "
                    f"at {human_bytes(transfer.rate)}/s{resumed}, verified")
                return
            # A bad file must never be resumed from: drop it and let the next mirror start from zero.
            part.unlink()
            mismatch = (f"{remote.name} from {url}: checksum mismatch (expected {_what(remote)}, got {actual}); "
                        "the download was discarded: run the command again, or use --from DIR with official files")
    if mismatch:
        raise DataError(mismatch)
    if failures and all(f.unreachable for f in failures):
        hosts = ", ".join(dict.fromkeys(host_of(url) for url in urls))
        raise DataError(f"could not reach {hosts}; use --from DIR or a mirror")
    kept = "; the partial file is kept, run again to resume" if part.exists() and part.stat().st_size else ""
    raise DataError(f"could not download {remote.name} ({'; '.join(map(str, failures))}){kept}; "
                    "use --from DIR or a mirror")


def _parse_images(info: DatasetInfo, raw_dir: Path) -> tuple[Split, Split]:
    """Parse the verified raw files into (train, test) splits."""
    paths = [raw_dir / f.name for f in info.files]
    if info.raw_format == "idx":
        return (Split(read_idx_images(paths[0]), read_idx_labels(paths[1])),
                Split(read_idx_images(paths[2]), read_idx_labels(paths[3])))
    if info.raw_format == "emnist-mat":
        return read_emnist_zip(paths[0], "balanced")
    raise AssertionError(f"no converter for raw format {info.raw_format!r}")


def _write_canonical(path: Path, write: Callable[[Path], None]) -> None:
    """Write a converted file with `write(temp path)` and record its digest, each atomically: a crash never leaves
    a half file, and two conversions at once each write their own temporary file."""
    with atomic_path(path) as tmp:
        write(tmp)
        digest = file_digest(tmp, "sha256")
    atomic_write_text(_digest_path(path), f"{digest}  {path.name}\n")
