"""Backends own launch geometry, memory and transfers; layers talk only to the `Backend` interface."""
from __future__ import annotations

import functools
import os

from snntrain.backends.base import Backend
from snntrain.devices import DEVICES
from snntrain.errors import SnntrainError

# numba's parallel loops run on GNU OpenMP, whose idle threads spin for 300,000 rounds before they sleep: where
# another process shares the cores, each side's spinning starves the other (`make train` beside one other training
# on 2 cores: 57-133 s, and 15 s with 1000; the same on idle cores). 1000 is libgomp's own count for more threads
# than cores. libgomp reads it when it loads (numba's first parallel launch, or set_threads), so it is set here,
# before either, and before a sweep starts Ray, whose workers inherit it. A user's GOMP_SPINCOUNT or
# OMP_WAIT_POLICY (which the count would override) is kept.
if "OMP_WAIT_POLICY" not in os.environ:
    os.environ.setdefault("GOMP_SPINCOUNT", "1000")


def cuda_available(allow_simulator: bool = True) -> bool:
    """True when numba sees a usable CUDA GPU, or (if allowed) its simulator is enabled."""
    try:
        from numba import config, cuda

        if config.ENABLE_CUDASIM:
            return allow_simulator
        return bool(cuda.is_available())
    except Exception:  # a broken CUDA install means "no GPU" here, not a crash
        return False


def set_threads(count: int) -> None:
    """Run the CPU kernels on at most `count` threads (at least one, at most the pool numba started with): a Ray
    worker that owns fewer CPUs than the machine must not spread over all of them."""
    import numba

    numba.set_num_threads(max(1, min(count, numba.config.NUMBA_NUM_THREADS)))


def get_backend(device: str = "auto") -> Backend:
    """The backend for `device`: "cpu", "cuda", or "auto" (CUDA when a real GPU is present, else CPU).

    Backends are cached per device, so kernels compile once per process.
    """
    if device not in DEVICES:
        raise SnntrainError(f"--device {device!r}: allowed values are {', '.join(DEVICES)}")
    if device == "auto":  # never picks the (slow, test-only) CUDA simulator
        device = "cuda" if cuda_available(allow_simulator=False) else "cpu"
    return _backend(device)


@functools.lru_cache(maxsize=None)
def _backend(device: str) -> Backend:
    if device == "cuda":
        if not cuda_available():
            raise SnntrainError("--device cuda: no CUDA GPU found (numba.cuda.is_available() is False); "
                                "use --device cpu")
        from snntrain.backends.cuda import CudaBackend

        return CudaBackend()
    from snntrain.backends.cpu import CpuBackend

    return CpuBackend()
