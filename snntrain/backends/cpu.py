"""CPU backend: numpy arrays, kernels compiled with `numba.njit(parallel=True)` (prange over elements)."""
from __future__ import annotations

from typing import Any, Callable

import numba
import numpy as np

from snntrain.backends.base import Backend
from snntrain.backends.compile_cache import cached_cpu_launcher
from snntrain.backends.launch import cpu_launcher


class CpuBackend(Backend):
    """Runs every kernel on the host's cores. Arrays are plain numpy arrays."""

    name = "cpu"
    target = "cpu"
    host_memory = True
    sort_by_row = True  # a few cores: a sequential merge per row does the least work
    row_schedules = True  # whole rows per core, inner loops over contiguous post neurons

    @property
    def cores(self) -> int:  # type: ignore[override]
        return numba.get_num_threads()

    def describe(self) -> str:
        return f"cpu, {self.cores} thread{'' if self.cores == 1 else 's'}"

    def _make_launcher(self, py_fn: Callable, compiled_fn: Callable, precision: str) -> Callable:
        # through the compile cache when there is one: later processes load the machine code instead of compiling
        return cached_cpu_launcher(py_fn, precision) or cpu_launcher(py_fn, compiled_fn)

    def _launch(self, name: str, total: int, args: tuple, precision: str | None) -> None:
        self._launcher(name, precision)(total, *args)

    def _to_device(self, array: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(array)

    def to_host(self, array: np.ndarray) -> np.ndarray:
        return np.asarray(array)

    def _empty(self, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        return np.empty(shape, dtype)

    def _zeros(self, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        return np.zeros(shape, dtype)

    def _upload(self, dst: np.ndarray, host: np.ndarray) -> None:
        dst[...] = host
