"""The Ray connection that `snntrain sweep` and `snntrain convergence --address` share: an embedded local instance
by default, an existing cluster when given an address, and the device its workers train on."""
from __future__ import annotations

import logging
import os
import socket
from contextlib import contextmanager
from typing import Any, Iterator

from snntrain.errors import SnntrainError, UsageError

#: Seconds to wait for a cluster's address to answer before calling it unreachable (Ray itself retries for minutes,
#: printing a warning now and then).
ANSWER_TIMEOUT_S = 5.0


def install_hint(command: str) -> str:
    """The one line that says how to get Ray for `command`."""
    return f"{command} needs Ray Tune: pip install 'snntrain[sweep]' (or pip install 'ray[tune]')"


def cluster_address(address: str | None) -> str | None:
    """Where `connect` goes: `address`, else RAY_ADDRESS; None or "local" is an embedded instance on this machine."""
    return address or os.environ.get("RAY_ADDRESS") or None


def on_this_machine(address: str | None) -> bool:
    """Whether `connect(address)` starts Ray here, so that its workers read this machine's files."""
    return cluster_address(address) in (None, "local")


def describe_address(address: str | None) -> str:
    """Where `connect(address)` runs, in words for a progress line."""
    return "a local Ray instance" if on_this_machine(address) else str(cluster_address(address))


def check_reachable(where: str, command: str) -> None:
    """Refuse a cluster address that is no host:port (or ray://host:port; Ray's "auto" is left to Ray) with a
    UsageError, and one where nothing answers within ANSWER_TIMEOUT_S with a SnntrainError, both naming it."""
    if where == "auto":
        return
    host, colon, port = where.removeprefix("ray://").rpartition(":")
    host = host.strip("[]")  # an IPv6 address in brackets
    if not (colon and host and port.isdigit() and 0 < int(port) < 65536):
        raise UsageError(f"{command}: cannot connect to Ray at {where!r}: expected host:port (a head node's GCS, "
                         "e.g. 10.0.0.5:6379), ray://host:port (Ray Client), auto or local")
    try:
        socket.create_connection((host, int(port)), timeout=ANSWER_TIMEOUT_S).close()
    except socket.gaierror as exc:
        raise SnntrainError(f"{command}: cannot connect to Ray at {where!r}: host {host} cannot be resolved "
                            f"({exc.strerror})") from None
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise SnntrainError(f"{command}: cannot connect to Ray at {where!r}: nothing answers at {host}:{port} "
                            f"({reason}); start a head node there (ray start --head) or leave out --address") from None


class _SecureDefaultNotice(logging.Filter):
    """Drops Ray's notice, at every start of a local instance, that it uses token authentication (its secure
    default): a line before every sweep's output and every error. Its warning that authentication is off stays."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Token authentication is enabled for this Ray cluster")


@contextmanager
def connect(address: str | None, command: str) -> Iterator[Any]:
    """The `ray` module, initialised on `address` (or RAY_ADDRESS; "local" or none: an embedded instance on this
    machine), and shut down afterwards if it was started here. SnntrainError naming `command` without Ray."""
    try:
        import ray
    except ImportError:
        raise SnntrainError(install_hint(command)) from None
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    notices = logging.getLogger("ray._private.authentication.authentication_token_setup")
    if not any(isinstance(f, _SecureDefaultNotice) for f in notices.filters):
        notices.addFilter(_SecureDefaultNotice())
    started_here = not ray.is_initialized()
    if started_here:
        where = cluster_address(address)
        if where not in (None, "local"):
            check_reachable(where, command if address else f"{command} (RAY_ADDRESS)")
        try:
            ray.init(address=where, include_dashboard=False, log_to_driver=False, configure_logging=False)
        except (ValueError, ConnectionError) as exc:  # a malformed address, or no cluster there
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise SnntrainError(f"{command}: cannot connect to Ray at {where!r}: {reason}") from None
    try:
        yield ray
    finally:
        if started_here:
            ray.shutdown()


def worker_device(ray: Any, device: str) -> str:
    """The backend Ray's workers use: "cuda" when the cluster has GPUs and `device` allows them, else "cpu"."""
    use_gpu = int(ray.cluster_resources().get("GPU", 0)) > 0 and device in ("auto", "cuda")
    if device == "cuda" and not use_gpu:
        raise SnntrainError("--device cuda: the Ray cluster has no GPU; use --device cpu or auto")
    return "cuda" if use_gpu else "cpu"
