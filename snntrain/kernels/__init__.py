"""The math of snntrain, written once as plain Python and compiled per target by the backends.

`FUNCTIONS` is every function defined in the kernel modules, in the order they must be compiled (callees first,
computed from the calls by `compile_order`); `ENTRY_POINTS` are the per-element functions `fn(i, *args)` that
backends launch over a range of i.

Kernel functions carry no type annotations: each is compiled for two targets and two precisions (float32 and
float64), so any annotation would be wrong for one of them; their docstrings give each argument's shape and meaning.
"""
import inspect

from snntrain.kernels import batch, conv, lif, losses, metrics, optim, sort
from snntrain.kernels.onesource import compile_order

_MODULES = (sort, lif, losses, optim, batch, conv, metrics)
FUNCTIONS = compile_order([fn for module in _MODULES for _, fn in inspect.getmembers(module, inspect.isfunction)
                           if fn.__module__ == module.__name__])
ENTRY_POINTS = tuple(fn for module in _MODULES for fn in module.ENTRY_POINTS)
