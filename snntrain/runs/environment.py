"""What a run ran on: versions, machine, device, command line and source commit, one record per session.

A run directory's `environment.json` is a list: its first entry is the session that started the run, and every
`--resume` appends one, so a run trained across machines says which epochs came from where.
"""
from __future__ import annotations

import functools
import json
import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from snntrain.atomic import atomic_write_text

PACKAGES = ("snntrain", "numpy", "numba", "numba-cuda", "h5py", "scipy", "click")
_SOURCE = Path(__file__).resolve().parents[2]  # the checkout holding the package, when it is one


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def cpu_model() -> str:
    """The processor's model name (Linux's /proc/cpuinfo), else its architecture."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


@functools.lru_cache(maxsize=1)
def source_commit() -> str | None:
    """The git commit of the checkout the package runs from (with "-dirty" when files differ from it), or None
    for an installed package or when git is not there. Read once per process: a long process (a sweep, a
    reproduction) runs the code it started with, whatever the checkout holds later."""
    if not (_SOURCE / ".git").exists():
        return None
    try:
        def git(*args: str) -> str:
            return subprocess.run(["git", "-C", str(_SOURCE), *args], capture_output=True, text=True, timeout=10,
                                  check=True).stdout.strip()

        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", "snntrain")
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "") if commit else None


def describe_environment(device: str, epoch: int) -> dict[str, Any]:
    """This session's record: `device` in words (the backend's description), the epoch it starts after, the
    command line, versions, machine and source commit."""
    return {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "after_epoch": epoch,
        "device": device,
        "command": sys.argv,
        "python": platform.python_version(),
        "packages": {name: _version(name) for name in PACKAGES},
        "machine": {"system": platform.platform(), "processor": cpu_model(),
                    "cpus": os.cpu_count(), "host": platform.node()},
        "commit": source_commit(),
    }


def record_environment(path: Path, entry: dict[str, Any]) -> None:
    """Append `entry` to the list in `path` (environment.json), written atomically; an unreadable earlier file
    is kept aside as environment.json.bad rather than lost."""
    entries: list[Any] = []
    if path.exists():
        try:
            entries = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(entries, list):
                raise ValueError("not a list")
        except (OSError, ValueError):
            path.replace(path.with_name(path.name + ".bad"))
            entries = []
    entries.append(entry)
    atomic_write_text(path, json.dumps(entries, indent=2) + "\n")
