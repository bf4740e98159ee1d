"""The Ray connection that `snntrain sweep` and `snntrain convergence --address` share: an embedded local instance
by default, an existing cluster when given an address, and the device its workers train on."""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any, Iterator

from snntrain.errors import SnntrainError


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


@contextmanager
def connect(address: str | None, command: str) -> Iterator[Any]:
    """The `ray` module, initialised on `address` (or RAY_ADDRESS; "local" or none: an embedded instance on this
    machine), and shut down afterwards if it was started here. SnntrainError naming `command` without Ray."""
    try:
        import ray
    except ImportError:
        raise SnntrainError(install_hint(command)) from None
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    started_here = not ray.is_initialized()
    if started_here:
        where = cluster_address(address)
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
