"""HTTP downloads that survive bad networks: resume of partial files and retries with backoff."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import requests

from snntrain import __version__
from snntrain.errors import DataError


@dataclass(frozen=True)
class FetchPolicy:
    """How hard to try one URL. After the k-th transient failure in a row, wait backoff_s * 2**(k-1) and try
    again; give up after `retries` such retries. An attempt that added bytes to the file resets the count.

    A host that never accepted a connection gets only `connect_retries`: offline, every mirror would otherwise
    cost the whole backoff sequence before the user hears about it.
    """

    retries: int = 4
    connect_retries: int = 2
    backoff_s: float = 0.5
    timeout_s: float = 30.0
    chunk_bytes: int = 1 << 16


DEFAULT_POLICY = FetchPolicy()


class FetchFailed(DataError):
    """One URL could not be fetched. `unreachable` is True when no server answered (network-level failure)."""

    def __init__(self, message: str, unreachable: bool) -> None:
        super().__init__(message)
        self.unreachable = unreachable


@dataclass(frozen=True)
class Transfer:
    """What one successful fetch moved: bytes received in this call (after `resumed_from`) and the time it took."""

    received: int
    resumed_from: int
    seconds: float

    @property
    def rate(self) -> float:
        """Bytes per second."""
        return self.received / self.seconds if self.seconds > 0 else float("inf")


class _Retry(Exception):
    """A transient failure (network, 5xx, short body): worth another attempt at the same URL."""


def human_bytes(n: float) -> str:
    """1536 -> '1.5 KB' (decimal units, like the sizes mirrors list)."""
    if n < 1000:
        return f"{n:.0f} B"
    for unit in ("KB", "MB"):
        n /= 1000
        if n < 1000:
            return f"{n:.1f} {unit}"
    return f"{n / 1000:.1f} GB"


class _Progress:
    """A one-line progress bar (done/total, rate) on stderr when it is a terminal; silent otherwise (logs, CI)."""

    def __init__(self, label: str) -> None:
        self.stream = sys.stderr
        self.enabled = self.stream.isatty()
        self.label = label
        self.start = time.monotonic()
        self.last = 0.0

    def update(self, done: int, total: int | None, fresh: int) -> None:
        now = time.monotonic()
        if not self.enabled or now - self.last < 0.1:
            return
        self.last = now
        rate = fresh / max(now - self.start, 1e-9)
        if total:
            width = 24
            filled = int(width * done / total)
            bar = f"[{'#' * filled}{'.' * (width - filled)}] {human_bytes(done)}/{human_bytes(total)}"
        else:
            bar = human_bytes(done)
        self.stream.write(f"\r  {self.label} {bar} {human_bytes(rate)}/s\x1b[K")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def host_of(url: str) -> str:
    """The host[:port] of a URL, for messages."""
    return urlsplit(url).netloc or url


def http_fetch(url: str, part: Path, *, session: requests.Session | None = None,
               policy: FetchPolicy | None = None) -> Transfer:
    """Download `url` into `part`, resuming from the bytes already in `part` with an HTTP Range request.

    A server that ignores Range (answers 200) restarts the file from zero. Timeouts, connection errors, a body
    shorter than announced and 5xx answers are retried per `policy` (default: DEFAULT_POLICY at call time);
    other HTTP errors are not. The caller verifies the checksum and moves `part` into place.
    Raises FetchFailed; `part` is left as is so that a later call can resume it.
    """
    policy = policy or DEFAULT_POLICY
    own_session = session is None
    session = session or requests.Session()
    progress = _Progress(part.name.removesuffix(".part"))
    try:
        reached = False  # did any attempt get an answer? Decides between "unreachable" and "failed".
        last_error = ""
        failures = 0  # consecutive attempts that added nothing to `part`
        while True:
            size_before = part.stat().st_size if part.exists() else 0
            try:
                return _attempt(url, part, session, policy, progress)
            except _Retry as err:
                reached, last_error = True, str(err)
            except requests.RequestException as err:
                reached, last_error = reached or not _unreached(err), _describe(err)
            # A connection that keeps dropping but makes progress each time will finish: only stalls count.
            progressed = part.exists() and part.stat().st_size > size_before
            failures = 0 if progressed else failures + 1
            if failures > (policy.retries if reached else policy.connect_retries):
                raise FetchFailed(f"{url}: {last_error}", unreachable=not reached)
            if failures:
                time.sleep(policy.backoff_s * 2 ** (failures - 1))
    finally:
        progress.close()
        if own_session:
            session.close()


def _attempt(url: str, part: Path, session: requests.Session, policy: FetchPolicy, progress: _Progress) -> Transfer:
    offset = part.stat().st_size if part.exists() else 0
    # identity: the bytes on disk must be the file's bytes, so no transparent Content-Encoding.
    headers = {"User-Agent": f"snntrain/{__version__}", "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    start = time.monotonic()
    with session.get(url, headers=headers, stream=True, timeout=policy.timeout_s) as response:
        status = response.status_code
        if status == 416:  # the partial file is not a prefix the server recognises: start over
            part.unlink()
            raise _Retry("HTTP 416 for the partial file; restarting it")
        if status >= 500:
            raise _Retry(f"HTTP {status}")
        if status not in (200, 206):
            raise FetchFailed(f"{url}: HTTP {status}", unreachable=False)
        if status == 206 and not response.headers.get("Content-Range", "").startswith(f"bytes {offset}-"):
            part.unlink()
            raise _Retry("server resumed at the wrong offset; restarting the file")
        if status == 200:
            offset = 0  # Range ignored (or not sent): the body is the whole file
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None and length.isdigit() else None
        received = 0
        with open(part, "ab" if offset else "wb") as out:
            for chunk in response.iter_content(policy.chunk_bytes):
                out.write(chunk)
                received += len(chunk)
                progress.update(offset + received, total, received)
    if total is not None and offset + received != total:
        raise _Retry(f"connection closed after {human_bytes(offset + received)} of {human_bytes(total)}")
    return Transfer(received, offset, time.monotonic() - start)


def _unreached(err: requests.RequestException) -> bool:
    """Whether no connection could be made at all (as opposed to a server that answered, then failed)."""
    text = str(err)
    return isinstance(err, requests.ConnectTimeout) or (
        isinstance(err, requests.ConnectionError)
        and any(s in text for s in ("NewConnectionError", "NameResolutionError", "Failed to resolve",
                                    "Failed to establish")))


_REASONS = (("Connection refused", "connection refused"), ("Failed to resolve", "host name not resolved"),
            ("NameResolutionError", "host name not resolved"), ("Network is unreachable", "network unreachable"),
            ("No route to host", "no route to host"), ("Connection reset", "connection reset"),
            ("IncompleteRead", "connection dropped mid-file"), ("RemoteDisconnected", "connection closed by server"),
            ("Connection broken", "connection dropped mid-file"))


def _describe(err: requests.RequestException) -> str:
    """A short, one-line reason for a network error (requests' own messages nest several reprs)."""
    if isinstance(err, requests.Timeout):
        return "timed out"
    text = str(err)
    for marker, reason in _REASONS:
        if marker in text:
            return reason
    return text.splitlines()[0][:200] if text else type(err).__name__

