"""Event-stream datasets end to end on generated files of the real layouts: SHD's gzipped HDF5 and N-MNIST's zip
archives of binary event files, served from 127.0.0.1 or a local directory, downloaded, verified, converted once,
loaded, and trained on through the CLI."""
from __future__ import annotations

import functools
import gzip
import hashlib
import json
import threading
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from snntrain.cli import main
from snntrain.data import DATASETS, DatasetInfo, RemoteFile, download_dataset, load_dataset
from snntrain.data.encoding import encode_events
from snntrain.data.formats import EventSamples
from snntrain.data.store import EventDataset
from snntrain.errors import DataError

SHD_SIZES, NMNIST_SIZES = (12, 6), (5, 3)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep pytest output clean
        pass


@pytest.fixture
def server(tmp_path):
    """A local HTTP server over tmp_path/www; `.url` is its base URL, `.root` the folder it serves."""
    root = tmp_path / "www"
    root.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    httpd.root, httpd.url = root, f"http://127.0.0.1:{httpd.server_address[1]}/"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _md5(path: Path) -> str:
    return "md5:" + hashlib.md5(path.read_bytes()).hexdigest()


def _random_split(rng: np.random.Generator, n: int, channels: int, classes: int, t_end: float):
    """Per sample: time-sorted float32 times, their units, and a label."""
    samples = []
    for length in rng.integers(0, 120, n):
        samples.append((np.sort(rng.uniform(0, t_end, length)).astype(np.float32),
                        rng.integers(0, channels, length).astype(np.uint16), int(rng.integers(0, classes))))
    return samples


def _write_shd_gz(path: Path, samples) -> None:
    """An SHD file as Zenke's lab ships it: gzip of an HDF5 file with vlen spikes/times, spikes/units and labels."""
    plain = path.with_suffix("")
    with h5py.File(plain, "w") as f:
        times = f.create_dataset("spikes/times", (len(samples),), dtype=h5py.vlen_dtype(np.float16))
        units = f.create_dataset("spikes/units", (len(samples),), dtype=h5py.vlen_dtype(np.uint16))
        for i, (t, u, _) in enumerate(samples):
            times[i], units[i] = t.astype(np.float16), u
        f.create_dataset("labels", data=np.array([label for _, _, label in samples], np.uint16))
        f.create_dataset("extra/speaker", data=np.zeros(len(samples), np.uint16))
    path.write_bytes(gzip.compress(plain.read_bytes()))
    plain.unlink()


@pytest.fixture
def shd(server, monkeypatch):
    """Generated SHD files on the server, registered as 'shd' with their checksums; `.samples[split]` holds what
    they contain (times rounded to float16 as in the real files)."""
    rng = np.random.default_rng(2)
    samples = {split: _random_split(rng, n, 700, 20, 0.18) for split, n in zip(("train", "test"), SHD_SIZES)}
    files = []
    for split in ("train", "test"):
        path = server.root / f"shd_{split}.h5.gz"
        _write_shd_gz(path, samples[split])
        files.append(RemoteFile(path.name, _md5(path)))
    info = DatasetInfo("shd", (700,), 20, "events", tuple(files), (server.url,), "shd-hdf5", SHD_SIZES)
    monkeypatch.setitem(DATASETS, "shd", info)
    return {split: [(t.astype(np.float16).astype(np.float32), u, y) for t, u, y in s] for split, s in samples.items()}


def _nmnist_bin(x: np.ndarray, y: np.ndarray, p: np.ndarray, t_us: np.ndarray) -> bytes:
    raw = np.zeros((len(x), 5), np.uint8)
    raw[:, 0], raw[:, 1] = x, y
    raw[:, 2] = (p << 7) | (t_us >> 16)
    raw[:, 3], raw[:, 4] = (t_us >> 8) & 0xFF, t_us & 0xFF
    return raw.tobytes()


@pytest.fixture
def nmnist(server, monkeypatch):
    """Generated N-MNIST archives served only at Mendeley-style addresses (no mirror base URL), registered as
    'nmnist'. Returns {split: [(x, y, p, t_us, label), ...]} in the order snntrain must load them."""
    rng = np.random.default_rng(4)
    expected = {}
    files = []
    for name, n in zip(("Train", "Test"), NMNIST_SIZES):
        entries = []
        for i in range(n):
            label, length = int(rng.integers(0, 10)), int(rng.integers(1, 80))
            t_us = np.sort(rng.integers(0, 300_000, length))
            events = (rng.integers(0, 34, length), rng.integers(0, 34, length), rng.integers(0, 2, length), t_us)
            entries.append((f"{name}/{label}/{i:05d}.bin", events, label))
        entries.sort(key=lambda e: (e[2], e[0]))
        expected[name] = [(*events, label) for _, events, label in entries]
        hidden = server.root / "files" / f"id-{name}"
        hidden.mkdir(parents=True)
        with zipfile.ZipFile(hidden / "file_downloaded", "w", zipfile.ZIP_DEFLATED) as archive:
            for member, events, _ in reversed(entries):  # archive order must not matter
                archive.writestr(member, _nmnist_bin(*events))
        files.append(RemoteFile(f"{name}.zip", _md5(hidden / "file_downloaded"),
                                urls=(f"{server.url}files/id-{name}/file_downloaded",)))
    info = DatasetInfo("nmnist", (34, 34, 2), 10, "events", tuple(files), (), "nmnist-zip", NMNIST_SIZES)
    monkeypatch.setitem(DATASETS, "nmnist", info)
    return expected


def _assert_split(events, samples) -> None:
    assert len(events) == len(samples)
    for i, (times, units, label) in enumerate(samples):
        got_times, got_units = events.sample(i)
        np.testing.assert_array_equal(got_times, times)
        np.testing.assert_array_equal(got_units, units)
        assert events.labels[i] == label


def test_shd_downloads_converts_once_and_loads(tmp_path, shd):
    log = []
    path = download_dataset("shd", tmp_path / "data", log=log.append)
    assert path == tmp_path / "data" / "shd"
    assert sorted(p.name for p in path.iterdir()) == ["raw", "test.h5", "test.h5.sha256", "train.h5",
                                                      "train.h5.sha256"]  # no temp files left behind
    assert sum("verified" in line and "127.0.0.1" in line for line in log) == 2
    data = load_dataset("shd", tmp_path / "data")
    assert isinstance(data, EventDataset) and data.info.classes == 20
    _assert_split(data.train, shd["train"])
    _assert_split(data.test, shd["test"])

    log.clear()
    assert download_dataset("shd", tmp_path / "data", log=log.append) == path
    assert log == [f"shd: already present, verified ({path})"]


def test_shd_cli_download_from_a_directory_and_force(tmp_path, shd, server):
    data_dir = tmp_path / "data"
    run = CliRunner().invoke(main, ["download", "shd", "--data-dir", str(data_dir), "--from", str(server.root)])
    assert run.exit_code == 0, run.output
    assert "copied from" in run.output and "ready, 12 train / 6 test samples" in run.output
    (data_dir / "shd" / "test.h5").write_bytes(b"tampered")  # no longer matches its recorded digest
    run = CliRunner().invoke(main, ["download", "shd", "--data-dir", str(data_dir)])
    assert run.exit_code == 0 and "present, verified" in run.output and "converting" in run.output, run.output
    _assert_split(load_dataset("shd", data_dir).test, shd["test"])
    run = CliRunner().invoke(main, ["download", "shd", "--data-dir", str(data_dir), "--from", str(server.root),
                                    "--force"])
    assert run.exit_code == 0 and run.output.count("copied from") == 2, run.output


def test_event_file_failing_its_checksum_never_lands(tmp_path, shd, server):
    (server.root / "shd_test.h5.gz").write_bytes(b"\x1f\x8b not the official file")
    with pytest.raises(DataError, match="shd_test.h5.gz: checksum mismatch \\(expected md5 "):
        download_dataset("shd", tmp_path / "data", source=str(server.root))
    assert not (tmp_path / "data" / "shd" / "raw" / "shd_test.h5.gz").exists()
    assert not (tmp_path / "data" / "shd" / "train.h5").exists()


def test_nmnist_downloads_from_direct_urls_and_flattens_x_y_polarity(tmp_path, nmnist):
    log = []
    download_dataset("nmnist", tmp_path / "data", log=log.append)
    assert sum("from 127.0.0.1" in line for line in log) == 2
    data = load_dataset("nmnist", tmp_path / "data")
    for events, expected in ((data.train, nmnist["Train"]), (data.test, nmnist["Test"])):
        assert len(events) == len(expected)
        for i, (x, y, p, t_us, label) in enumerate(expected):
            times, units = events.sample(i)
            np.testing.assert_array_equal(units, (x * 34 + y) * 2 + p)
            np.testing.assert_array_equal(times, (t_us * 1e-6).astype(np.float32))
            assert events.labels[i] == label


def test_wrong_sample_counts_and_labels_are_rejected(tmp_path, shd, monkeypatch):
    info = DATASETS["shd"]
    monkeypatch.setitem(DATASETS, "shd", DatasetInfo(**{**info.__dict__, "sizes": (12, 7)}))
    with pytest.raises(DataError, match="shd: raw files hold 12 train / 6 test samples, expected 12 / 7"):
        download_dataset("shd", tmp_path / "data")
    monkeypatch.setitem(DATASETS, "shd", DatasetInfo(**{**info.__dict__, "classes": 2}))
    with pytest.raises(DataError, match="shd raw files: labels outside 0..1"):
        download_dataset("shd", tmp_path / "data")
    assert not (tmp_path / "data" / "shd" / "train.h5").exists()


def test_missing_or_damaged_event_files_say_what_to_run(tmp_path):
    with pytest.raises(DataError) as info:
        load_dataset("nmnist", tmp_path)
    assert str(info.value) == (f"dataset 'nmnist' not found in {tmp_path}; run `snntrain download nmnist --data-dir "
                               f"{tmp_path}`")
    (tmp_path / "shd").mkdir()
    for split in ("train", "test"):
        (tmp_path / "shd" / f"{split}.h5").write_bytes(b"not hdf5")
    with pytest.raises(DataError, match="train.h5: not a readable HDF5.*run `snntrain download shd --force`"):
        load_dataset("shd", tmp_path)


@pytest.mark.parametrize("layout", ["times is a group", "times are strings", "no samples"])
def test_event_files_of_the_wrong_layout_are_data_errors(tmp_path, layout):
    (tmp_path / "shd").mkdir()
    for split in ("train", "test"):
        with h5py.File(tmp_path / "shd" / f"{split}.h5", "w") as f:
            n = 0 if layout == "no samples" else 2
            if layout == "times is a group":
                f.create_group("spikes/times")
            else:
                kind = h5py.string_dtype() if layout == "times are strings" else np.float32
                f.create_dataset("spikes/times", (n,), dtype=h5py.vlen_dtype(kind) if kind is np.float32 else kind)
            f.create_dataset("spikes/units", (n,), dtype=h5py.vlen_dtype(np.uint16))
            f.create_dataset("labels", data=np.zeros(n, np.uint8))
    expected = {"times is a group": "spikes/times is a group, not a dataset",
                "times are strings": "spikes/times is not a variable-length list of floating-point seconds",
                "no samples": "train.h5: no samples"}[layout]
    with pytest.raises(DataError, match=expected):
        load_dataset("shd", tmp_path)


TINY_SHD_MODEL = """name = "tiny-shd"

[input]
dataset = "shd"
resolution = 0.002
max_input_spikes = 3

[simulation]
t_max = 0.2

[[layers]]
type = "dense"
neurons = 6
tau_s = 0.01
theta = 0.01
max_spikes = 4
init = { distribution = "normal", mean = 0.5, std = 0.5 }

[[layers]]
type = "dense"
neurons = 20
tau_s = 0.01
theta = 0.01
max_spikes = 4

[loss]
type = "count"
n_true = 3
n_false = 0

[training]
epochs = 2
batch_size = 4
test_batch_size = 6
"""


def test_train_and_eval_on_an_event_dataset_through_the_cli(tmp_path, shd):
    data_dir, runs_dir = tmp_path / "data", tmp_path / "runs"
    model = tmp_path / "tiny-shd.toml"
    model.write_text(TINY_SHD_MODEL)
    runner = CliRunner()
    assert runner.invoke(main, ["download", "shd", "--data-dir", str(data_dir)]).exit_code == 0
    run = runner.invoke(main, ["train", "--model", str(model), "--device", "cpu", "--data-dir", str(data_dir),
                               "--runs-dir", str(runs_dir)])
    assert run.exit_code == 0, run.output
    assert "12 training and 6 test samples" in run.output
    (run_dir,) = runs_dir.iterdir()
    rows = (run_dir / "metrics.csv").read_text().splitlines()
    header, last = rows[0].split(","), dict(zip(rows[0].split(","), rows[-1].split(",")))
    assert len(rows) == 3 and "mean_spikes_dense0" in header
    assert float(last["mean_spikes_dense0"]) > 0  # the event inputs reached the hidden layer
    evaluation = runner.invoke(main, ["eval", str(run_dir), "--data-dir", str(data_dir), "--device", "cpu",
                                      "--json"])
    assert evaluation.exit_code == 0, evaluation.output
    assert '"samples": 6' in evaluation.output
    bench = runner.invoke(main, ["bench", "--model", str(model), "--device", "cpu", "--steps", "1", "--repeats", "1",
                                 "--data-dir", str(data_dir), "--runs-dir", str(runs_dir), "--json"])
    assert bench.exit_code == 0, bench.output  # an event model is measured on its own dataset
    assert json.loads(bench.stdout)["results"][0]["test_set_seconds"] > 0


def test_events_exactly_resolution_apart_are_kept_whatever_the_float32_rounding():
    """N-MNIST stores integer microseconds: a gap of exactly 2,000 us reads as 1.9999966 ms at 0.1 s in float32
    seconds. It used to be dropped or kept depending on where it fell (30% of 301 pairs dropped); a gap 1 us
    shorter is dropped everywhere."""
    start = np.arange(0, 301_000, 1_000)  # one pair of events per sample, on one channel
    for gap, kept in [(2_000, 2), (1_999, 1)]:
        t_us = np.stack([start, start + gap], axis=1).ravel()
        events = EventSamples((t_us * 1e-6).astype(np.float32), np.zeros(len(t_us), np.uint16),
                              np.arange(0, len(t_us) + 1, 2), np.zeros(len(start), np.int64))
        _, counts = encode_events(events, 1, 0.002, 8)
        assert (counts[:, 0] == kept).all(), (gap, start[counts[:, 0] != kept][:5])


def test_events_at_one_instant_are_thinned_whatever_the_resolution():
    """The slack that keeps gaps of exactly `resolution` never reaches half of it: three events at one instant at
    100 s, where two float32 steps exceed a 10 us resolution, keep one (a first version of the slack kept all
    three). float64 times get float64's slack: 5 us gaps at 100 s keep every other event."""
    one_instant = EventSamples(np.full(3, 100.0, np.float32), np.zeros(3, np.uint16), np.array([0, 3]),
                               np.zeros(1, np.int64))
    assert encode_events(one_instant, 1, 1e-5, 8)[1][0, 0] == 1
    spaced = EventSamples(100.0 + 5e-6 * np.arange(5), np.zeros(5, np.uint16), np.array([0, 5]), np.zeros(1, np.int64))
    assert encode_events(spaced, 1, 1e-5, 8)[1][0, 0] == 3
