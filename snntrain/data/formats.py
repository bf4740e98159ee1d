"""Parsers for the raw dataset formats: IDX (MNIST family), EMNIST's MATLAB files, SHD-style HDF5 event files.

Every parser validates what it reads and raises DataError naming the file; none trusts a header blindly.
"""
from __future__ import annotations

import gzip
import io
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snntrain.errors import DataError

IDX_IMAGES_MAGIC = 2051  # unsigned bytes, 3 dimensions (N, rows, cols)
IDX_LABELS_MAGIC = 2049  # unsigned bytes, 1 dimension (N,)


def _read_maybe_gzip(path: Path) -> bytes:
    """The file's bytes, gunzipped when it starts with the gzip magic (official files are .gz, users may unpack)."""
    try:
        with open(path, "rb") as f:
            head = f.read(2)
        if head == b"\x1f\x8b":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (gzip.BadGzipFile, EOFError, zlib.error) as err:
        raise DataError(f"{path}: corrupt gzip data ({err})") from err
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror or err})") from err


def parse_idx(data: bytes, magic: int, source: str = "IDX data") -> np.ndarray:
    """Decode an uncompressed IDX buffer of unsigned bytes whose big-endian magic must equal `magic`.

    Returns a read-only uint8 array shaped by the header's dimensions.
    """
    if len(data) < 4:
        raise DataError(f"{source}: not an IDX file (only {len(data)} bytes)")
    found = struct.unpack(">i", data[:4])[0]
    if found != magic:
        raise DataError(f"{source}: bad IDX magic number {found} (expected {magic}); not the right file")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{source}: IDX header truncated ({len(data)} bytes)")
    dims = struct.unpack(f">{ndim}i", data[4:header])
    expected = header + int(np.prod(dims, dtype=np.int64))
    if any(d < 0 for d in dims) or len(data) != expected:
        raise DataError(f"{source}: size {len(data)} bytes does not match its header {dims} "
                        f"({expected} bytes); the file is truncated or corrupt")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def read_idx_images(path: Path) -> np.ndarray:
    """IDX image file (gzipped or not) -> uint8 array (N, X, Y, 1), X indexing rows as stored."""
    images = parse_idx(_read_maybe_gzip(path), IDX_IMAGES_MAGIC, path.name)
    return images[..., np.newaxis]


def read_idx_labels(path: Path) -> np.ndarray:
    """IDX label file (gzipped or not) -> uint8 array (N,)."""
    return parse_idx(_read_maybe_gzip(path), IDX_LABELS_MAGIC, path.name)


@dataclass
class Split:
    """Images (N, X, Y, C) uint8 and labels (N,) uint8 of one train or test split."""

    images: np.ndarray
    labels: np.ndarray


def read_emnist_mat(source: Path | io.BytesIO, name: str = "EMNIST .mat") -> tuple[Split, Split]:
    """Parse an EMNIST MATLAB file (dataset.train/test.images/labels) into (train, test) splits.

    MATLAB stores each 28x28 image column-major, so each row of `images` is transposed back to (x, y).
    """
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    try:
        mat = loadmat(source)
        dataset = mat["dataset"]  # MATLAB structs load as (1, 1) arrays at every level
        splits = []
        for key in ("train", "test"):
            split = dataset[key][0, 0]
            flat = np.asarray(split["images"][0, 0])
            labels = np.asarray(split["labels"][0, 0]).reshape(-1)
            if flat.ndim != 2 or flat.shape[1] != 28 * 28 or len(labels) != len(flat):
                raise DataError(f"{name}: {key} images have shape {flat.shape}, labels {labels.shape}; "
                                "expected (N, 784) and (N,)")
            if any(a.size and (a.min() < 0 or a.max() > 255) for a in (flat, labels)):
                raise DataError(f"{name}: {key} pixel or label values out of range")
            images = flat.astype(np.uint8).reshape(-1, 28, 28).transpose(0, 2, 1)
            splits.append(Split(np.ascontiguousarray(images)[..., np.newaxis], labels.astype(np.uint8)))
    except (KeyError, IndexError, ValueError, TypeError, MatReadError) as err:
        raise DataError(f"{name}: not an EMNIST MATLAB file ({type(err).__name__}: {err})") from err
    return splits[0], splits[1]


def read_emnist_zip(path: Path, split: str = "balanced") -> tuple[Split, Split]:
    """Read `emnist-<split>.mat` out of NIST's matlab.zip and parse it with read_emnist_mat."""
    member = f"emnist-{split}.mat"
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.rsplit("/", 1)[-1] == member]
            if not names:
                raise DataError(f"{path.name}: no {member} inside; not NIST's EMNIST matlab.zip")
            data = archive.read(names[0])
    except (zipfile.BadZipFile, zlib.error, EOFError) as err:
        raise DataError(f"{path.name}: corrupt zip archive ({err})") from err
    return read_emnist_mat(io.BytesIO(data), f"{path.name}:{names[0]}")


@dataclass
class EventSamples:
    """Spike events per sample: times[i] (seconds, float32) and units[i] (input channel, int32), and labels."""

    times: list[np.ndarray]
    units: list[np.ndarray]
    labels: np.ndarray


def read_event_hdf5(path: Path, channels: int | None = None) -> EventSamples:
    """Read an HDF5 event file in the SHD layout: variable-length `spikes/times`, `spikes/units`, and `labels`.

    Checks that the three agree in length, that each sample has as many times as units, that times are finite
    and non-negative, and (given `channels`) that units lie in [0, channels).
    """
    import h5py

    try:
        with h5py.File(path, "r") as f:
            times = [np.asarray(t, dtype=np.float32) for t in f["spikes/times"][:]]
            units = [np.asarray(u, dtype=np.int32) for u in f["spikes/units"][:]]
            labels = np.asarray(f["labels"][:]).reshape(-1)
    except KeyError as err:
        raise DataError(f"{path.name}: missing {err.args[0] if err.args else 'dataset'}; "
                        "expected spikes/times, spikes/units and labels") from err
    except (OSError, ValueError, TypeError) as err:
        raise DataError(f"{path.name}: not a readable HDF5 event file ({err})") from err
    if not (len(times) == len(units) == len(labels)):
        raise DataError(f"{path.name}: {len(times)} time lists, {len(units)} unit lists, {len(labels)} labels")
    for i, (t, u) in enumerate(zip(times, units)):
        if t.shape != u.shape or t.ndim != 1:
            raise DataError(f"{path.name}: sample {i} has {t.size} times but {u.size} units")
        if t.size and (not np.all(np.isfinite(t)) or t.min() < 0):
            raise DataError(f"{path.name}: sample {i} has negative or non-finite spike times")
        if u.size and (u.min() < 0 or (channels is not None and u.max() >= channels)):
            raise DataError(f"{path.name}: sample {i} has units outside [0, {channels})")
    return EventSamples(times, units, labels.astype(np.int64))
