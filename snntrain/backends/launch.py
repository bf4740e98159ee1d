"""Launchers: run a per-element math function `fn(i, *args)` for every i in range(total), on either target.

One generator per target builds the launcher from the function's own signature, so each math function has
exactly one launcher per target and no launcher is written by hand (the CPU's template also serves the compile
cache, `compile_cache.py`, which writes the same launcher to a module file that numba can cache).
"""
from __future__ import annotations

import functools
import inspect
import types
from typing import Callable

import numba

from snntrain.kernels import FUNCTIONS
from snntrain.kernels.onesource import compile_for

CPU_TEMPLATE = """
def launch(total, {args}):
    for i in prange(total):
        fn(i, {args})
"""

_CUDA_TEMPLATE = """
def launch(total, {args}):
    i = cuda.grid(1)
    if i < total:
        fn(i, {args})
"""


def arg_names(py_fn: Callable) -> str:
    """The launcher's parameters: the math function's, less the element index."""
    names = list(inspect.signature(py_fn).parameters)
    return ", ".join(names[1:])


def _build(template: str, py_fn: Callable, compiled_fn: Callable, env: dict) -> Callable:
    namespace: dict = {}
    exec(template.format(args=arg_names(py_fn)), {"fn": compiled_fn, **env}, namespace)  # noqa: S102
    return namespace["launch"]


@functools.lru_cache(maxsize=None)
def compiled_math(target: str, precision: str = "float64") -> types.SimpleNamespace:
    """Every math function of `snntrain.kernels` compiled (lazily) for `target` and `precision`, once per
    process."""
    return compile_for(target, FUNCTIONS, precision)


def cpu_launcher(py_fn: Callable, compiled_fn: Callable) -> Callable:
    """An `njit(parallel=True)` function `launch(total, *args)` running `compiled_fn` over a prange."""
    return numba.njit(parallel=True)(_build(CPU_TEMPLATE, py_fn, compiled_fn, {"prange": numba.prange}))


def cuda_launcher(py_fn: Callable, compiled_fn: Callable) -> Callable:
    """A `cuda.jit` kernel `launch(total, *args)`, one thread per element (launch with [blocks, threads])."""
    from numba import cuda

    return cuda.jit(_build(_CUDA_TEMPLATE, py_fn, compiled_fn, {"cuda": cuda}))
