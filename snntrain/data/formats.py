"""Parsers for the raw dataset formats: IDX (MNIST family), EMNIST's MATLAB files, SHD-style HDF5 event files and
N-MNIST's binary event files.

Every parser validates what it reads and raises DataError naming the file; none trusts a header blindly.
"""
from __future__ import annotations

import gzip
import io
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snntrain.errors import DataError

IDX_IMAGES_MAGIC = 2051  # unsigned bytes, 3 dimensions (N, rows, cols)
IDX_LABELS_MAGIC = 2049  # unsigned bytes, 1 dimension (N,)


def _is_gzip(path: Path) -> bool:
    """Whether the file starts with the gzip magic (official files are .gz, users may unpack them)."""
    try:
        with open(path, "rb") as f:
            return f.read(2) == b"\x1f\x8b"
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror or err})") from err


def _gunzip(path: Path) -> bytes:
    """The decompressed bytes of a gzipped file."""
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except (gzip.BadGzipFile, EOFError, zlib.error) as err:
        raise DataError(f"{path}: corrupt gzip data ({err})") from err
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror or err})") from err


def _read_maybe_gzip(path: Path) -> bytes:
    """The file's bytes, gunzipped when it is gzipped."""
    if _is_gzip(path):
        return _gunzip(path)
    try:
        return path.read_bytes()
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


#: What zipfile raises for a damaged archive or member (a member it cannot read: `read_member`).
ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError)


def read_member(archive: zipfile.ZipFile, name: str) -> bytes:
    """The bytes of member `name`; zipfile.BadZipFile (one of ZIP_ERRORS) for a member compressed in a way zipfile
    cannot read (Deflate64: NotImplementedError) or encrypted (RuntimeError), so that only these are caught."""
    try:
        return archive.read(name)
    except (NotImplementedError, RuntimeError) as err:
        raise zipfile.BadZipFile(f"{name}: {err}") from err


def read_emnist_zip(path: Path, split: str = "balanced") -> tuple[Split, Split]:
    """Read `emnist-<split>.mat` out of NIST's matlab.zip and parse it with read_emnist_mat."""
    member = f"emnist-{split}.mat"
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.rsplit("/", 1)[-1] == member]
            if not names:
                raise DataError(f"{path.name}: no {member} inside; not NIST's EMNIST matlab.zip")
            data = read_member(archive, names[0])
    except ZIP_ERRORS as err:
        raise DataError(f"{path.name}: corrupt or unreadable zip archive ({err})") from err
    return read_emnist_mat(io.BytesIO(data), f"{path.name}:{names[0]}")


@dataclass
class EventSamples:
    """Spike events of N samples, concatenated so that thousands of samples cost a handful of arrays.

    Sample i owns `times[offsets[i]:offsets[i + 1]]` (seconds, float32, in time order within the sample) and the
    same slice of `units` (its input channel, an unsigned or signed integer array); `labels` is (N,) int64.
    """

    times: np.ndarray
    units: np.ndarray
    offsets: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def sample(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(times, units) of sample i."""
        lo, hi = self.offsets[i], self.offsets[i + 1]
        return self.times[lo:hi], self.units[lo:hi]

    def head(self, n: int) -> EventSamples:
        """The first n samples (all of them if there are fewer), as views."""
        n = min(n, len(self))
        end = self.offsets[n]
        return EventSamples(self.times[:end], self.units[:end], self.offsets[:n + 1], self.labels[:n])


def _sample_of(offsets: np.ndarray, event: int) -> int:
    """Which sample the flat event index belongs to."""
    return int(np.searchsorted(offsets, event, side="right")) - 1


def _time_ordered(times: np.ndarray, units: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Events sorted by time within each sample (stable, so simultaneous events keep their file order).

    Files are normally sorted already; checking costs one pass, sorting only happens when needed.
    """
    backwards = np.diff(times) < 0
    starts = offsets[1:-1]
    backwards[starts[(starts > 0) & (starts < len(times))] - 1] = False  # a new sample may start earlier
    if not backwards.any():
        return times, units
    sample = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    order = np.lexsort((times, sample))
    return times[order], units[order]


def _hdf5_source(path: Path) -> Path | io.BytesIO:
    """What h5py should open: the path, or the decompressed bytes of a gzipped file (SHD ships as .h5.gz)."""
    return io.BytesIO(_gunzip(path)) if _is_gzip(path) else path


def read_event_hdf5(path: Path, channels: int | None = None) -> EventSamples:
    """Read an HDF5 event file in the SHD layout (gzipped or not): variable-length `spikes/times` (seconds) and
    `spikes/units` per sample, and `labels`.

    Checks that the three agree in length, that each sample has as many times as units, that times are
    floating-point seconds, finite, non-negative and within float32's range, that labels are integers and (given
    `channels`) that units lie in [0, channels). Events come back time-ordered within each sample.
    """
    import h5py

    try:
        with h5py.File(_hdf5_source(path), "r") as f:
            for key in ("spikes/times", "spikes/units", "labels"):
                if key not in f:
                    raise DataError(f"{path}: missing {key}; expected spikes/times, spikes/units and labels")
            columns = []
            # times are seconds: integers would be another unit (microseconds, say), all past t_max
            for key, kinds, what in (("spikes/times", "f", "floating-point seconds"),
                                     ("spikes/units", "iu", "integer channels")):
                dataset = f[key]
                if not isinstance(dataset, h5py.Dataset):
                    raise DataError(f"{path}: {key} is a group, not a dataset; expected the SHD layout")
                base = h5py.check_vlen_dtype(dataset.dtype)
                if dataset.ndim != 1 or base is None or np.dtype(base).kind not in kinds:
                    raise DataError(f"{path}: {key} is not a variable-length list of {what} per sample "
                                    f"({base or dataset.dtype}, shape {dataset.shape}); expected the SHD layout")
                columns.append(dataset[:])
            labels = np.asarray(f["labels"][:]).reshape(-1)
    except (OSError, ValueError, TypeError, KeyError, RuntimeError) as err:  # RuntimeError: a soft-link loop
        raise DataError(f"{path}: not a readable HDF5 event file ({err})") from err
    times_per_sample, units_per_sample = columns
    if not (len(times_per_sample) == len(units_per_sample) == len(labels)):
        raise DataError(f"{path}: {len(times_per_sample)} time lists, {len(units_per_sample)} unit lists, "
                        f"{len(labels)} labels")
    if labels.dtype.kind not in "iu" or (labels.size and labels.min() < 0):
        raise DataError(f"{path}: labels must be non-negative integers, got {labels.dtype}")
    lengths = np.fromiter(map(len, times_per_sample), np.int64, len(times_per_sample))
    unit_lengths = np.fromiter(map(len, units_per_sample), np.int64, len(units_per_sample))
    if (lengths != unit_lengths).any():
        i = int(np.flatnonzero(lengths != unit_lengths)[0])
        raise DataError(f"{path}: sample {i} has {lengths[i]} times but {unit_lengths[i]} units")
    offsets = np.concatenate(([0], np.cumsum(lengths)))
    times = np.concatenate([*times_per_sample, np.empty(0, np.float32)])
    units = np.concatenate([*units_per_sample, np.empty(0, np.uint16)])
    if units.dtype.kind not in "iu":
        raise DataError(f"{path}: spikes/units must be integers, got {units.dtype}")
    bad = ~np.isfinite(times) | (times < 0) | (times > np.finfo(np.float32).max)  # before the float32 cast
    if bad.any():
        raise DataError(f"{path}: sample {_sample_of(offsets, int(np.argmax(bad)))} has spike times that are "
                        "negative, not finite or beyond float32's range")
    times = times.astype(np.float32, copy=False)
    bad = (units < 0) | (units >= channels) if channels is not None else units < 0
    if bad.any():
        raise DataError(f"{path}: sample {_sample_of(offsets, int(np.argmax(bad)))} has units outside "
                        f"[0, {channels})")
    times, units = _time_ordered(times, units, offsets)
    return EventSamples(times, units, offsets, labels.astype(np.int64))


def write_event_hdf5(path: Path, events: EventSamples) -> None:
    """Write `events` in the SHD layout that read_event_hdf5 reads: float32 times, uint16 units, uint16 labels."""
    import h5py

    with h5py.File(path, "w") as f:
        for key, flat, dtype in (("spikes/times", events.times, np.float32),
                                 ("spikes/units", events.units, np.uint16)):
            flat = flat.astype(dtype, copy=False)
            # Filled one by one, and passed at creation: numpy (and h5py's slice assignment) would otherwise turn
            # equally long samples into a 2-D array instead of a list of samples.
            per_sample = np.empty(len(events), dtype=object)
            for i in range(len(events)):
                per_sample[i] = flat[events.offsets[i]:events.offsets[i + 1]]
            f.create_dataset(key, data=per_sample, dtype=h5py.vlen_dtype(dtype))
        f.create_dataset("labels", data=events.labels.astype(np.uint16))


NMNIST_SENSOR = 34  # N-MNIST's ATIS crop: x and y in 0..33
_OVERFLOW_Y = 240  # a y of 240 marks a timestamp overflow, not an event (Orchard's reference reader)
_OVERFLOW_US = 1 << 13  # what each overflow marker adds to every later timestamp, per that reader


@dataclass
class DvsEvents:
    """Events of one N-MNIST file: x, y (uint8), polarity (uint8, 1 = ON) and timestamp in µs (int64)."""

    x: np.ndarray
    y: np.ndarray
    polarity: np.ndarray
    t_us: np.ndarray


def parse_nmnist_events(data: bytes, source: str = "N-MNIST data") -> DvsEvents:
    """Decode an N-MNIST binary event file: 5 bytes (40 bits) per event.

    Byte 0 is x, byte 1 is y, bit 7 of byte 2 the polarity, and the remaining 23 bits
    ((byte2 & 0x7F) << 16 | byte3 << 8 | byte4) the timestamp in microseconds. A y of 240 is a timestamp-overflow
    marker: it adds 2^13 µs to every later timestamp and is not itself an event.
    """
    if len(data) % 5:
        raise DataError(f"{source}: {len(data)} bytes is not a whole number of 5-byte events; the file is truncated")
    raw = np.frombuffer(data, dtype=np.uint8).reshape(-1, 5)
    x, y = raw[:, 0], raw[:, 1]
    t_us = (((raw[:, 2] & 0x7F).astype(np.int64) << 16) | (raw[:, 3].astype(np.int64) << 8)
            | raw[:, 4].astype(np.int64))
    overflow = y == _OVERFLOW_Y
    if overflow.any():
        t_us = t_us + np.cumsum(overflow) * _OVERFLOW_US
    outside = ~overflow & ((x >= NMNIST_SENSOR) | (y >= NMNIST_SENSOR))
    if outside.any():
        i = int(np.argmax(outside))
        raise DataError(f"{source}: event {i} at x = {x[i]}, y = {y[i]} lies outside the "
                        f"{NMNIST_SENSOR}x{NMNIST_SENSOR} sensor; not an N-MNIST event file")
    keep = ~overflow
    return DvsEvents(x[keep], y[keep], raw[keep, 2] >> 7, t_us[keep])


def nmnist_units(events: DvsEvents) -> np.ndarray:
    """Input channel of each event: (x, y, polarity) flattened in C order, as images flatten (x, y, c)."""
    x, y, p = (a.astype(np.int32) for a in (events.x, events.y, events.polarity))
    return (x * NMNIST_SENSOR + y) * 2 + p


def read_nmnist_zip(path: Path, split: str) -> EventSamples:
    """Read the official N-MNIST archive of one split (`Train.zip` or `Test.zip`): `<split>/<digit>/<id>.bin`.

    Samples are ordered by digit, then file name; times become seconds and units nmnist_units.
    """
    member = re.compile(rf"(?:^|/){re.escape(split)}/([0-9])/(?!\._)[^/]+\.bin$")
    times, units, labels = [], [], []
    try:
        with zipfile.ZipFile(path) as archive:
            found = sorted((int(m.group(1)), name) for name in archive.namelist()
                           if (m := member.search(name)) and not name.startswith("__MACOSX/"))
            if not found:
                raise DataError(f"{path.name}: no {split}/<digit>/<id>.bin files inside; "
                                "not the official N-MNIST archive")
            for label, name in found:
                events = parse_nmnist_events(read_member(archive, name), f"{path.name}:{name}")
                times.append((events.t_us * 1e-6).astype(np.float32))
                units.append(nmnist_units(events).astype(np.uint16))
                labels.append(label)
    except ZIP_ERRORS as err:
        raise DataError(f"{path.name}: corrupt or unreadable zip archive ({err})") from err
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror or err})") from err
    offsets = np.concatenate(([0], np.cumsum([len(t) for t in times]))).astype(np.int64)
    flat_times, flat_units = _time_ordered(np.concatenate(times), np.concatenate(units), offsets)
    return EventSamples(flat_times, flat_units, offsets, np.array(labels, dtype=np.int64))
