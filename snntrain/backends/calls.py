"""Kernel calls by name: `backend.kernels.NAME(total, arg=..., ...)`, one keyword-only function per entry point of
`snntrain.kernels`, generated from the math function's own parameters.

Every argument is named at the call site, so two arrays of one type cannot trade places unnoticed, and a
missing or unknown name is a TypeError before anything runs. A kernel whose numbers depend on the precision
(`PRECISION_KERNELS`: it or a function it calls uses `real`) takes the precision from its floating-point
arguments, which must all agree: a float64 array handed to a float32 layer's kernel is an error, and so is a
Python float, which numba would type as float64 and so promote the whole computation.
"""
from __future__ import annotations

import inspect
import types
from typing import Any, Callable, Sequence

from snntrain.kernels import ENTRY_POINTS, FUNCTIONS
from snntrain.kernels.onesource import reads_real

#: Entry points by name.
ENTRIES = {fn.__name__: fn for fn in ENTRY_POINTS}
#: Entry points whose numbers depend on the precision they are compiled for.
PRECISION_KERNELS = frozenset(name for name, fn in ENTRIES.items() if reads_real(fn, FUNCTIONS))

_CALL = '''
def {name}(total, *, {params}):
    backend.launch("{name}", total, {params}{precision})
'''


def precision_of(kernel: str, names: Sequence[str], values: Sequence[Any]) -> str:
    """The one floating-point dtype ("float32" or "float64") of a precision kernel's arguments; TypeError when
    they disagree, when there is none, or when one is a Python float."""
    found, first = None, ""
    for name, value in zip(names, values):
        if type(value) is float:  # noqa: E721 - np.float64 scalars are floats too, and are fine
            raise TypeError(f"kernel {kernel}: {name} is a Python float; pass np.float32 or np.float64, in the "
                            "precision of the arrays")
        dtype = getattr(value, "dtype", None)
        if dtype is None or dtype.kind != "f":
            continue
        if found is None:
            found, first = dtype, name
        elif dtype != found:
            raise TypeError(f"kernel {kernel}: {name} is {dtype.name} but {first} is {found.name}; a kernel "
                            "computes in one precision")
    if found is None:
        raise TypeError(f"kernel {kernel}: no floating-point argument to take the precision from")
    return found.name


def _call(backend: Any, fn: Callable) -> Callable:
    """The keyword-only call of entry point `fn` on `backend` (its parameters less the element index)."""
    params = list(inspect.signature(fn).parameters)[1:]
    joined = ", ".join(params)
    precision = ""
    if fn.__name__ in PRECISION_KERNELS:
        precision = f", precision=precision_of({fn.__name__!r}, {tuple(params)!r}, ({joined},))"
    namespace: dict = {}
    exec(_CALL.format(name=fn.__name__, params=joined, precision=precision),  # noqa: S102
         {"backend": backend, "precision_of": precision_of}, namespace)
    call = namespace[fn.__name__]
    summary = " ".join((fn.__doc__ or "").strip().split("\n\n")[0].split())
    call.__doc__ = f"Launch `{fn.__module__}.{fn.__name__}` for every element of range(total): {summary}"
    return call


def kernel_calls(backend: Any) -> types.SimpleNamespace:
    """One keyword-only call per entry point, launching on `backend` (through `backend.launch`, so that a hook
    set on it sees every call)."""
    return types.SimpleNamespace(**{name: _call(backend, fn) for name, fn in ENTRIES.items()})
