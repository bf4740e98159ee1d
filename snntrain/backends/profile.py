"""Measuring what runs on a backend: a hook around every kernel launch, the time spent in each kernel, and peak
memory. The bench (`snntrain.training.bench`) reports these; nothing here asserts a figure."""
from __future__ import annotations

import time
import tracemalloc
from collections import defaultdict
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from snntrain.backends import Backend, cuda_available


@contextmanager
def launch_hook(backend: Backend, around: Callable) -> Iterator[None]:
    """Inside the block, every `backend.launch(name, total, *args)` goes through `around(launch, name, total,
    *args)`, where `launch` is the launch it replaces; hooks nest, and each exit restores the one before."""
    saved = backend.__dict__.get("launch")
    inner = backend.launch
    backend.launch = lambda name, total, *args, **kw: around(  # type: ignore[method-assign]
        lambda *a: inner(*a, **kw), name, total, *args)
    try:
        yield
    finally:
        if saved is None:
            del backend.launch
        else:
            backend.launch = saved  # type: ignore[method-assign]


def kernel_profile(backend: Backend, step: Callable[[], None], steps: int) -> tuple[dict[str, float], int, str]:
    """Milliseconds per step spent in each kernel, launches per step, and how the time was taken: on a GPU the
    device's own time between CUDA events recorded around each launch; elsewhere the wall time of each launch,
    synchronising after it. `step` must launch eagerly (a replayed capture shows no launches)."""
    totals: dict[str, float] = defaultdict(float)
    count = [0]
    events: list[tuple[str, Any, Any]] = []
    cuda = _real_cuda(backend)

    def timed(launch: Callable, name: str, total: int, *args) -> None:
        count[0] += 1
        if cuda is not None:
            begin, end = cuda.event(), cuda.event()
            begin.record()
            launch(name, total, *args)
            end.record()
            events.append((name, begin, end))
            return
        start = time.perf_counter()
        launch(name, total, *args)
        backend.synchronize()
        totals[name] += time.perf_counter() - start

    with launch_hook(backend, timed):
        step()
    backend.synchronize()
    for name, begin, end in events:
        totals[name] += cuda.event_elapsed_time(begin, end) / 1000
    ranked = sorted(totals.items(), key=lambda kv: -kv[1])
    how = ("device time between CUDA events, which for a short kernel includes waiting for its launch"
           if cuda is not None else "wall time, synchronised after each launch")
    return {name: 1000 * t / steps for name, t in ranked}, count[0] // steps, how


def _real_cuda(backend: Backend) -> Any:
    """numba.cuda where `backend` runs on a real GPU (not the simulator), else None."""
    if backend.name != "cuda" or not cuda_available(allow_simulator=False):
        return None
    from numba import cuda

    return cuda


class MemoryMeter:
    """Peak memory in MB of what runs inside the `with` block. On CUDA: device memory in use, read after every
    kernel launch (pending frees are flushed first, so earlier runs' arrays do not count). On the CPU: host
    allocations traced by tracemalloc (numpy arrays included)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.peak_mb = 0.0

    def __enter__(self) -> "MemoryMeter":
        if self.backend.name == "cuda":
            from numba import cuda

            context = cuda.current_context()
            context.deallocations.clear()
            free_before = context.get_memory_info()[0]

            def launch_and_read(launch: Callable, name: str, total: int, *args) -> None:
                launch(name, total, *args)
                self.peak_mb = max(self.peak_mb, (free_before - context.get_memory_info()[0]) / 2**20)

            self._hook = launch_hook(self.backend, launch_and_read)
            self._hook.__enter__()
        else:
            tracemalloc.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.backend.name == "cuda":
            self._hook.__exit__(*exc)
        else:
            self.peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
