"""CUDA backend: device arrays, kernels compiled with `numba.cuda.jit`, one thread per element."""
from __future__ import annotations

import ctypes
from typing import Any, Callable

import numpy as np

from snntrain.backends.base import Backend
from snntrain.backends.launch import cuda_launcher

THREADS_PER_BLOCK = 128


class CudaBackend(Backend):
    """Runs every kernel on the current CUDA device (or numba's simulator under NUMBA_ENABLE_CUDASIM=1)."""

    name = "cuda"
    target = "cuda"
    sort_fan_in = 32  # launches cost more than searches on a GPU: two passes sort up to 1,024 neurons

    def __init__(self) -> None:
        from numba import cuda

        self._cuda = cuda
        super().__init__()
        self._configs: dict[tuple[str, str | None, int], Any] = {}
        self._direct = None if cuda.config.ENABLE_CUDASIM else _DirectLauncher()

    def describe(self) -> str:
        if self._direct is None:
            return "cuda: numba's CUDA simulator"
        name = self._cuda.get_current_device().name
        return f"cuda: {name.decode() if isinstance(name, bytes) else name}"

    def _make_launcher(self, py_fn: Callable, compiled_fn: Callable, precision: str) -> Callable:
        return cuda_launcher(py_fn, compiled_fn)

    def launch(self, name: str, total: int, *args: Any, precision: str | None = None) -> None:
        if total <= 0:
            return
        blocks = (total + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK
        if self._direct is None:  # the simulator: kernel[...] configures the kernel object itself, keep nothing
            self._launcher(name, precision)[blocks, THREADS_PER_BLOCK](total, *args)
            return
        config = self._configs.get((name, precision, blocks))
        if config is None:  # building a launch configuration costs as much as a launch: keep them
            config = self._configs[(name, precision, blocks)] = self._launcher(name, precision)[blocks,
                                                                                                 THREADS_PER_BLOCK]
        if not self._direct(config, blocks, (total, *args)):
            config(total, *args)

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


class _DirectLauncher:
    """Launches an already compiled kernel with less Python per call than numba's general path.

    numba picks the compiled overload (its C dispatcher) and compiles on first use; this class then packs the
    arguments the way numba's `_Kernel._prepare_args` does for the argument kinds our kernels take (device
    arrays, integers, floats) and hands them to cuda.core's `launch`. That cuts the host cost per launch, which
    bounds small-batch throughput. Anything else, or any failure to set up, leaves the launch to numba.
    """

    def __init__(self) -> None:
        try:
            from cuda.core import LaunchConfig, launch
            from numba.cuda import dispatcher, types
            from numba.cuda.cudadrv.devicearray import DeviceNDArray

            self._select = dispatcher._dispatcher.Dispatcher._cuda_call
            self._config_kw = dispatcher._LAUNCH_CONFIG_KW
            self._launch, self._launch_config = launch, LaunchConfig
            self._types, self._array = types, DeviceNDArray
            self.enabled = True
        except (ImportError, AttributeError):
            self.enabled = False
        self._packers: dict[Any, tuple] = {}
        self._grids: dict[int, Any] = {}

    def __call__(self, config: Any, blocks: int, args: tuple) -> bool:
        """Launch `config`'s kernel on `args`; False (nothing launched) when this path does not apply."""
        if not self.enabled:
            return False
        kernel = self._select(config.dispatcher, *args, **{self._config_kw: config})
        packer = self._packers.get(kernel)
        if packer is None:
            packer = self._packers[kernel] = self._packer(kernel)
        if not packer:
            return False
        packed: list = []
        try:
            for pack, value in zip(packer[1], args):
                pack(packed, value)
        except TypeError:  # e.g. a host array, which numba's own path copies over
            return False
        grid = self._grids.get(blocks)
        if grid is None:
            grid = self._grids[blocks] = self._launch_config(grid=(blocks, 1, 1), block=(THREADS_PER_BLOCK, 1, 1),
                                                             shmem_size=0)
        self._launch(config.stream, grid, packer[0], *packed)
        return True

    def _packer(self, kernel: Any) -> tuple:
        """(cuda.core kernel, one packing function per argument), or () if an argument kind is not handled."""
        if kernel.debug or kernel.extensions:
            return ()
        types, packs = self._types, []
        for ty in kernel.argument_types:
            if isinstance(ty, types.Array):
                packs.append(self._pack_array)
            elif isinstance(ty, types.Integer):
                packs.append(_scalar_packer(getattr(ctypes, f"c_{ty}")))
            elif ty == types.float64:
                packs.append(_scalar_packer(ctypes.c_double))
            elif ty == types.float32:
                packs.append(_scalar_packer(ctypes.c_float))
            else:
                return ()
        return kernel._codelibrary.get_cufunc().kernel, packs

    def _pack_array(self, packed: list, array: Any) -> None:
        # numba's array argument: meminfo, parent, size, itemsize, data pointer, shape, strides (bytes)
        if type(array) is not self._array:
            raise TypeError(f"expected a device array, got {type(array).__name__}")
        packed += (0, 0, array.size, array.dtype.itemsize, array.device_ctypes_pointer.value or 0)
        packed += array.shape
        packed += array.strides


def _scalar_packer(ctype: Any) -> Callable[[list, Any], None]:
    def pack(packed: list, value: Any) -> None:
        packed.append(ctype(value))

    return pack
