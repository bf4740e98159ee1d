"""`snntrain download` against real Fashion-MNIST files: from a local directory, and from a local HTTP server
that injects faults (dropped connections, 5xx, ignored Range, corrupt bytes, no server at all)."""
from __future__ import annotations

import collections
import re
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from snntrain.cli import main
from snntrain.data import DATASETS, fetch, fetch_raw_file, load_dataset
from snntrain.data.fetch import FetchPolicy
from snntrain.data.store import file_digest
from snntrain.errors import DataError

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
needs_fashion = pytest.mark.skipif(not FASHION_DIR.is_dir(),
                                   reason=f"real Fashion-MNIST files not installed in {FASHION_DIR} "
                                          "(Debian package dataset-fashion-mnist)")
FASHION = DATASETS["fashion-mnist"]
TEST_IMAGES = FASHION.files[2]  # t10k-images-idx3-ubyte.gz: 4.4 MB, big enough to cut in the middle


class _Handler(BaseHTTPRequestHandler):
    """Serves files from server.root with Range support; server.faults[name] is a queue of faults for the next
    requests of that file: "500", "drop:<bytes>", "ignore-range", "corrupt"."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        server = self.server
        name = self.path.rsplit("/", 1)[-1]
        server.requests.append((name, self.headers.get("Range")))
        path = server.root / name
        if not path.is_file():
            self._send(404, b"not found")
            return
        queue = server.faults.get(name)
        fault = queue.popleft() if queue else ""
        if fault == "500":
            self._send(500, b"boom")
            return
        data = path.read_bytes()
        if fault == "corrupt":
            middle = len(data) // 2
            data = data[:middle] + bytes(b ^ 0xFF for b in data[middle:middle + 64]) + data[middle + 64:]
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if match and fault != "ignore-range":
            start = int(match.group(1))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        if fault.startswith("drop:"):
            # Announce the whole length, send part of it, then hang up: the client sees a short body.
            self.wfile.write(data[start:start + int(fault[5:])])
            self.close_connection = True
            return
        self.wfile.write(data[start:])

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass  # clients hanging up mid-transfer is what these tests provoke


@pytest.fixture
def server():
    """A local HTTP server over the real Fashion-MNIST files; `.url` is its base URL."""
    if not FASHION_DIR.is_dir():
        pytest.skip(f"real Fashion-MNIST files not installed in {FASHION_DIR}")
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.root = FASHION_DIR
    httpd.faults = collections.defaultdict(collections.deque)
    httpd.requests = []
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    """Retries without real waiting, and a short timeout, so that fault tests take milliseconds."""
    monkeypatch.setattr(fetch, "DEFAULT_POLICY", FetchPolicy(retries=3, backoff_s=0.001, timeout_s=5))


def _run(*args: str):
    return CliRunner().invoke(main, ["download", *args])


def _assert_fashion_npz(path: Path) -> None:
    # the canonical file loads fast because its arrays are stored, not deflated (speed itself is not asserted:
    # a timed assertion failed on a loaded CI machine)
    with zipfile.ZipFile(path) as archive:
        assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_STORED}
    data = load_dataset("fashion-mnist", path.parent)
    assert data.train_images.shape == (60000, 28, 28, 1) and data.train_images.dtype == np.uint8
    assert data.test_images.shape == (10000, 28, 28, 1)
    assert data.train_labels.shape == (60000,) and data.test_labels.shape == (10000,)
    assert np.bincount(data.train_labels, minlength=10).tolist() == [6000] * 10
    assert np.bincount(data.test_labels, minlength=10).tolist() == [1000] * 10


def _range_start(header: str | None) -> int:
    match = re.fullmatch(r"bytes=(\d+)-", header or "")
    assert match, f"expected a Range request, got {header!r}"
    return int(match.group(1))


def _verifies(path: Path) -> bool:
    return file_digest(path, TEST_IMAGES.algorithm, TEST_IMAGES.decompressed) == TEST_IMAGES.hexdigest


@needs_fashion
def test_empty_from_is_a_usage_error(tmp_path):
    result = _run("fashion-mnist", "--data-dir", str(tmp_path), "--from", "")
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: --from is empty; give a base URL or a directory (--from . for this one)"
    assert not any(tmp_path.iterdir())


def test_from_local_directory_verifies_converts_and_is_idempotent(tmp_path):
    result = _run("fashion-mnist", "--data-dir", str(tmp_path), "--from", str(FASHION_DIR))
    assert result.exit_code == 0, result.output
    assert "verified" in result.output
    npz = tmp_path / "fashion-mnist.npz"
    _assert_fashion_npz(npz)
    raw = tmp_path / "fashion-mnist" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(f.name for f in FASHION.files)

    again = _run("fashion-mnist", "--data-dir", str(tmp_path), "--from", str(FASHION_DIR))
    assert again.exit_code == 0, again.output
    assert "already present, verified" in again.output


def test_from_http_server_verifies_converts_and_second_run_fetches_nothing(server, tmp_path):
    result = _run("fashion-mnist", "--data-dir", str(tmp_path), "--from", server.url)
    assert result.exit_code == 0, result.output
    assert [name for name, _ in server.requests] == [f.name for f in FASHION.files]
    _assert_fashion_npz(tmp_path / "fashion-mnist.npz")
    assert not list(tmp_path.rglob("*.part"))

    again = _run("fashion-mnist", "--data-dir", str(tmp_path), "--from", server.url)
    assert again.exit_code == 0 and "already present, verified" in again.output
    assert len(server.requests) == len(FASHION.files)


def test_dropped_connection_is_resumed_with_a_range_request(server, tmp_path):
    server.faults[TEST_IMAGES.name].append("drop:1000000")
    final = fetch_raw_file(TEST_IMAGES, tmp_path, server.url)
    assert [name for name, _ in server.requests] == [TEST_IMAGES.name] * 2
    assert server.requests[0][1] is None
    assert 0 < _range_start(server.requests[1][1]) <= 1000000  # the client may drop its last, short read
    assert _verifies(final)
    assert not (tmp_path / f"{TEST_IMAGES.name}.part").exists()


def test_connection_dropping_again_and_again_still_finishes_while_it_progresses(server, tmp_path):
    server.faults[TEST_IMAGES.name].extend(["drop:300000"] * 30)  # more drops than retries allowed in a row
    final = fetch_raw_file(TEST_IMAGES, tmp_path, server.url)
    assert len(server.requests) > fetch.DEFAULT_POLICY.retries + 1
    assert _verifies(final)


def test_partial_file_from_an_earlier_run_is_resumed(server, tmp_path):
    (tmp_path / f"{TEST_IMAGES.name}.part").write_bytes((FASHION_DIR / TEST_IMAGES.name).read_bytes()[:123456])
    final = fetch_raw_file(TEST_IMAGES, tmp_path, server.url)
    assert server.requests == [(TEST_IMAGES.name, "bytes=123456-")]
    assert _verifies(final)


def test_server_ignoring_range_restarts_the_file(server, tmp_path):
    server.faults[TEST_IMAGES.name].extend(["drop:1000000", "ignore-range"])
    final = fetch_raw_file(TEST_IMAGES, tmp_path, server.url)
    assert server.requests[0][1] is None and _range_start(server.requests[1][1]) > 0
    assert len(server.requests) == 2
    assert _verifies(final)


def test_http_500_is_retried(server, tmp_path):
    server.faults[TEST_IMAGES.name].extend(["500", "500"])
    final = fetch_raw_file(TEST_IMAGES, tmp_path, server.url)
    assert len(server.requests) == 3
    assert _verifies(final)


def test_persistent_500_gives_up_with_a_clear_error(server, tmp_path):
    server.faults[TEST_IMAGES.name].extend(["500"] * 10)
    result = _run("fashion-mnist", "--data-dir", str(tmp_path), "--from", server.url)
    # train images come first and succeed; the 500s hit the third file
    assert result.exit_code != 0
    assert "HTTP 500" in result.output and TEST_IMAGES.name in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "fashion-mnist" / "raw" / TEST_IMAGES.name).exists()


def test_corrupt_download_is_rejected_and_never_lands(server, tmp_path):
    labels = FASHION.files[1]
    server.faults[labels.name].append("corrupt")
    result = _run("fashion-mnist", "--data-dir", str(tmp_path), "--from", server.url)
    assert result.exit_code != 0
    assert "checksum mismatch" in result.output and labels.name in result.output
    assert labels.hexdigest in result.output  # the expected value is shown
    assert "Traceback" not in result.output
    raw = tmp_path / "fashion-mnist" / "raw"
    assert not (raw / labels.name).exists() and not (raw / f"{labels.name}.part").exists()
    assert not (tmp_path / "fashion-mnist.npz").exists()


def test_wrong_file_reports_expected_and_actual_checksums(server, tmp_path):
    server.root = tmp_path / "wrong"
    server.root.mkdir()
    # a valid gzip file under the right name, but with other content
    (server.root / TEST_IMAGES.name).write_bytes((FASHION_DIR / FASHION.files[3].name).read_bytes())
    with pytest.raises(DataError) as info:
        fetch_raw_file(TEST_IMAGES, tmp_path, server.url)
    message = str(info.value)
    assert "checksum mismatch" in message and TEST_IMAGES.hexdigest in message
    assert FASHION.files[3].hexdigest in message  # the actual digest
    assert not (tmp_path / TEST_IMAGES.name).exists()


def test_server_gone_is_one_line_error_without_traceback(server, tmp_path):
    url = server.url
    server.shutdown()
    server.server_close()
    result = _run("fashion-mnist", "--data-dir", str(tmp_path), "--from", url)
    assert result.exit_code != 0
    assert f"could not reach 127.0.0.1:{server.server_address[1]}" in result.output
    assert "--from DIR" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "fashion-mnist.npz").exists()


def test_missing_file_on_server_is_reported(server, tmp_path):
    server.root = tmp_path / "empty"
    server.root.mkdir()
    result = _run("fashion-mnist", "--data-dir", str(tmp_path), "--from", server.url)
    assert result.exit_code != 0 and "HTTP 404" in result.output


@pytest.mark.parametrize("name, first", [("shd", "shd_train.h5.gz"), ("nmnist", "Train.zip")])
def test_event_datasets_from_a_directory_need_the_official_names(name, first, tmp_path):
    result = _run(name, "--data-dir", str(tmp_path / "data"), "--from", str(tmp_path))
    assert result.exit_code != 0
    assert f"{first} not found in {tmp_path}" in result.output and "Traceback" not in result.output


def test_from_missing_directory_is_an_error(tmp_path):
    result = _run("mnist", "--data-dir", str(tmp_path), "--from", str(tmp_path / "nowhere"))
    assert result.exit_code != 0 and "no such directory" in result.output
    (tmp_path / "a-file").write_text("")
    result = _run("mnist", "--data-dir", str(tmp_path), "--from", str(tmp_path / "a-file"))
    assert result.exit_code != 0 and f"--from {tmp_path / 'a-file'}: not a directory, and not" in result.output


def test_from_another_kind_of_url_is_named_as_typed(tmp_path):
    """(A path would have written ftp://host as ftp:/host.)"""
    result = _run("mnist", "--data-dir", str(tmp_path), "--from", "ftp://example.org/mnist")
    assert result.exit_code != 0
    assert "--from ftp://example.org/mnist: no such directory, and not an http(s):// URL" in result.output


def test_from_directory_without_the_files_names_the_missing_file(tmp_path):
    result = _run("mnist", "--data-dir", str(tmp_path), "--from", str(tmp_path))
    assert result.exit_code != 0 and "train-images-idx3-ubyte.gz not found" in result.output


def test_every_downloadable_dataset_has_mirrors_and_pinned_checksums():
    for info in DATASETS.values():
        if info.downloadable:
            assert all(m.startswith(("http://", "https://")) and m.endswith("/") for m in info.mirrors)
            for f in info.files:
                assert info.mirrors or f.urls  # somewhere to download each file from
                assert all(url.startswith("https://") for url in f.urls)
                algorithm, hexdigest = f.digest.split(":")
                assert len(hexdigest) == {"md5": 32, "sha256": 64}[algorithm]
