"""Compile plain-Python math once for two targets: CPU (`numba.njit`) and CUDA (`numba.cuda.jit(device=True)`).

The math modules (`snntrain.kernels.lif`, `...sort`, ...) are ordinary Python functions that call each other by
global name. `compile_for` rebuilds each function with its globals rebound to the *same target's* compiled
versions of its siblings, so a helper called from a CUDA device function is itself a CUDA device function, and
a helper called from CPU code is an njit function. The source is written, and tested, once.
"""
from __future__ import annotations

import types
from typing import Callable, Iterable

import numba


def _rebind(fn: Callable, namespace: dict) -> Callable:
    """A copy of `fn` whose global lookups see `namespace` first (the already-compiled siblings)."""
    globals_ = dict(fn.__globals__)
    globals_.update(namespace)
    clone = types.FunctionType(fn.__code__, globals_, fn.__name__, fn.__defaults__, fn.__closure__)
    clone.__qualname__ = fn.__qualname__
    clone.__doc__ = fn.__doc__
    return clone


def compile_for(target: str, functions: Iterable[Callable]) -> types.SimpleNamespace:
    """Compile `functions` (callees before callers) for `target` ("cpu" or "cuda").

    Returns a namespace with one compiled function per name. CPU functions are inlined-friendly njit
    functions (fastmath off: both targets must give the same numbers); CUDA ones are device functions.
    """
    if target == "cpu":
        jit = numba.njit(cache=False, fastmath=False)
    elif target == "cuda":
        from numba import cuda

        jit = cuda.jit(device=True)
    else:
        raise ValueError(f"unknown target {target!r}")
    namespace: dict = {}
    for fn in functions:
        namespace[fn.__name__] = jit(_rebind(fn, namespace))
    return types.SimpleNamespace(**namespace)
