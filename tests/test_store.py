"""Canonical files and loading: a tiny generated IDX dataset registered for the test, and the shipped digits."""
from __future__ import annotations

import gzip
import hashlib
import os
import struct
import zipfile

import numpy as np
import pytest
import scipy.io

from snntrain.data import DATASETS, DatasetInfo, RemoteFile, download_dataset, load_dataset
from snntrain.errors import DataError

N_TRAIN, N_TEST, SHAPE = 20, 10, (6, 5, 1)


def _idx_gz(array: np.ndarray) -> bytes:
    return gzip.compress(struct.pack(f">i{array.ndim}i", 0x800 + array.ndim, *array.shape) + array.tobytes())


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """A 'tiny' IDX dataset in the registry, its official files in `tiny.source`, and the arrays they hold."""
    rng = np.random.default_rng(3)
    arrays = {"train_images": rng.integers(0, 256, (N_TRAIN, *SHAPE), dtype=np.uint8),
              "train_labels": rng.integers(0, 10, N_TRAIN, dtype=np.uint8),
              "test_images": rng.integers(0, 256, (N_TEST, *SHAPE), dtype=np.uint8),
              "test_labels": rng.integers(0, 10, N_TEST, dtype=np.uint8)}
    source = tmp_path / "official"
    source.mkdir()
    files = []
    for name, key in (("train-images-idx3-ubyte.gz", "train_images"), ("train-labels-idx1-ubyte.gz", "train_labels"),
                      ("t10k-images-idx3-ubyte.gz", "test_images"), ("t10k-labels-idx1-ubyte.gz", "test_labels")):
        content = arrays[key][..., 0] if key.endswith("images") else arrays[key]
        (source / name).write_bytes(_idx_gz(content))
        digest = hashlib.md5(gzip.decompress((source / name).read_bytes())).hexdigest()
        files.append(RemoteFile(name, f"md5:{digest}", decompressed=True))
    info = DatasetInfo("tiny", SHAPE, 10, "image", tuple(files), (), "idx", (N_TRAIN, N_TEST))
    monkeypatch.setitem(DATASETS, "tiny", info)

    class Tiny:
        pass

    tiny = Tiny()
    tiny.source, tiny.arrays, tiny.info, tiny.data = source, arrays, info, tmp_path / "data"
    return tiny


def _messages():
    log = []
    return log, log.append


def test_download_converts_once_and_loads_the_same_arrays(tiny):
    log, say = _messages()
    npz = download_dataset("tiny", tiny.data, source=str(tiny.source), log=say)
    assert npz == tiny.data / "tiny.npz"
    with np.load(npz) as z:
        assert sorted(z.files) == sorted(tiny.arrays)
    data = load_dataset("tiny", tiny.data)
    for key, want in tiny.arrays.items():
        np.testing.assert_array_equal(getattr(data, key), want)
    assert data.info is tiny.info
    assert sorted(p.name for p in (tiny.data / "tiny" / "raw").iterdir()) == sorted(f.name for f in tiny.info.files)
    assert sorted(p.name for p in tiny.data.iterdir()) == ["tiny", "tiny.npz", "tiny.npz.sha256"]  # no temp files

    log.clear()
    download_dataset("tiny", tiny.data, source=str(tiny.source), log=say)
    assert log == [f"tiny: already present, verified ({npz})"]


def test_missing_npz_is_rebuilt_from_verified_raw_files_without_fetching(tiny):
    download_dataset("tiny", tiny.data, source=str(tiny.source))
    (tiny.data / "tiny.npz").unlink()
    log, say = _messages()
    download_dataset("tiny", tiny.data, log=say)  # no source and no mirrors: only the raw files can serve
    assert sum("present, verified" in line for line in log) == 4
    np.testing.assert_array_equal(load_dataset("tiny", tiny.data).test_labels, tiny.arrays["test_labels"])


def test_tampered_npz_is_not_trusted(tiny):
    npz = download_dataset("tiny", tiny.data, source=str(tiny.source))
    npz.write_bytes(npz.read_bytes()[:-10] + b"0123456789")
    log, say = _messages()
    download_dataset("tiny", tiny.data, log=say)
    assert not any("already present" in line for line in log)
    np.testing.assert_array_equal(load_dataset("tiny", tiny.data).train_images, tiny.arrays["train_images"])


def test_a_damaged_checksum_record_is_not_trusted(tiny):
    """A .sha256 record that is not text (a disk error): the file is rebuilt, as for a mismatch (before: a
    UnicodeDecodeError traceback)."""
    npz = download_dataset("tiny", tiny.data, source=str(tiny.source))
    (tiny.data / "tiny.npz.sha256").write_bytes(bytes(range(128, 256)))
    log, say = _messages()
    download_dataset("tiny", tiny.data, source=str(tiny.source), log=say)
    assert not any("already present" in line for line in log) and any("converting" in line for line in log)
    assert (tiny.data / "tiny.npz.sha256").read_text().split()[0] == hashlib.sha256(npz.read_bytes()).hexdigest()


def test_corrupt_raw_file_is_fetched_again(tiny):
    download_dataset("tiny", tiny.data, source=str(tiny.source))
    raw = tiny.data / "tiny" / "raw" / "train-labels-idx1-ubyte.gz"
    raw.write_bytes(b"garbage")
    (tiny.data / "tiny.npz").unlink()
    log, say = _messages()
    download_dataset("tiny", tiny.data, source=str(tiny.source), log=say)
    assert any("fails its checksum" in line for line in log)
    np.testing.assert_array_equal(load_dataset("tiny", tiny.data).train_labels, tiny.arrays["train_labels"])


def test_force_fetches_everything_again(tiny):
    download_dataset("tiny", tiny.data, source=str(tiny.source))
    log, say = _messages()
    download_dataset("tiny", tiny.data, source=str(tiny.source), force=True, log=say)
    assert sum("copied from" in line for line in log) == 4


def test_wrong_local_file_never_lands(tiny):
    (tiny.source / "t10k-labels-idx1-ubyte.gz").write_bytes(_idx_gz(np.zeros(N_TEST, np.uint8)))
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz: checksum mismatch \\(expected md5 "):
        download_dataset("tiny", tiny.data, source=str(tiny.source))
    raw = tiny.data / "tiny" / "raw"
    assert not (raw / "t10k-labels-idx1-ubyte.gz").exists()
    assert not (raw / "t10k-labels-idx1-ubyte.gz.part").exists()
    assert not (tiny.data / "tiny.npz").exists()


def test_unexpected_sample_counts_are_rejected(tiny, monkeypatch):
    monkeypatch.setitem(DATASETS, "tiny", DatasetInfo(**{**tiny.info.__dict__, "sizes": (N_TRAIN + 1, N_TEST)}))
    with pytest.raises(DataError, match="expected 21 / 10"):
        download_dataset("tiny", tiny.data, source=str(tiny.source))
    assert not (tiny.data / "tiny.npz").exists()


def test_labels_beyond_the_class_count_are_rejected(tiny, monkeypatch):
    monkeypatch.setitem(DATASETS, "tiny", DatasetInfo(**{**tiny.info.__dict__, "classes": 2}))
    with pytest.raises(DataError, match="labels outside 0..1"):
        download_dataset("tiny", tiny.data, source=str(tiny.source))


def test_digits_load_from_the_package(tmp_path):
    data = load_dataset("digits", tmp_path)
    assert data.train_images.shape == (1437, 8, 8, 1) and data.test_images.shape == (360, 8, 8, 1)
    assert data.train_images.dtype == np.uint8 and data.info.classes == 10
    assert set(np.unique(data.train_labels)) == set(range(10))


def test_missing_dataset_says_how_to_get_it(tmp_path):
    with pytest.raises(DataError) as info:
        load_dataset("mnist", tmp_path)
    assert str(info.value) == (f"dataset 'mnist' not found in {tmp_path}; run `snntrain download mnist --data-dir "
                               f"{tmp_path}`")


def test_unknown_and_unsupported_names(tmp_path):
    with pytest.raises(DataError, match="unknown dataset 'cifar'; known: digits, mnist"):
        load_dataset("cifar", tmp_path)
    with pytest.raises(DataError, match="downloading 'digits' is not yet supported"):
        download_dataset("digits", tmp_path)


def test_damaged_or_foreign_npz_is_a_data_error(tmp_path):
    (tmp_path / "mnist.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataError, match="mnist.npz is damaged.*download mnist --force"):
        load_dataset("mnist", tmp_path)
    # any other bytes: np.load would try them as a pickle and say the file holds pickled data
    (tmp_path / "mnist.npz").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(DataError, match=r"mnist.npz is damaged or not a dataset file \(not a zip archive, which an "
                                        r"\.npz file is\)"):
        load_dataset("mnist", tmp_path)
    # a compressed archive whose deflate stream is damaged (before: a zlib.error traceback)
    images = np.random.default_rng(0).integers(0, 4, (200, 28, 28, 1)).astype(np.uint8) * 64
    np.savez_compressed(tmp_path / "mnist.npz", train_images=images, train_labels=np.zeros(200, np.uint8),
                        test_images=images[:100], test_labels=np.zeros(100, np.uint8))
    damaged = bytearray((tmp_path / "mnist.npz").read_bytes())
    damaged[200:600] = bytes(v ^ 0xFF for v in damaged[200:600])
    (tmp_path / "mnist.npz").write_bytes(bytes(damaged))
    with pytest.raises(DataError, match=r"mnist.npz is damaged or not a dataset file \(Error -3 while decompressing"):
        load_dataset("mnist", tmp_path)
    # members marked encrypted (before: a RuntimeError traceback from zipfile)
    np.savez(tmp_path / "mnist.npz", train_images=images, train_labels=np.zeros(200, np.uint8),
             test_images=images[:100], test_labels=np.zeros(100, np.uint8))
    encrypted = bytearray((tmp_path / "mnist.npz").read_bytes())
    for signature, flags_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = encrypted.find(signature)
        while at >= 0:
            encrypted[at + flags_at] |= 1
            at = encrypted.find(signature, at + 1)
    (tmp_path / "mnist.npz").write_bytes(bytes(encrypted))
    with pytest.raises(DataError, match=r"mnist.npz is damaged or not a dataset file \(.*encrypted"):
        load_dataset("mnist", tmp_path)
    np.savez(tmp_path / "fashion-mnist.npz", train_images=np.zeros((2, 28, 28, 1), np.uint8))
    with pytest.raises(DataError, match="missing train_labels, test_images, test_labels"):
        load_dataset("fashion-mnist", tmp_path)
    np.savez(tmp_path / "emnist.npz", train_images=np.zeros((2, 28, 28), np.uint8), train_labels=np.zeros(2, int),
             test_images=np.zeros((1, 28, 28, 1), np.uint8), test_labels=np.zeros(1, int))
    with pytest.raises(DataError, match="train images are uint8 \\(2, 28, 28\\), expected uint8 \\(N, 28, 28, 1\\)"):
        load_dataset("emnist", tmp_path)


def test_empty_split_is_a_data_error(tmp_path):
    np.savez(tmp_path / "mnist.npz", train_images=np.zeros((0, 28, 28, 1), np.uint8),
             train_labels=np.zeros(0, np.uint8), test_images=np.zeros((1, 28, 28, 1), np.uint8),
             test_labels=np.zeros(1, np.uint8))
    with pytest.raises(DataError, match="mnist.npz: the train split has no samples"):
        load_dataset("mnist", tmp_path)


def test_something_else_in_place_of_the_dataset_file_is_named(tmp_path):
    (tmp_path / "mnist.npz").mkdir()
    with pytest.raises(DataError, match="mnist.npz: a directory; expected the converted dataset 'mnist'"):
        load_dataset("mnist", tmp_path)
    os.mkfifo(tmp_path / "emnist.npz")
    with pytest.raises(DataError, match="emnist.npz: not a regular file; expected the converted dataset"):
        load_dataset("emnist", tmp_path)
    (tmp_path / "fashion-mnist.npz").symlink_to(tmp_path / "mnist.npz")  # a link to a directory
    with pytest.raises(DataError, match="fashion-mnist.npz: a directory"):
        load_dataset("fashion-mnist", tmp_path)


def test_emnist_style_zip_is_converted_with_images_transposed(tmp_path, monkeypatch):
    rng = np.random.default_rng(5)
    originals, content = {}, {}
    for split, n in (("train", 7), ("test", 3)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 47, (n, 1), dtype=np.uint8)
        originals[split] = (images, labels.ravel())
        content[split] = {"images": images.transpose(0, 2, 1).reshape(n, 784), "labels": labels}
    scipy.io.savemat(tmp_path / "emnist-balanced.mat", {"dataset": content})
    source = tmp_path / "official"
    source.mkdir()
    with zipfile.ZipFile(source / "matlab.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(tmp_path / "emnist-balanced.mat", "matlab/emnist-balanced.mat")
    digest = hashlib.sha256((source / "matlab.zip").read_bytes()).hexdigest()
    info = DatasetInfo("emnist", (28, 28, 1), 47, "image", (RemoteFile("matlab.zip", f"sha256:{digest}"),), (),
                       "emnist-mat", (7, 3))
    monkeypatch.setitem(DATASETS, "emnist", info)
    download_dataset("emnist", tmp_path / "data", source=str(source))
    data = load_dataset("emnist", tmp_path / "data")
    np.testing.assert_array_equal(data.train_images[..., 0], originals["train"][0])
    np.testing.assert_array_equal(data.test_labels, originals["test"][1])


def test_force_refuses_to_delete_its_own_source(tiny):
    download_dataset("tiny", tiny.data, source=str(tiny.source))
    raw = tiny.data / "tiny" / "raw"
    with pytest.raises(DataError, match="--force would delete them"):
        download_dataset("tiny", tiny.data, source=str(raw), force=True)
    assert len(list(raw.iterdir())) == 4
