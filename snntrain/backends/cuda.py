"""CUDA backend: device arrays, kernels compiled with `numba.cuda.jit`, one thread per element."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from snntrain.backends.base import Backend
from snntrain.backends.launch import cuda_launcher

THREADS_PER_BLOCK = 128


class CudaBackend(Backend):
    """Runs every kernel on the current CUDA device (or numba's simulator under NUMBA_ENABLE_CUDASIM=1)."""

    name = "cuda"
    target = "cuda"

    def __init__(self) -> None:
        from numba import cuda

        self._cuda = cuda
        super().__init__()

    def _make_launcher(self, py_fn: Callable, compiled_fn: Callable) -> Callable:
        return cuda_launcher(py_fn, compiled_fn)

    def launch(self, name: str, total: int, *args: Any) -> None:
        if total > 0:
            blocks = (total + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK
            self._launchers[name][blocks, THREADS_PER_BLOCK](total, *args)

    def to_device(self, array: np.ndarray) -> Any:
        return self._cuda.to_device(np.ascontiguousarray(array))

    def to_host(self, array: Any) -> np.ndarray:
        return array.copy_to_host() if hasattr(array, "copy_to_host") else np.asarray(array)

    def empty(self, shape: tuple[int, ...], dtype: Any) -> Any:
        return self._cuda.device_array(shape, dtype)

    def zeros(self, shape: tuple[int, ...], dtype: Any) -> Any:
        return self._cuda.to_device(np.zeros(shape, dtype))

    def synchronize(self) -> None:
        self._cuda.synchronize()
