"""The backend interface that layers and the network talk to: memory, transfers, and kernel launches.

A backend compiles the math of `snntrain.kernels` for its target; `backend.launch(name, total, *args)` runs the
per-element function `name(i, *args)` for every i in range(total).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from snntrain.backends.launch import compiled_math
from snntrain.kernels import ENTRY_POINTS


class Backend:
    """Common part of the CPU and CUDA backends. Subclasses set `name`, `target` and the memory methods."""

    name = "base"
    target = "cpu"
    host_memory = False  # whether device arrays are host arrays (reading them back costs nothing)
    sort_by_row = False  # sort spikes with one thread per row (few cores) instead of one per slot and pass
    sort_fan_in = 2  # runs merged per sort pass: more per pass means fewer launches but more searches per slot
    row_schedules = False  # LIF forward and weight gradient with one element per row (few cores), not per
    # neuron and per synapse: inner loops over contiguous post neurons

    def __init__(self) -> None:
        compiled = compiled_math(self.target)
        self._launchers: dict[str, Callable] = {
            fn.__name__: self._make_launcher(fn, getattr(compiled, fn.__name__)) for fn in ENTRY_POINTS
        }

    def _make_launcher(self, py_fn: Callable, compiled_fn: Callable) -> Callable:
        raise NotImplementedError

    def launch(self, name: str, total: int, *args: Any) -> None:
        """Run kernel `name` for every element index in range(total)."""
        raise NotImplementedError

    # memory -----------------------------------------------------------------------------------------
    def to_device(self, array: np.ndarray) -> Any:
        """Copy a host array to the device (the CPU backend returns a contiguous array)."""
        raise NotImplementedError

    def to_host(self, array: Any) -> np.ndarray:
        """Copy a device array to the host."""
        raise NotImplementedError

    def empty(self, shape: tuple[int, ...], dtype: Any) -> Any:
        """An uninitialised device array."""
        raise NotImplementedError

    def zeros(self, shape: tuple[int, ...], dtype: Any) -> Any:
        """A zero-filled device array."""
        raise NotImplementedError

    def synchronize(self) -> None:
        """Wait for queued device work (no-op on the CPU)."""
