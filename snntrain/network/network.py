"""A feed-forward stack of spiking layers: forward through all, backprop errors through all."""
from __future__ import annotations

from typing import Any, Sequence

from snntrain.network.spikes import SpikeTrains


class Network:
    """Layers applied in order; each layer's output spike trains are the next layer's input."""

    def __init__(self, layers: Sequence[Any], names: Sequence[str] = ()) -> None:
        self.layers = list(layers)
        self.names = list(names) or [f"{layer.kind}{index}" for index, layer in enumerate(self.layers)]
        self.outputs: list[SpikeTrains] = []

    def forward(self, inputs: SpikeTrains) -> SpikeTrains:
        """Run every layer; the spike trains of each are kept in `self.outputs` (for monitors and backprop)."""
        self.outputs = []
        spikes = inputs
        for layer in self.layers:
            spikes = layer.forward(spikes)
            self.outputs.append(spikes)
        return spikes

    def backward(self, errors: Any, input_errors: bool = False) -> Any:
        """Backprop dL/dt of the output spikes through every layer, setting each layer's `grad`.

        Returns dL/dt of the network's input spikes when `input_errors` is true, else None.
        """
        for index in range(len(self.layers) - 1, -1, -1):
            errors = self.layers[index].backward(errors, input_errors=index > 0 or input_errors)
        return errors
