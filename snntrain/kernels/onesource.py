"""Compile plain-Python math once for two targets: CPU (`numba.njit`) and CUDA (`numba.cuda.jit(device=True)`).

The math modules (`snntrain.kernels.lif`, `...sort`, ...) are ordinary Python functions that call each other by
global name. `compile_for` rebuilds each function with its globals rebound to the *same target's* compiled
versions of its siblings, so a helper called from a CUDA device function is itself a CUDA device function, and
a helper called from CPU code is an njit function. The source is written, and tested, once.

Precision: the math names its arithmetic type `real` (a float in plain Python). `compile_for` binds it to
numpy's float32 or float64, so `real(2.0) * tau_s` and `a = real(0.0)` keep a float32 computation in float32:
numba types a bare literal, a module constant or an int mixed with a float32 as float64, which would promote the
whole expression. The scalars a kernel takes (tau_s, theta, ...) come in already cast to the precision.
"""
from __future__ import annotations

import types
from typing import Callable, Iterable

import numba
import numpy as np

#: The arithmetic type of the math in plain Python; `compile_for` rebinds it per precision.
real = float

#: Model precisions and the numpy type their arithmetic and storage use.
PRECISIONS = {"float32": np.float32, "float64": np.float64}


def _rebind(fn: Callable, namespace: dict) -> Callable:
    """A copy of `fn` whose global lookups see `namespace` first (the already-compiled siblings)."""
    globals_ = dict(fn.__globals__)
    globals_.update(namespace)
    clone = types.FunctionType(fn.__code__, globals_, fn.__name__, fn.__defaults__, fn.__closure__)
    clone.__qualname__ = fn.__qualname__
    clone.__doc__ = fn.__doc__
    return clone


def compile_for(target: str, functions: Iterable[Callable], precision: str = "float64") -> types.SimpleNamespace:
    """Compile `functions` (callees before callers) for `target` ("cpu" or "cuda"), with `real` bound to the
    numpy type of `precision` ("float32" or "float64").

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
    namespace: dict = {"real": PRECISIONS[precision]}
    for fn in functions:
        namespace[fn.__name__] = jit(_rebind(fn, namespace))
    del namespace["real"]
    return types.SimpleNamespace(**namespace)


def _callees(fn: Callable, by_name: dict[str, Callable]) -> list[Callable]:
    """The functions among `by_name` that `fn` calls (refers to by global name)."""
    return [by_name[name] for name in fn.__code__.co_names if name in by_name and by_name[name] is not fn]


def compile_order(functions: Iterable[Callable]) -> tuple[Callable, ...]:
    """`functions` ordered so that every function comes after the ones it calls, as `compile_for` needs
    (a depth-first walk of the calls; names are unique among the kernel modules, and there is no recursion)."""
    by_name: dict[str, Callable] = {}
    for fn in functions:
        if by_name.setdefault(fn.__name__, fn) is not fn:
            raise ValueError(f"two math functions named {fn.__name__}")
    order: list[Callable] = []
    placed: set[str] = set()

    def place(fn: Callable, path: tuple[str, ...]) -> None:
        if fn.__name__ in placed:
            return
        if fn.__name__ in path:
            raise ValueError(f"recursive math functions: {' -> '.join(path + (fn.__name__,))}")
        for callee in _callees(fn, by_name):
            place(callee, path + (fn.__name__,))
        placed.add(fn.__name__)
        order.append(fn)

    for fn in sorted(by_name.values(), key=lambda f: f.__name__):
        place(fn, ())
    return tuple(order)


def reads_real(fn: Callable, functions: Iterable[Callable]) -> bool:
    """Whether `fn` or any of `functions` it calls (by global name, transitively) uses `real`: its numbers then
    depend on the precision it was compiled for."""
    by_name = {f.__name__: f for f in functions}
    seen: set[str] = set()
    todo = [fn]
    while todo:
        current = todo.pop()
        if "real" in current.__code__.co_names:
            return True
        for callee in _callees(current, by_name):
            if callee.__name__ not in seen:
                seen.add(callee.__name__)
                todo.append(callee)
    return False
