"""Captured steps: the launches of one training (or scoring) step recorded once and replayed for every batch.

A step's Python (layers, loss, optimiser) makes the same launches with the same arguments from batch to batch
when three things hold, and the code keeps them so:
- what changes per batch lives in device memory (the batch position `cursor`, the optimiser's scalars `hp`);
- the arrays a step touches are allocated once per shape and kept, and replaced only by a new allocation;
- the step's shape (batch size, training or scoring) is part of the key.
So a captured step stays valid until the backend allocates again; then it is captured anew. On a GPU the
capture is a CUDA graph, one launch per step instead of one per kernel; elsewhere it is the list of launches,
replayed without the Python that made them.

With `verify`, every replay first runs the step's Python again without launching anything and checks that it
would make exactly the launches that were captured (kernel, size, each array's address, shape, strides and
dtype, each scalar's type and value); any difference is an error. The test suite runs with it on.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Hashable

import numpy as np

#: Whether `StepGraphs` check every replay against the step's own Python (SNNTRAIN_VERIFY_GRAPHS=1).
VERIFY = os.environ.get("SNNTRAIN_VERIFY_GRAPHS", "") not in ("", "0")

# A key whose capture fails this many times in a row (it allocated, or the device refused the capture) runs
# eagerly from then on.
MAX_FAILED_CAPTURES = 2


class GraphMismatch(RuntimeError):
    """A replayed step would not make the launches its Python makes now (see `StepGraphs` with verify)."""


def fingerprint(value: Any) -> tuple:
    """What a launch argument contributes to a captured step: an array's address, shape, strides and dtype, or a
    scalar's type and value."""
    if isinstance(value, (bool, int, float, np.generic)):
        return type(value).__name__, value
    iface = getattr(value, "__cuda_array_interface__", None) or getattr(value, "__array_interface__", None)
    if iface is None:
        raise TypeError(f"cannot capture a launch argument of type {type(value).__name__}")
    return "array", iface["data"][0], tuple(iface["shape"]), iface.get("strides"), iface["typestr"]


def launch_records(launches: list[tuple]) -> list[tuple]:
    """Launches (name, total, args, precision) as a captured step remembers them: the arguments fingerprinted."""
    return [(name, total, precision, tuple(map(fingerprint, args))) for name, total, args, precision in launches]


class _Entry:
    """One key's state: how often it ran, its capture and the allocation count it was made at."""

    def __init__(self) -> None:
        self.runs = 0
        self.graph: Any = None
        self.launches: list[tuple] = []
        self.allocations = -1
        self.failed = 0


class StepGraphs:
    """Runs step functions by key, capturing each key's step on its second run and replaying it after that.

    The first run of a key is eager (it compiles kernels and allocates buffers). A capture that allocates is
    dropped and the step runs eagerly (the arrays it made would not outlive the capture); a capture made before
    the backend's latest allocation is made again.
    """

    def __init__(self, backend: Any, enabled: bool = True, verify: bool | None = None) -> None:
        self.backend = backend
        self.enabled = enabled
        self.verify = VERIFY if verify is None else verify
        self._entries: dict[Hashable, _Entry] = {}
        self.replays = 0
        self.captures = 0
        self.last_error = ""  # why the latest failed capture failed, for reports

    def run(self, key: Hashable, step: Callable[[], None]) -> None:
        """Do `step` (a function that only launches kernels), eagerly or by replaying its capture under `key`."""
        if not self.enabled:
            step()
            return
        entry = self._entries.setdefault(key, _Entry())
        entry.runs += 1
        if entry.runs == 1 or entry.failed >= MAX_FAILED_CAPTURES:
            step()
            return
        be = self.backend
        if entry.graph is None or entry.allocations != be.allocations:
            entry.graph = None
            before = be.allocations
            try:
                graph, launches = be.capture(step)
            except be.capture_errors as error:  # the device would not capture it: run it as it is
                graph, launches, self.last_error = None, [], f"{type(error).__name__}: {error}"
            if graph is not None and be.allocations != before:
                graph, self.last_error = None, f"step {key!r} allocated device memory while captured"
            if graph is None:
                entry.failed += 1
                step()
                return
            entry.graph, entry.launches, entry.allocations, entry.failed = graph, launches, before, 0
            self.captures += 1
        elif self.verify:
            now = be.record(step)
            if now != entry.launches:
                raise GraphMismatch(_difference(key, entry.launches, now))
        be.replay(entry.graph)
        self.replays += 1


def _difference(key: Hashable, captured: list[tuple], now: list[tuple]) -> str:
    """The first launch where a captured step and its Python disagree, in words."""
    for index, (a, b) in enumerate(zip(captured, now)):
        if a != b:
            return f"step {key!r}, launch {index}: captured {a}, the step's Python now makes {b}"
    return f"step {key!r}: captured {len(captured)} launches, the step's Python now makes {len(now)}"
