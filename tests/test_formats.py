"""Raw-format parsers on generated files: IDX, EMNIST .mat (and its zip), SHD-layout HDF5, N-MNIST events."""
from __future__ import annotations

import gzip
import struct
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io

from snntrain.data.formats import (
    EventSamples,
    nmnist_units,
    parse_idx,
    parse_nmnist_events,
    read_emnist_mat,
    read_emnist_zip,
    read_event_hdf5,
    read_idx_images,
    read_idx_labels,
    read_nmnist_zip,
    write_event_hdf5,
)
from snntrain.errors import DataError


def _idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """An IDX file written independently of the parser: big-endian magic, dimensions, then raw uint8 data."""
    magic = magic if magic is not None else 0x800 + array.ndim
    return struct.pack(f">i{array.ndim}i", magic, *array.shape) + array.astype(np.uint8).tobytes()


@pytest.fixture
def rng():
    return np.random.default_rng(7)


@pytest.mark.parametrize("compress", [True, False])
def test_idx_round_trip(tmp_path, rng, compress):
    images = rng.integers(0, 256, (5, 4, 3), dtype=np.uint8)  # non-square: rows and columns must not swap
    labels = rng.integers(0, 10, 5, dtype=np.uint8)
    write = (lambda p, b: p.write_bytes(gzip.compress(b))) if compress else (lambda p, b: p.write_bytes(b))
    write(tmp_path / "img", _idx_bytes(images))
    write(tmp_path / "lab", _idx_bytes(labels))
    got_images = read_idx_images(tmp_path / "img")
    assert got_images.shape == (5, 4, 3, 1) and got_images.dtype == np.uint8
    np.testing.assert_array_equal(got_images[..., 0], images)
    np.testing.assert_array_equal(read_idx_labels(tmp_path / "lab"), labels)


def test_idx_headers_are_big_endian_with_the_official_magics():
    assert _idx_bytes(np.zeros((1, 2, 2), np.uint8))[:4] == bytes([0, 0, 8, 3])  # 2051
    assert parse_idx(bytes([0, 0, 8, 1, 0, 0, 0, 2, 7, 9]), 2049).tolist() == [7, 9]


def test_idx_bad_magic_is_rejected(tmp_path):
    (tmp_path / "labels").write_bytes(_idx_bytes(np.zeros(3, np.uint8)))
    with pytest.raises(DataError, match="bad IDX magic number 2049 \\(expected 2051\\)"):
        read_idx_images(tmp_path / "labels")
    (tmp_path / "little").write_bytes(struct.pack("<i", 2049) + struct.pack(">i", 1) + b"\0")
    with pytest.raises(DataError, match="bad IDX magic"):
        read_idx_labels(tmp_path / "little")


def test_idx_truncated_or_padded_file_is_rejected(tmp_path):
    data = _idx_bytes(np.zeros((3, 2, 2), np.uint8))
    for name, content in (("short", data[:-1]), ("long", data + b"\0"), ("tiny", data[:6])):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(DataError, match=name):
            read_idx_images(tmp_path / name)


def test_idx_corrupt_gzip_is_a_data_error(tmp_path):
    packed = gzip.compress(_idx_bytes(np.arange(200, dtype=np.uint8)))
    (tmp_path / "bad.gz").write_bytes(packed[:20] + bytes(b ^ 0x5A for b in packed[20:40]) + packed[40:])
    with pytest.raises(DataError, match="bad.gz"):
        read_idx_labels(tmp_path / "bad.gz")


def _emnist_struct(rng: np.random.Generator, n_train: int, n_test: int):
    """EMNIST's real layout: dataset.{train,test}.{images (N, 784) uint8 column-major, labels (N, 1)}, mapping."""
    originals, content = {}, {}
    for split, n in (("train", n_train), ("test", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 47, (n, 1)).astype(np.float64)
        originals[split] = (images, labels.ravel())
        # MATLAB flattens each image column by column (Fortran order)
        flat = images.transpose(0, 2, 1).reshape(n, 784)
        content[split] = {"images": flat, "labels": labels, "writers": np.zeros((n, 1))}
    content["mapping"] = np.stack([np.arange(47), 48 + np.arange(47)], axis=1)
    return {"dataset": content}, originals


def test_emnist_mat_is_parsed_and_each_image_transposed(tmp_path, rng):
    mat, originals = _emnist_struct(rng, 6, 4)
    scipy.io.savemat(tmp_path / "emnist-balanced.mat", mat)
    train, test = read_emnist_mat(tmp_path / "emnist-balanced.mat")
    for split, (images, labels) in zip((train, test), (originals["train"], originals["test"])):
        assert split.images.shape == (len(images), 28, 28, 1) and split.images.dtype == np.uint8
        np.testing.assert_array_equal(split.images[..., 0], images)
        np.testing.assert_array_equal(split.labels, labels.astype(np.uint8))
    # a marked pixel: row 2, column 5 of the original stays at [2, 5]
    assert train.images[0, 2, 5, 0] == originals["train"][0][0, 2, 5]


def test_emnist_zip_reads_the_balanced_member(tmp_path, rng):
    mat, originals = _emnist_struct(rng, 3, 2)
    scipy.io.savemat(tmp_path / "balanced.mat", mat)
    other, _ = _emnist_struct(rng, 1, 1)
    scipy.io.savemat(tmp_path / "digits.mat", other)
    with zipfile.ZipFile(tmp_path / "matlab.zip", "w") as archive:
        archive.write(tmp_path / "digits.mat", "matlab/emnist-digits.mat")
        archive.write(tmp_path / "balanced.mat", "matlab/emnist-balanced.mat")
    train, test = read_emnist_zip(tmp_path / "matlab.zip")
    np.testing.assert_array_equal(train.images[..., 0], originals["train"][0])
    assert len(test.labels) == 2


def test_emnist_bad_inputs_are_data_errors(tmp_path):
    scipy.io.savemat(tmp_path / "wrong.mat", {"something": np.zeros(3)})
    with pytest.raises(DataError, match="not an EMNIST MATLAB file"):
        read_emnist_mat(tmp_path / "wrong.mat")
    with zipfile.ZipFile(tmp_path / "empty.zip", "w") as archive:
        archive.writestr("readme.txt", "nothing")
    with pytest.raises(DataError, match="no emnist-balanced.mat"):
        read_emnist_zip(tmp_path / "empty.zip")
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="corrupt or unreadable zip"):
        read_emnist_zip(tmp_path / "junk.zip")


def _write_shd(path: Path, times: list[np.ndarray], units: list[np.ndarray], labels: np.ndarray,
               time_type: type = np.float32) -> None:
    with h5py.File(path, "w") as f:
        t = f.create_dataset("spikes/times", (len(times),), dtype=h5py.vlen_dtype(time_type))
        u = f.create_dataset("spikes/units", (len(units),), dtype=h5py.vlen_dtype(np.uint16))
        for i, (ti, ui) in enumerate(zip(times, units)):
            t[i], u[i] = ti, ui
        f.create_dataset("labels", data=labels.astype(np.uint16))


def test_shd_layout_hdf5_round_trip(tmp_path, rng):
    counts = [5, 0, 12]
    times = [np.sort(rng.uniform(0, 1.0, n)).astype(np.float32) for n in counts]
    units = [rng.integers(0, 700, n).astype(np.uint16) for n in counts]
    labels = np.array([3, 19, 0])
    _write_shd(tmp_path / "shd.h5", times, units, labels)
    events = read_event_hdf5(tmp_path / "shd.h5", channels=700)
    assert len(events) == 3 and events.offsets.tolist() == [0, 5, 5, 17]
    assert events.times.dtype == np.float32 and events.labels.dtype == np.int64
    for i in range(3):
        got_times, got_units = events.sample(i)
        np.testing.assert_array_equal(got_times, times[i])
        np.testing.assert_array_equal(got_units, units[i])
    np.testing.assert_array_equal(events.labels, labels)
    first = events.head(2)
    assert len(first) == 2 and first.times.size == 5 and len(events.head(10)) == 3


def test_shd_gzipped_file_reads_like_the_plain_one(tmp_path):
    times, units = [np.array([0.5, 0.25, 0.75], np.float32)], [np.array([4, 1, 2], np.uint16)]
    _write_shd(tmp_path / "plain.h5", times, units, np.array([7]))
    (tmp_path / "packed.h5.gz").write_bytes(gzip.compress((tmp_path / "plain.h5").read_bytes()))
    events = read_event_hdf5(tmp_path / "packed.h5.gz", channels=700)
    # out-of-order events come back sorted by time, each keeping its unit
    assert events.times.tolist() == [0.25, 0.5, 0.75] and events.units.tolist() == [1, 4, 2]
    assert events.labels.tolist() == [7]


def test_event_hdf5_writer_round_trip(tmp_path, rng):
    # equally long samples: numpy must not turn the per-sample lists into one 2-D array
    times = np.sort(rng.uniform(0, 1, (3, 4)).astype(np.float32), axis=1).ravel()
    events = EventSamples(times, rng.integers(0, 2312, 12).astype(np.uint16), np.array([0, 4, 8, 12]),
                          np.array([1, 2, 3]))
    write_event_hdf5(tmp_path / "out.h5", events)
    with h5py.File(tmp_path / "out.h5", "r") as f:  # the SHD layout, readable without snntrain
        assert f["spikes/times"].shape == (3,) and len(f["spikes/units"][1]) == 4
        assert f["labels"][:].tolist() == [1, 2, 3]
    back = read_event_hdf5(tmp_path / "out.h5", channels=2312)
    for key in ("times", "units", "offsets", "labels"):
        np.testing.assert_array_equal(getattr(back, key), getattr(events, key))
    write_event_hdf5(tmp_path / "empty.h5", EventSamples(np.empty(0, np.float32), np.empty(0, np.uint16),
                                                         np.array([0]), np.empty(0, np.int64)))
    assert len(read_event_hdf5(tmp_path / "empty.h5")) == 0


def test_shd_inconsistent_files_are_rejected(tmp_path):
    ok_t, ok_u = [np.array([0.1, 0.2], np.float32)], [np.array([1, 2], np.uint16)]
    _write_shd(tmp_path / "units.h5", ok_t, [np.array([1, 700], np.uint16)], np.array([0]))
    with pytest.raises(DataError, match="units outside"):
        read_event_hdf5(tmp_path / "units.h5", channels=700)
    _write_shd(tmp_path / "lengths.h5", ok_t, [np.array([1], np.uint16)], np.array([0]))
    with pytest.raises(DataError, match="2 times but 1 units"):
        read_event_hdf5(tmp_path / "lengths.h5")
    _write_shd(tmp_path / "labels.h5", ok_t, ok_u, np.array([0, 1]))
    with pytest.raises(DataError, match="2 labels"):
        read_event_hdf5(tmp_path / "labels.h5")
    _write_shd(tmp_path / "neg.h5", [np.array([-0.1, 0.2], np.float32)], ok_u, np.array([0]))
    with pytest.raises(DataError, match="negative, not finite or beyond float32"):
        read_event_hdf5(tmp_path / "neg.h5")
    with h5py.File(tmp_path / "missing.h5", "w") as f:
        f.create_dataset("labels", data=np.zeros(1))
    with pytest.raises(DataError, match="missing"):
        read_event_hdf5(tmp_path / "missing.h5")
    (tmp_path / "text.h5").write_text("hello")
    with pytest.raises(DataError, match="not a readable HDF5"):
        read_event_hdf5(tmp_path / "text.h5")
    with h5py.File(tmp_path / "flat.h5", "w") as f:
        f["spikes/times"], f["spikes/units"], f["labels"] = np.zeros(3), np.zeros(3), np.zeros(1, int)
    with pytest.raises(DataError, match="spikes/times is not a variable-length list of floating-point seconds"):
        read_event_hdf5(tmp_path / "flat.h5")
    _write_shd(tmp_path / "later.h5", [ok_t[0], np.array([0.3, np.nan], np.float32)], [ok_u[0], ok_u[0]],
               np.array([0, 1]))
    with pytest.raises(DataError, match="sample 1 has spike times that are negative, not finite or beyond float32"):
        read_event_hdf5(tmp_path / "later.h5")


def test_shd_files_that_h5py_or_numpy_stumble_on_are_one_line_errors(tmp_path, recwarn):
    """Each used to end in a traceback or a numpy warning before the error."""
    ok_t, ok_u = [np.array([0.1, 0.2], np.float32)], [np.array([1, 2], np.uint16)]
    _write_shd(tmp_path / "huge.h5", [np.array([0.1, 1e39])], ok_u, np.array([0]), np.float64)  # beyond float32
    with pytest.raises(DataError, match="sample 0 has spike times that are negative, not finite or beyond float32"):
        read_event_hdf5(tmp_path / "huge.h5")
    assert not [w for w in recwarn if "overflow" in str(w.message)]  # was: RuntimeWarning from the float32 cast
    _write_shd(tmp_path / "loop.h5", ok_t, ok_u, np.array([0]))
    with h5py.File(tmp_path / "loop.h5", "a") as f:
        del f["labels"]
        f["labels"] = h5py.SoftLink("/labels")  # a link to itself
    with pytest.raises(DataError, match="loop.h5: "):  # was: RuntimeError, Special link traversal failed
        read_event_hdf5(tmp_path / "loop.h5")
    with h5py.File(tmp_path / "missing.h5", "w") as f:
        f["spikes/times"] = np.zeros(1)
    with pytest.raises(DataError, match="missing spikes/units; expected spikes/times, spikes/units and labels"):
        read_event_hdf5(tmp_path / "missing.h5")  # was: h5py's "Unable to synchronously open object (...)"
    _write_shd(tmp_path / "micro.h5", [np.array([100_000, 102_000])], ok_u, np.array([0]), np.int32)
    with pytest.raises(DataError, match=r"spikes/times is not a variable-length list of floating-point .*\(int32"):
        read_event_hdf5(tmp_path / "micro.h5")  # was: read as seconds, every event far past t_max


def _nmnist_bytes(events: list[tuple[int, int, int, int]]) -> bytes:
    """(x, y, polarity, t_us) events packed by hand: x, y, then polarity in the top bit of a 24-bit big-endian
    timestamp word."""
    return b"".join(bytes([x, y]) + ((p << 23) | t).to_bytes(3, "big") for x, y, p, t in events)


def test_nmnist_events_decode_every_field():
    known = [(0, 0, 0, 0), (33, 5, 1, 1), (7, 33, 0, 0x7FFFFF), (12, 20, 1, 300_000)]
    events = parse_nmnist_events(_nmnist_bytes(known))
    assert events.x.tolist() == [0, 33, 7, 12] and events.y.tolist() == [0, 5, 33, 20]
    assert events.polarity.tolist() == [0, 1, 0, 1]
    assert events.t_us.tolist() == [0, 1, 0x7FFFFF, 300_000]
    # input channels flatten (x, y, polarity) in C order over 34 x 34 x 2
    assert nmnist_units(events).tolist() == [0, (33 * 34 + 5) * 2 + 1, (7 * 34 + 33) * 2, (12 * 34 + 20) * 2 + 1]


def test_nmnist_overflow_markers_shift_later_timestamps():
    data = _nmnist_bytes([(1, 1, 0, 100), (0, 240, 0, 0), (2, 2, 1, 50), (0, 240, 0, 0), (3, 3, 0, 10)])
    events = parse_nmnist_events(data)
    assert events.x.tolist() == [1, 2, 3]  # markers are not events
    assert events.t_us.tolist() == [100, 50 + 8192, 10 + 2 * 8192]


def test_nmnist_bad_files_are_one_line_errors():
    good = _nmnist_bytes([(1, 2, 0, 3), (4, 5, 1, 6)])
    with pytest.raises(DataError, match="x.bin: 9 bytes is not a whole number of 5-byte events"):
        parse_nmnist_events(good[:-1], "x.bin")
    with pytest.raises(DataError, match="event 1 at x = 34, y = 5 lies outside the 34x34 sensor"):
        parse_nmnist_events(_nmnist_bytes([(1, 2, 0, 3), (34, 5, 1, 6)]))
    with pytest.raises(DataError, match="event 0 at x = 0, y = 200"):
        parse_nmnist_events(_nmnist_bytes([(0, 200, 0, 0)]))


def test_nmnist_zip_orders_samples_by_digit_and_converts_units_and_seconds(tmp_path):
    files = {"Train/3/00002.bin": [(1, 2, 1, 250_000), (5, 6, 0, 1000)],  # out of time order in the file
             "Train/0/00010.bin": [(0, 0, 0, 7)],
             "Train/0/00001.bin": [],
             "__MACOSX/Train/0/._00001.bin": [(0, 0, 0, 0)],
             "Train/readme.txt": []}
    with zipfile.ZipFile(tmp_path / "Train.zip", "w") as archive:
        for name, events in files.items():
            archive.writestr(name, _nmnist_bytes(events))
    samples = read_nmnist_zip(tmp_path / "Train.zip", "Train")
    assert samples.labels.tolist() == [0, 0, 3] and samples.offsets.tolist() == [0, 0, 1, 3]
    assert samples.units.tolist() == [0, (5 * 34 + 6) * 2, (1 * 34 + 2) * 2 + 1]
    np.testing.assert_array_equal(samples.times, np.array([7e-6, 1e-3, 0.25], np.float32))
    with pytest.raises(DataError, match="no Test/<digit>/<id>.bin files inside"):
        read_nmnist_zip(tmp_path / "Train.zip", "Test")
    (tmp_path / "Test.zip").write_bytes(b"PK not a zip")
    with pytest.raises(DataError, match="Test.zip: corrupt or unreadable zip archive"):
        read_nmnist_zip(tmp_path / "Test.zip", "Test")
    # a member compressed with Deflate64 (method 9), which zipfile cannot read; then one marked encrypted
    stored = bytearray((tmp_path / "Train.zip").read_bytes())
    for signature, method_at in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        at = stored.find(signature)
        while at >= 0:
            stored[at + method_at:at + method_at + 2] = (9).to_bytes(2, "little")
            at = stored.find(signature, at + 1)
    (tmp_path / "Deflate64.zip").write_bytes(bytes(stored))
    with pytest.raises(DataError, match="Deflate64.zip: corrupt or unreadable zip archive"):  # NotImplementedError
        read_nmnist_zip(tmp_path / "Deflate64.zip", "Train")
    with zipfile.ZipFile(tmp_path / "Encrypted.zip", "w") as archive:
        archive.writestr("Train/0/00001.bin", _nmnist_bytes([(0, 0, 0, 7)]))
    encrypted = bytearray((tmp_path / "Encrypted.zip").read_bytes())
    for signature, flags_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = encrypted.find(signature)
        encrypted[at + flags_at] |= 1
    (tmp_path / "Encrypted.zip").write_bytes(bytes(encrypted))
    with pytest.raises(DataError, match="Encrypted.zip: corrupt or unreadable zip archive"):  # RuntimeError
        read_nmnist_zip(tmp_path / "Encrypted.zip", "Train")
