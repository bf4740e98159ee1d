"""The LIF core shared by dense and conv layers: event-based forward and exact backprop (SPEC §1-§2).

The core works on *rows*: each row is one independent set of input spike trains (a sample for a dense layer,
a sample's receptive field at one position for a conv layer) feeding `n_out` neurons through one weight matrix.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from snntrain.backends import Backend
from snntrain.config.schema import PRECISIONS
from snntrain.network.spikes import sort_spikes


@dataclass(frozen=True)
class LifParams:
    """Neuron parameters of one LIF layer (SPEC §1)."""

    tau_s: float
    theta: float
    delta_theta: float
    max_spikes: int


# The CPU weight-gradient sweep (multi-spike layers) hands out a layer's post neurons in chunks per group, two per
# core while 16 neurons or more each remain, and always a multiple of the cores. Every chunk walks all of its group's
# inputs, so more chunks repeat that walk with shorter vector loops; one chunk per core, the fewest, was the fastest
# while both cores ran freely but over twice as slow in processes where they did not (README, CPU table).
# Single-spike layers hand out weight rows.
SWEEP_CHUNKS_PER_CORE = 2


class LifCore:
    """LIF neurons fed through weight matrices, kept input-major on the device: `w[groups, n_in, n_out]`.

    The public weights (`weights`, saved in checkpoints) keep the shape they were given; subclasses say how that
    shape maps to [groups, n_out, n_in] and how their inputs become rows.
    """

    def __init__(self, backend: Backend, weights: np.ndarray, matrix_shape: tuple[int, ...], params: LifParams,
                 t_max: float, dtype: Any = np.float32) -> None:
        """`weights` in its public shape; `matrix_shape` its [groups, n_out, n_in] view (-1 allowed)."""
        self.backend = backend
        self.params = params
        self.t_max = float(t_max)
        self.dtype = np.dtype(dtype)
        if self.dtype.name not in PRECISIONS:
            raise ValueError(f"layer dtype {self.dtype}: allowed are {', '.join(PRECISIONS)}")
        real = self.dtype.type  # the kernels' scalars, cast once so that numba types them in the precision
        self._tau_s, self._theta, self._delta_theta, self._t_max = (real(params.tau_s), real(params.theta),
                                                                    real(params.delta_theta), real(t_max))
        self.weight_shape = weights.shape
        self._matrix_shape = weights.reshape(matrix_shape).shape
        self.groups, self.n_out, self.n_in = self._matrix_shape
        self.w = self._to_device(weights)
        self.grad = backend.zeros((self.groups, self.n_in, self.n_out), self.dtype)
        self._buffers: dict[str, Any] = {}
        self._buffer_key: tuple = ()
        self._rows: tuple[Any, Any] | None = None

    def _matrix(self, weights: np.ndarray) -> np.ndarray:
        """Public-shape weights in the device layout, input-major [groups, n_in, n_out] (a host view)."""
        return weights.reshape(self._matrix_shape).transpose(0, 2, 1)

    def _to_device(self, weights: np.ndarray) -> Any:
        return self.backend.to_device(np.ascontiguousarray(self._matrix(weights), dtype=self.dtype))

    def _to_public(self, device_matrix: Any) -> np.ndarray:
        return np.ascontiguousarray(self.backend.to_host(device_matrix).transpose(0, 2, 1)).reshape(self.weight_shape)

    @property
    def weights(self) -> np.ndarray:
        """Host copy of the weights, in their public shape."""
        return self._to_public(self.w)

    @property
    def gradient(self) -> np.ndarray:
        """Host copy of the last weight gradient, shaped like `weights`."""
        return self._to_public(self.grad)

    def set_weights(self, weights: np.ndarray) -> None:
        """Replace the weights (shaped like `weights`)."""
        if weights.shape != self.weight_shape:
            raise ValueError(f"weights of shape {weights.shape}, expected {self.weight_shape}")
        # into the same device array: steps captured before (CUDA graphs) read the new weights
        self.backend.upload(self.w, self._matrix(weights))

    # buffers -------------------------------------------------------------------------------------
    def _ensure_buffers(self, batch: int, in_spikes: int) -> dict[str, Any]:
        key = (batch, in_spikes)
        if key != self._buffer_key:
            be, f, i32 = self.backend, self.dtype, np.int32
            s_out = self.params.max_spikes
            m = self.n_in * in_spikes
            self._buffers = {
                "st": be.empty((batch, m), f), "sp": be.empty((batch, m), i32), "sn": be.empty((batch,), i32),
                "tmp_t": be.empty((batch, m), f), "tmp_p": be.empty((batch, m), i32),
                "se1": be.empty((batch, m), f), "se2": be.empty((batch, m), f), "sfr": be.empty((batch, m), i32),
                "in_e1": be.empty((batch, self.n_in, in_spikes), f),
                "in_e2": be.empty((batch, self.n_in, in_spikes), f),
                "in_f": be.empty((batch, self.n_in, in_spikes), i32),
                "t": be.empty((batch, self.n_out, s_out), f), "cnt": be.empty((batch, self.n_out), i32),
                "a": be.empty((batch, self.n_out, s_out), f), "x": be.empty((batch, self.n_out, s_out), f),
                "z": be.empty((batch, self.n_out, s_out), f), "f": be.empty((batch, self.n_out, s_out), i32),
                "g1": be.empty((batch, self.n_out, s_out), f), "g2": be.empty((batch, self.n_out, s_out), f),
                "err_in": be.empty((batch, self.n_in, in_spikes), f),
            }
            self._buffer_key = key
        return self._buffers

    def _scratch(self, *names: str) -> list[Any]:
        """The CPU schedules' scratch arrays, made on first use for the current batch: sums and a candidate mark
        per (row, neuron), accumulators per weight row, the rows' output spikes sorted, and the weight-gradient
        sweep's state per neuron (floats in the layer's precision)."""
        batch, posts, per_neuron = self._buffer_key[0], self.n_out * self.params.max_spikes, (self.groups, self.n_out)
        f = self.dtype
        shapes = {"sum_a": ((batch, self.n_out), f), "sum_b": ((batch, self.n_out), f),
                  "hit": ((batch, self.n_out), np.uint8),
                  "wacc": ((self.groups * self.n_in, self._sweep_plan()[1] if self.sweeps_only else self.n_out), f),
                  "pt": ((batch, posts), f), "pn": ((batch, posts), np.int32), "pcnt": ((batch,), np.int32),
                  "ptmp_t": ((batch, posts), f), "ptmp_p": ((batch, posts), np.int32),
                  "kk": (per_neuron, np.int32), "h1": (per_neuron, f), "h2": (per_neuron, f),
                  "hf": (per_neuron, np.int32), "ikk": ((batch, self.n_out), np.int32),
                  "ih1": ((batch, self.n_out), f), "ih2": ((batch, self.n_out), f),
                  "ihf": ((batch, self.n_out), np.int32), "slot": ((batch, self.n_in), np.int32)}
        for name in names:
            if name not in self._buffers:
                self._buffers[name] = self.backend.empty(*shapes[name])
        return [self._buffers[name] for name in names]

    def _chunk_scratch(self, chunks: int) -> list[Any]:
        """The chunked forward's sums and margins per (row, chunk, neuron), made on first use for the current
        batch and chunk count."""
        if "csa" not in self._buffers or self._buffers["csa"].shape[1] != chunks:
            shape, be = (self._buffer_key[0], chunks, self.n_out), self.backend
            self._buffers.update({name: be.empty(shape, self.dtype) for name in ("csa", "csb", "cmax")})
        return [self._buffers[name] for name in ("csa", "csb", "cmax")]

    # passes --------------------------------------------------------------------------------------
    def _lif_forward(self, times: Any, counts: Any) -> tuple[Any, Any]:
        """Spike times [rows, n_out, max_spikes] and counts [rows, n_out] for input rows (kept for backward)."""
        batch, n_in, in_spikes = times.shape
        if n_in != self.n_in:
            raise ValueError(f"layer expects {self.n_in} inputs, got {n_in}")
        buf = self._ensure_buffers(batch, in_spikes)
        sort_spikes(self.backend, times, counts, buf["st"], buf["sp"], buf["sn"], buf["tmp_t"], buf["tmp_p"])
        self._exp_factors(buf["st"], buf["se1"], buf["se2"], buf["sfr"])
        return self._lif_forward_sorted(times, counts)

    def _exp_factors(self, times: Any, e1: Any, e2: Any, frames: Any) -> None:
        """The exponentials and frames of every spike time in `times` (any layout; +inf padding gives 0)."""
        self.backend.kernels.exp_factors(times.size, t=times.reshape(-1), tau_s=self._tau_s, e1=e1.reshape(-1),
                                         e2=e2.reshape(-1), fr=frames.reshape(-1))

    def _lif_forward_sorted(self, times: Any, counts: Any) -> tuple[Any, Any]:
        """`_lif_forward` once the rows' inputs are in time order, with their exponentials, in the buffers
        `st`, `sp`, `sn`, `se1`, `se2`, `sfr` (made for `times`' shape)."""
        batch = times.shape[0]
        buf, be = self._buffers, self.backend
        inputs = self._sorted_inputs()
        args = dict(inputs, w=self.w, tau_s=self._tau_s, theta=self._theta, delta_theta=self._delta_theta,
                    t_max=self._t_max, out_t=buf["t"], cnt=buf["cnt"], sa=buf["a"], sx=buf["x"], sz=buf["z"],
                    sf=buf["f"])
        chunks = 1 if be.row_schedules else be.forward_chunks(batch, self.n_out, buf["st"].shape[1], self.dtype,
                                                               self._t_max, self._tau_s)
        if be.row_schedules:
            acc_a, acc_b, hit = self._scratch("sum_a", "sum_b", "hit")
            be.kernels.lif_forward_row(batch, **args, acc_a=acc_a, acc_b=acc_b, hit=hit)
        elif chunks > 1:
            csa, csb, cmax = self._chunk_scratch(chunks)
            per_chunk = batch * chunks * self.n_out
            be.kernels.lif_chunk_sums(per_chunk, st=inputs["st"], sp=inputs["sp"], sn=inputs["sn"],
                                      se1=inputs["se1"], se2=inputs["se2"], w=self.w, t_max=self._t_max, csa=csa,
                                      csb=csb)
            be.kernels.lif_chunk_margins(per_chunk, **inputs, w=self.w, tau_s=self._tau_s, theta=self._theta,
                                         t_max=self._t_max, csa=csa, csb=csb, cmax=cmax)
            be.kernels.lif_forward_chunked(batch * self.n_out, **args, csa=csa, csb=csb, cmax=cmax)
        else:
            be.kernels.lif_forward_neuron(batch * self.n_out, **args)
        self._rows = (times, counts)
        return buf["t"], buf["cnt"]

    def _sweep_plan(self) -> tuple[int, int]:
        """(neurons per chunk, accumulator columns) of the CPU weight-gradient sweep: a multiple of the cores in
        chunks, each chunk's columns padded to whole cache lines so that no two cores write one line."""
        cores = max(1, self.backend.cores)
        chunks = -(-max(cores, min(SWEEP_CHUNKS_PER_CORE * cores, self.n_out // 16)) // cores) * cores
        chunk = -(-self.n_out // chunks)
        line = 64 // self.dtype.itemsize
        return chunk, -(-self.n_out // chunk) * (-(-chunk // line) * line)

    @property
    def sweeps_only(self) -> bool:
        """Whether backward runs the CPU's time sweeps (multi-spike layers): they read the inputs only in time
        order, so the rows' own layout need not be filled in."""
        return self.backend.row_schedules and self.params.max_spikes > 1

    def _sorted_inputs(self) -> dict[str, Any]:
        """The last forward's sorted inputs and their exponentials, named as the kernels name them."""
        buf = self._buffers
        return dict(st=buf["st"], sp=buf["sp"], sn=buf["sn"], se1=buf["se1"], se2=buf["se2"], sfr=buf["sfr"])

    def sorted_inputs(self) -> tuple[Any, Any, Any]:
        """The last forward's input rows in time order: times, source neurons and counts per row."""
        return self._buffers["st"], self._buffers["sp"], self._buffers["sn"]

    def _lif_backward(self, errors: Any, input_errors: bool, sorted_output: tuple[Any, Any, Any] | None = None) -> Any:
        """Backprop `errors` (dL/dt of the rows' output spikes, [rows, n_out, max_spikes]).

        Sets `self.grad` (dL/dw summed over all rows) and returns dL/dt of the input rows' spikes when
        `input_errors` is true (else None: the first layer's inputs need none). `sorted_output`: the rows'
        output spikes in time order, when a layer above already sorted them (the CPU's sweeps need them sorted).
        """
        if self._rows is None:
            raise RuntimeError("backward() before forward()")
        (times, counts), buf, be = self._rows, self._buffers, self.backend
        batch = times.shape[0]
        be.kernels.lif_backward_neuron(batch * self.n_out, err=errors, cnt=buf["cnt"], sa=buf["a"], sx=buf["x"],
                                       sz=buf["z"], sf=buf["f"], tau_s=self._tau_s, theta=self._theta,
                                       delta_theta=self._delta_theta, g1=buf["g1"], g2=buf["g2"])
        # the layer's output spikes and their suffix sums, as every gradient kernel reads them
        post = dict(out_t=buf["t"], cnt=buf["cnt"], g1=buf["g1"], g2=buf["g2"], out_f=buf["f"], tau_s=self._tau_s,
                    t_max=self._t_max)
        if self.sweeps_only:  # time sweeps over the sorted inputs and output spikes instead of searches
            if sorted_output is None:
                pt, pn, pcnt, ptmp_t, ptmp_p = self._scratch("pt", "pn", "pcnt", "ptmp_t", "ptmp_p")
                sort_spikes(be, buf["t"], buf["cnt"], pt, pn, pcnt, ptmp_t, ptmp_p)
            else:
                pt, pn, pcnt = sorted_output
            sweep = dict(self._sorted_inputs(), pt=pt, pn=pn, pcnt=pcnt, **post)
            chunk = self._sweep_plan()[0]
            kk, h1, h2, hf, acc = self._scratch("kk", "h1", "h2", "hf", "wacc")
            be.kernels.lif_weight_grad_sweep(self.groups * -(-self.n_out // chunk), **sweep, chunk=chunk, kk=kk,
                                             h1=h1, h2=h2, hf=hf, acc=acc, grad=self.grad)
            if not input_errors:
                return None
            kk, h1, h2, hf, slot = self._scratch("ikk", "ih1", "ih2", "ihf", "slot")
            be.kernels.lif_input_error_sweep(batch, **sweep, w=self.w, kk=kk, h1=h1, h2=h2, hf=hf, slot=slot,
                                             err_in=buf["err_in"])
            return buf["err_in"]
        # the per-input factors in the inputs' own layout
        self._exp_factors(times, buf["in_e1"], buf["in_e2"], buf["in_f"])
        spikes = dict(in_t=times, in_cnt=counts, in_e1=buf["in_e1"], in_e2=buf["in_e2"], in_f=buf["in_f"], **post)
        if be.row_schedules:  # one spike per neuron: share out the weight rows
            acc, = self._scratch("wacc")
            be.kernels.lif_weight_grad_row(self.groups * self.n_in, **spikes, acc=acc, grad=self.grad)
        else:
            share_post = self.params.max_spikes > times.shape[2]  # keep the larger spike buffers in cache
            be.kernels.lif_weight_grad(self.groups * self.n_in * self.n_out, **spikes, share_post=share_post,
                                       grad=self.grad)
        if not input_errors:
            return None
        be.kernels.lif_input_error(buf["err_in"].size, **spikes, w=self.w, err_in=buf["err_in"])
        return buf["err_in"]
