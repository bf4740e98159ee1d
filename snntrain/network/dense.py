"""Dense LIF layer: every neuron sees every input (weights [n_out, n_in], SPEC §3)."""
from __future__ import annotations

from typing import Any

import numpy as np

from snntrain.backends import Backend
from snntrain.network.lif import LifCore, LifParams
from snntrain.network.spikes import SpikeTrains

__all__ = ["DenseLayer", "LifParams"]


class DenseLayer(LifCore):
    """Fully connected LIF layer; one row per sample."""

    kind = "dense"

    def __init__(self, backend: Backend, weights: np.ndarray, params: LifParams, t_max: float,
                 dtype: Any = np.float32) -> None:
        super().__init__(backend, weights, params, t_max, dtype)
        self.neurons = self.n_out

    @property
    def weights(self) -> np.ndarray:
        """Host copy of the weights, [n_out, n_in]."""
        return self._matrix()

    @property
    def gradient(self) -> np.ndarray:
        """Host copy of the last weight gradient, [n_out, n_in]."""
        return self._grad_matrix()

    def set_weights(self, weights: np.ndarray) -> None:
        """Replace the weights ([n_out, n_in])."""
        if weights.shape != (self.n_out, self.n_in):
            raise ValueError(f"weights of shape {weights.shape}, expected {(self.n_out, self.n_in)}")
        self._set_matrix(weights)

    def forward(self, inputs: SpikeTrains) -> SpikeTrains:
        """This layer's spike trains for `inputs` (kept for the backward pass until the next forward)."""
        return SpikeTrains(*self._lif_forward(inputs.times, inputs.counts))

    def backward(self, errors: Any, input_errors: bool = True) -> Any:
        """Set `grad` from `errors` (dL/dt of this layer's spikes); return dL/dt of the inputs if asked."""
        return self._lif_backward(errors, input_errors)
