"""CUDA backend: device arrays, kernels compiled with `numba.cuda.jit`, one thread per element.

Kernels launch through numba's public launch configuration, `kernel[blocks, threads, stream]`. A training or
scoring step is captured once into a CUDA graph (stream capture through cuda.core's graph builder) and replayed
for every batch of its shape (see `snntrain.backends.graphs`), so per-kernel launch cost is paid at capture
only. Without cuda.core's graph API, or on numba's simulator, steps replay as lists of launches instead.
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Callable

import numpy as np

from snntrain.backends.base import Backend
from snntrain.backends.graphs import launch_records
from snntrain.backends.launch import cuda_launcher

THREADS_PER_BLOCK = 128


def graph_api() -> SimpleNamespace | None:
    """cuda.core's stream and graph classes (cuda.core 1.x), or None where they are missing."""
    try:
        from cuda.core import Device, Stream, StreamOptions
        from cuda.core.graph import GraphBuilder
    except ImportError:
        return None
    if not all(hasattr(GraphBuilder, name) for name in ("begin_building", "end_building", "complete")):
        return None
    return SimpleNamespace(Device=Device, Stream=Stream, StreamOptions=StreamOptions)


class CudaBackend(Backend):
    """Runs every kernel on the current CUDA device (or numba's simulator under NUMBA_ENABLE_CUDASIM=1)."""

    name = "cuda"
    target = "cuda"
    sort_fan_in = 32  # launches cost more than searches on a GPU: two passes sort up to 1,024 neurons
    # chunks for the LIF forward until about 250 threads per SM of an H100 have work: measured there, ttfs.toml at
    # batch 50 trained at 68,000 samples/s with 1 << 15, 55,000 with 1 << 17 and 51,000 unchunked
    forward_threads = 1 << 15

    def __init__(self) -> None:
        from numba import cuda

        self._cuda = cuda
        super().__init__()
        self._configs: dict[tuple[str, str | None, int], Any] = {}
        self._graphs = None if cuda.config.ENABLE_CUDASIM else graph_api()
        self._stream: Any = None  # where launches go while a step is captured (else numba's default stream)
        self._streams: tuple[Any, Any] | None = None  # (capture stream, the default stream as cuda.core's)
        if self._graphs is not None:
            # cuda.core's CUDAError is not exported; a step that fails for its own reasons fails again when it
            # then runs eagerly, so nothing is hidden
            self.capture_errors = (Exception,)

    def describe(self) -> str:
        if self._cuda.config.ENABLE_CUDASIM:
            return "cuda: numba's CUDA simulator"
        name = self._cuda.get_current_device().name
        return f"cuda: {name.decode() if isinstance(name, bytes) else name}"

    @property
    def capture_kind(self) -> str:  # type: ignore[override]
        return "launch lists" if self._graphs is None else "cuda graphs"

    def _make_launcher(self, py_fn: Callable, compiled_fn: Callable, precision: str) -> Callable:
        return cuda_launcher(py_fn, compiled_fn)

    def _launch(self, name: str, total: int, args: tuple, precision: str | None) -> None:
        blocks = (total + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK
        if self._stream is not None:  # capturing: into the capture stream (made rarely, so not kept)
            self._launcher(name, precision)[blocks, THREADS_PER_BLOCK, self._stream](total, *args)
            return
        config = self._configs.get((name, precision, blocks))
        if config is None:  # building a launch configuration costs about as much as a launch: keep them
            config = self._launcher(name, precision)[blocks, THREADS_PER_BLOCK]
            if not self._cuda.config.ENABLE_CUDASIM:  # the simulator's configuration is the kernel itself
                self._configs[(name, precision, blocks)] = config
        config(total, *args)

    def capture(self, step: Callable[[], None]) -> tuple[Any, list[tuple]]:
        """A CUDA graph of `step`'s launches (and their records), made by capturing a stream that synchronises
        with the default one: anything in `step` that would touch the default stream breaks the capture (an
        error here) instead of running outside the graph."""
        api = self._graphs
        if api is None:
            return super().capture(step)
        if self._streams is None:
            device = api.Device()
            device.set_current()
            self._streams = (device.create_stream(options=api.StreamOptions(nonblocking=False)),
                             api.Stream.from_handle(0))
        builder = self._streams[0].create_graph_builder()
        builder.begin_building("relaxed")
        self._stream = builder.stream
        try:
            launches = self._recorded(step, dry=False)
        finally:
            self._stream = None
            builder.end_building()
        graph = builder.complete()
        graph.upload(self._streams[1])
        return graph, launch_records(launches)

    def replay(self, graph: Any) -> None:
        if self._graphs is None:
            super().replay(graph)
        else:
            graph.launch(self._streams[1])

    def _to_device(self, array: np.ndarray) -> Any:
        return self._cuda.to_device(np.ascontiguousarray(array))

    def to_host(self, array: Any) -> np.ndarray:
        return array.copy_to_host() if hasattr(array, "copy_to_host") else np.asarray(array)

    def _empty(self, shape: tuple[int, ...], dtype: Any) -> Any:
        return self._cuda.device_array(shape, dtype)

    def _zeros(self, shape: tuple[int, ...], dtype: Any) -> Any:
        return self._cuda.to_device(np.zeros(shape, dtype))

    def _upload(self, dst: Any, host: np.ndarray) -> None:
        dst.copy_to_device(host)

    def synchronize(self) -> None:
        self._cuda.synchronize()
