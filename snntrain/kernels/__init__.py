"""The math of snntrain, written once as plain Python and compiled per target by the backends.

`FUNCTIONS` is every function defined in the kernel modules, in the order they must be compiled (callees first,
computed from the calls by `compile_order`); `ENTRY_POINTS` are the per-element functions `fn(i, *args)` that
backends launch over a range of i.
"""
import inspect

from snntrain.kernels import batch, conv, lif, losses, metrics, optim, sort
from snntrain.kernels.onesource import compile_order

_MODULES = (sort, lif, losses, optim, batch, conv, metrics)
FUNCTIONS = compile_order([fn for module in _MODULES for _, fn in inspect.getmembers(module, inspect.isfunction)
                           if fn.__module__ == module.__name__])
ENTRY_POINTS = (sort.ENTRY_POINTS + (lif.exp_factors, lif.lif_forward_neuron, lif.lif_forward_row,
                                     lif.lif_chunk_sums, lif.lif_chunk_margins, lif.lif_forward_chunked,
                                     lif.lif_backward_neuron, lif.lif_weight_grad, lif.lif_weight_grad_row,
                                     lif.lif_weight_grad_sweep, lif.lif_input_error,
                                     lif.lif_input_error_sweep)
                + losses.ENTRY_POINTS + optim.ENTRY_POINTS + batch.ENTRY_POINTS + conv.ENTRY_POINTS
                + metrics.ENTRY_POINTS)
