"""Canonical dataset files: fetching and verifying the raw files, converting them once, and loading the result.

Layout under the data directory (default `data/`):
    <name>.npz          train_images (N, X, Y, C) uint8, train_labels (N,) uint8, test_images, test_labels
    <name>.npz.sha256   SHA-256 of that file, written at conversion; a match means "already present, verified"
    <name>/raw/         the official files, each verified against its pinned checksum before it lands here
"""
from __future__ import annotations

import hashlib
import os
import shutil
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from snntrain.data.formats import Split, read_emnist_zip, read_idx_images, read_idx_labels
from snntrain.data.registry import DATASETS, DatasetInfo, RemoteFile
from snntrain.errors import DataError

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


def dataset_info(name: str) -> DatasetInfo:
    """The registry entry for `name`; DataError listing the known names otherwise."""
    try:
        return DATASETS[name]
    except KeyError:
        raise DataError(f"unknown dataset '{name}'; known: {', '.join(DATASETS)}") from None


def canonical_path(name: str, data_dir: Path) -> Path:
    """Where the converted dataset lives: `data_dir/<name>.npz`."""
    return Path(data_dir) / f"{name}.npz"


def load_dataset(name: str, data_dir: Path) -> Dataset:
    """Load a dataset: "digits" from the copy shipped in the package, others from `data_dir/<name>.npz`.

    Raises DataError when the file is missing (with the command that fetches it) or is not a valid dataset file.
    """
    info = dataset_info(name)
    if name == "digits":
        with resources.as_file(resources.files("snntrain.data") / "digits.npz") as path:
            arrays = _read_npz(path, "the installed package is damaged; reinstall snntrain")
    elif info.kind != "image":
        raise DataError(f"dataset '{name}' ({info.kind}) is not yet supported for loading")
    else:
        path = canonical_path(name, data_dir)
        if not path.is_file():
            raise DataError(f"dataset '{name}' not found in {data_dir}; run `snntrain download {name}`")
        arrays = _read_npz(path, f"run `snntrain download {name} --force`")
    _check_arrays(info, arrays, str(path))
    return Dataset(**arrays, info=info)


def _read_npz(path: Path, hint: str) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in KEYS if key not in archive.files]
            if not missing:
                return {key: archive[key] for key in KEYS}
        reason = f"missing {', '.join(missing)}"
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        reason = str(err) or type(err).__name__
    raise DataError(f"{path} is damaged or not a dataset file ({reason}); {hint}")


def _check_arrays(info: DatasetInfo, arrays: dict[str, np.ndarray], where: str) -> None:
    """Shapes, dtypes and label range must match the registry: a mismatch here would surface later as nonsense."""
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
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
    """Make `data_dir/<name>.npz` exist and verified; return its path.

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
    npz = canonical_path(name, data_dir)
    raw_dir = data_dir / name / "raw"
    try:
        if force:
            if source is not None and Path(source).resolve() == raw_dir.resolve():
                raise DataError(f"--from {source} is where the raw files are kept; --force would delete them first")
            for path in (npz, _digest_path(npz), *(raw_dir / f.name for f in info.files),
                         *(raw_dir / f"{f.name}.part" for f in info.files)):
                path.unlink(missing_ok=True)
        elif _npz_verified(npz):
            log(f"{name}: already present, verified ({npz})")
            return npz
        raw_dir.mkdir(parents=True, exist_ok=True)
        for remote in info.files:
            fetch_raw_file(remote, raw_dir, source, info.mirrors, log)
        log(f"{name}: converting to {npz}")
        train, test = _convert(info, raw_dir)
        arrays = {"train_images": train.images, "train_labels": train.labels,
                  "test_images": test.images, "test_labels": test.labels}
        _check_arrays(info, arrays, f"{name} raw files")
        if info.sizes is not None and (len(train.labels), len(test.labels)) != info.sizes:
            raise DataError(f"{name}: raw files hold {len(train.labels)} train / {len(test.labels)} test samples, "
                            f"expected {info.sizes[0]} / {info.sizes[1]}")
        _write_canonical(npz, arrays)
    except OSError as err:  # disk full, no permission: one line for the user, not a traceback
        raise DataError(f"cannot access {err.filename or data_dir}: {err.strerror or err}") from err
    log(f"{name}: ready, {len(train.labels)} train / {len(test.labels)} test samples ({npz})")
    return npz


def _digest_path(npz: Path) -> Path:
    return npz.with_name(npz.name + ".sha256")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _npz_verified(npz: Path) -> bool:
    record = _digest_path(npz)
    if not (npz.is_file() and record.is_file()):
        return False
    return record.read_text().split(maxsplit=1)[:1] == [_sha256(npz)]


def _matches(path: Path, remote: RemoteFile) -> tuple[bool, str]:
    """(verified, actual digest or reason). An unreadable gzip counts as a mismatch, not a crash."""
    from snntrain.data.fetch import file_digest

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
    downloaded from the base URL `source`, or else from `mirrors` in order, into `<name>.part`, checked against
    the pinned checksum, and only then moved into place. Raises DataError naming the file and what to do.
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
        _copy_local(remote, Path(source), part, final, log)
    else:
        bases = (source,) if source is not None else tuple(mirrors)
        if not bases:
            raise DataError(f"{remote.name}: no mirror known; use --from DIR or --from URL")
        _download(remote, [base.rstrip("/") + "/" + remote.name for base in bases], part, final, log)
    return final


def _copy_local(remote: RemoteFile, directory: Path, part: Path, final: Path, log: Callable[[str], None]) -> None:
    if not directory.is_dir():
        raise DataError(f"--from {directory}: no such directory, and not an http(s):// URL")
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


def _convert(info: DatasetInfo, raw_dir: Path) -> tuple[Split, Split]:
    """Parse the verified raw files into (train, test) splits."""
    paths = [raw_dir / f.name for f in info.files]
    if info.raw_format == "idx":
        return (Split(read_idx_images(paths[0]), read_idx_labels(paths[1])),
                Split(read_idx_images(paths[2]), read_idx_labels(paths[3])))
    if info.raw_format == "emnist-mat":
        return read_emnist_zip(paths[0], "balanced")
    raise AssertionError(f"no converter for raw format {info.raw_format!r}")


def _write_canonical(npz: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write the .npz and its digest record, each to a temp file first so a crash never leaves a half file."""
    tmp = npz.with_name(f".{npz.name}.tmp")
    try:
        with open(tmp, "wb") as f:
            # Uncompressed: loading then costs one read, well under a second even for EMNIST.
            np.savez(f, **arrays)
        digest = _sha256(tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, npz)
    record = _digest_path(npz)
    tmp_record = record.with_name(f".{record.name}.tmp")
    tmp_record.write_text(f"{digest}  {npz.name}\n")
    os.replace(tmp_record, record)
