"""The backend interface that layers and the network talk to: memory, transfers, and kernel launches.

A backend compiles the math of `snntrain.kernels` for its target. Layers call a kernel by name with named
arguments, `backend.kernels.NAME(total, arg=..., ...)` (see `snntrain.backends.calls`), which comes down to
`backend.launch(name, total, *args)`: the per-element function `name(i, *args)` for every i in range(total).
Kernels whose arithmetic depends on the model's precision (those that use `real`) are launched with
`precision="float32"` or `"float64"`, each compiled on first use.

Every allocation is counted (`allocations`): a captured step (`snntrain.backends.graphs`) is valid only until the
next one.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from snntrain.backends.calls import ENTRIES, PRECISION_KERNELS, kernel_calls
from snntrain.backends.graphs import StepGraphs, launch_records
from snntrain.backends.launch import compiled_math
from snntrain.kernels.lif import single_frame
from snntrain.kernels.onesource import PRECISIONS

#: The chunked LIF forward's bounds: at most MAX_FORWARD_CHUNKS chunks per row, each of at least
#: MIN_CHUNK_INPUTS inputs, and at least MIN_FORWARD_CHUNKS or none: its two extra passes cost more than a walk
#: half or a third as long saves (measured on an H100: fashion.toml's hidden layers at batch 50, 2 chunks each,
#: trained at 15,700 samples/s against 18,700 with none).
MAX_FORWARD_CHUNKS = 32
MIN_FORWARD_CHUNKS = 4
MIN_CHUNK_INPUTS = 16


class Backend:
    """Common part of the CPU and CUDA backends. Subclasses set `name`, `target` and the memory methods."""

    name = "base"
    target = "cpu"
    host_memory = False  # whether device arrays are host arrays (reading them back costs nothing)
    sort_by_row = False  # sort spikes with one thread per row (few cores) instead of one per slot and pass
    sort_fan_in = 2  # runs merged per sort pass: more per pass means fewer launches but more searches per slot
    cores = 1  # threads a launch runs on at once (the CPU's schedules size their work to it)
    row_schedules = False  # LIF forward and weight gradient with one element per row (few cores), not per
    # neuron and per synapse: inner loops over contiguous post neurons
    forward_threads = 0  # threads a LIF forward should fill; more chunks per row until it does (0: never chunk)
    capture_kind = "launch lists"  # what a capture is here (the CUDA backend's are "cuda graphs")
    capture_errors: tuple[type[BaseException], ...] = ()  # what the device raises when it refuses a capture

    def __init__(self) -> None:
        self._launchers: dict[tuple[str, str], Callable] = {}
        self._scratch: dict[tuple[str, tuple[int, ...], str], Any] = {}
        #: Device arrays allocated so far (`empty`, `zeros`, `to_device`).
        self.allocations = 0
        self._recording: list[tuple] | None = None  # launches seen while recording a step
        self._dry = False  # while recording: note the launches without running them
        #: `kernels.NAME(total, arg=..., ...)`: every entry point, called with its arguments by name (see
        #: `snntrain.backends.calls`); layers use these rather than `launch`.
        self.kernels = kernel_calls(self)

    def scratch(self, name: str, shape: tuple[int, ...], dtype: Any) -> Any:
        """A device array a kernel works in, kept for the next call with the same name, shape and dtype. Only for
        space no result lives in: launches on one backend run in order, so one call's use ends before the next."""
        key = (name, tuple(shape), np.dtype(dtype).str)
        array = self._scratch.get(key)
        if array is None:
            array = self._scratch[key] = self.empty(shape, dtype)
        return array

    def _launcher(self, name: str, precision: str | None) -> Callable:
        """The launcher of entry point `name` for `precision` (made on first use; kernels that do not depend on
        the precision share the float64 one)."""
        if name in PRECISION_KERNELS:
            if precision not in PRECISIONS:
                raise ValueError(f"kernel {name} needs precision float32 or float64, got {precision!r}")
        else:
            precision = "float64"
        key = (name, precision)
        launcher = self._launchers.get(key)
        if launcher is None:
            py_fn = ENTRIES[name]
            compiled = getattr(compiled_math(self.target, precision), name)
            launcher = self._launchers[key] = self._make_launcher(py_fn, compiled, precision)
        return launcher

    def _make_launcher(self, py_fn: Callable, compiled_fn: Callable, precision: str) -> Callable:
        raise NotImplementedError

    def launch(self, name: str, total: int, *args: Any, precision: str | None = None) -> None:
        """Run kernel `name` for every element index in range(total), in `precision` where its arithmetic
        depends on one (`PRECISION_KERNELS`)."""
        if total <= 0:
            return
        if self._recording is not None:
            self._recording.append((name, total, args, precision))
            if self._dry:
                return
        self._launch(name, total, args, precision)

    def _launch(self, name: str, total: int, args: tuple, precision: str | None) -> None:
        raise NotImplementedError

    # captured steps ----------------------------------------------------------------------------------
    def step_graphs(self, enabled: bool = True) -> StepGraphs:
        """A cache of captured steps on this backend (see `snntrain.backends.graphs`)."""
        return StepGraphs(self, enabled)

    def _recorded(self, step: Callable[[], None], dry: bool) -> list[tuple]:
        """The launches `step` makes, as (name, total, args, precision); run too unless `dry`."""
        if self._recording is not None:
            raise RuntimeError("a step is already being recorded")
        self._recording, self._dry = [], dry
        try:
            step()
            return self._recording
        finally:
            self._recording, self._dry = None, False

    def record(self, step: Callable[[], None]) -> list[tuple]:
        """What a captured step remembers of the launches `step` makes (`launch_records`), launching nothing."""
        return launch_records(self._recorded(step, dry=True))

    def capture(self, step: Callable[[], None]) -> tuple[Any, list[tuple]]:
        """(A replayable capture of `step`, `record(step)`), launching nothing. Here the capture is the list of
        launches itself; the CUDA backend makes a CUDA graph."""
        launches = self._recorded(step, dry=True)
        return launches, launch_records(launches)

    def replay(self, graph: Any) -> None:
        """Run a capture of `capture`."""
        for name, total, args, precision in graph:
            self._launch(name, total, args, precision)

    def forward_chunks(self, rows: int, neurons: int, inputs: int, dtype: Any, t_max: Any, tau_s: Any) -> int:
        """How many chunks a LIF forward of `rows` x `neurons` cuts each row's (at most `inputs`) sorted inputs
        into, for `lif_forward_chunked`; 1 for the one-thread-per-neuron walk.

        Chunks go only where they help and cost nothing that is promised: float32 models (their sums already
        round, and chunking only changes the order of additions), inputs all in frame 0, and so few neurons
        that `forward_threads` threads have at least MIN_FORWARD_CHUNKS chunks to share. float64 keeps the serial walk, equal bit for bit to the
        CPU's."""
        if not self.forward_threads or np.dtype(dtype) != np.float32 or not single_frame(t_max, tau_s):
            return 1
        chunks = min(-(-self.forward_threads // max(1, rows * neurons)), inputs // MIN_CHUNK_INPUTS,
                     MAX_FORWARD_CHUNKS)
        return chunks if chunks >= MIN_FORWARD_CHUNKS else 1

    def describe(self) -> str:
        """The device in words, for the records of a run (the CPU's threads, the GPU's name)."""
        return self.name

    # memory -----------------------------------------------------------------------------------------
    def to_device(self, array: np.ndarray) -> Any:
        """Copy a host array to new device memory (the CPU backend returns a contiguous array)."""
        self.allocations += 1
        return self._to_device(array)

    def empty(self, shape: tuple[int, ...], dtype: Any) -> Any:
        """An uninitialised device array."""
        self.allocations += 1
        return self._empty(tuple(shape), dtype)

    def zeros(self, shape: tuple[int, ...], dtype: Any) -> Any:
        """A zero-filled device array."""
        self.allocations += 1
        return self._zeros(tuple(shape), dtype)

    def upload(self, dst: Any, array: Any) -> None:
        """Copy host `array` into the existing device array `dst` (same shape; cast to its dtype), in order with
        the launches: arrays keep their address, so captured steps see the new values."""
        host = np.ascontiguousarray(array, dtype=dst.dtype)
        if host.shape != tuple(dst.shape):
            raise ValueError(f"upload of shape {host.shape} into a device array of shape {tuple(dst.shape)}")
        self._upload(dst, host)

    def to_host(self, array: Any) -> np.ndarray:
        """Copy a device array to the host."""
        raise NotImplementedError

    def _to_device(self, array: np.ndarray) -> Any:
        raise NotImplementedError

    def _empty(self, shape: tuple[int, ...], dtype: Any) -> Any:
        raise NotImplementedError

    def _zeros(self, shape: tuple[int, ...], dtype: Any) -> Any:
        raise NotImplementedError

    def _upload(self, dst: Any, host: np.ndarray) -> None:
        raise NotImplementedError

    def synchronize(self) -> None:
        """Wait for queued device work (no-op on the CPU)."""
