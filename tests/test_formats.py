"""Raw-format parsers on generated files: IDX, EMNIST .mat (and its zip), SHD-layout HDF5."""
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
    parse_idx,
    read_emnist_mat,
    read_emnist_zip,
    read_event_hdf5,
    read_idx_images,
    read_idx_labels,
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
    with pytest.raises(DataError, match="corrupt zip"):
        read_emnist_zip(tmp_path / "junk.zip")


def _write_shd(path: Path, times: list[np.ndarray], units: list[np.ndarray], labels: np.ndarray) -> None:
    with h5py.File(path, "w") as f:
        t = f.create_dataset("spikes/times", (len(times),), dtype=h5py.vlen_dtype(np.float32))
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
    assert [len(t) for t in events.times] == counts
    for got, want in zip(events.times, times):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(events.units, units):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(events.labels, labels)


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
    with pytest.raises(DataError, match="negative or non-finite"):
        read_event_hdf5(tmp_path / "neg.h5")
    with h5py.File(tmp_path / "missing.h5", "w") as f:
        f.create_dataset("labels", data=np.zeros(1))
    with pytest.raises(DataError, match="missing"):
        read_event_hdf5(tmp_path / "missing.h5")
    (tmp_path / "text.h5").write_text("hello")
    with pytest.raises(DataError, match="not a readable HDF5"):
        read_event_hdf5(tmp_path / "text.h5")
