"""The math of snntrain, written once as plain Python and compiled per target by the backends.

`FUNCTIONS` lists every function in dependency order (callees first); `ENTRY_POINTS` are the per-element
functions `fn(i, *args)` that backends launch over a range of i.
"""
from snntrain.kernels import batch, conv, lif, losses, metrics, optim, sort

FUNCTIONS = (sort.FUNCTIONS + lif.FUNCTIONS + losses.FUNCTIONS + optim.FUNCTIONS + batch.FUNCTIONS + conv.FUNCTIONS
             + metrics.FUNCTIONS)
ENTRY_POINTS = (sort.ENTRY_POINTS + (lif.exp_factors, lif.lif_forward_neuron, lif.lif_forward_row,
                                     lif.lif_backward_neuron, lif.lif_weight_grad, lif.lif_weight_grad_row,
                                     lif.lif_weight_grad_sweep, lif.lif_input_error,
                                     lif.lif_input_error_sweep)
                + losses.ENTRY_POINTS + optim.ENTRY_POINTS + batch.ENTRY_POINTS + conv.ENTRY_POINTS
                + metrics.ENTRY_POINTS)
