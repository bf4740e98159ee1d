"""Dense LIF layer: every neuron sees every input (weights [n_out, n_in], SPEC §3)."""
from __future__ import annotations

from typing import Any

import numpy as np

from snntrain.backends import Backend
from snntrain.network.lif import LifCore, LifParams
from snntrain.network.spikes import SpikeTrains

__all__ = ["DenseLayer", "LifParams"]


class DenseLayer(LifCore):
    """Fully connected LIF layer; one row per sample.

    Weights [n_out, n_in] are shared by all samples. Weights [G, n_out, n_in] make G independent networks that
    run side by side: the batch is then G consecutive blocks of samples, block g going through network g.
    """

    kind = "dense"

    def __init__(self, backend: Backend, weights: np.ndarray, params: LifParams, t_max: float,
                 dtype: Any = np.float32) -> None:
        super().__init__(backend, weights, (-1,) + weights.shape[-2:], params, t_max, dtype)
        self.neurons = self.n_out
        self._output: SpikeTrains | None = None

    def forward(self, inputs: SpikeTrains) -> SpikeTrains:
        """This layer's spike trains for `inputs` (kept for the backward pass until the next forward). The
        inputs' time order, which this layer computes, is handed back to them (`inputs.sorted`): the layer that
        made them needs the same order in its backward pass."""
        self._output = SpikeTrains(*self._lif_forward(inputs.times, inputs.counts))
        inputs.sorted = self.sorted_inputs()
        return self._output

    def backward(self, errors: Any, input_errors: bool = True) -> Any:
        """Set `grad` from `errors` (dL/dt of this layer's spikes); return dL/dt of the inputs if asked."""
        return self._lif_backward(errors, input_errors, self._output.sorted if self._output is not None else None)
