"""One pass over a split: forward (and, when training, backward and optimiser step) batch by batch."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from snntrain.backends import Backend
from snntrain.network.loss import Loss
from snntrain.network.network import Network
from snntrain.network.optimizer import Optimizer
from snntrain.training.inputs import Batcher, EncodedSplit


@dataclass
class EpochStats:
    """What one pass measured. Per-layer lists follow the network's layer order."""

    samples: int = 0
    loss_sum: float = 0.0
    correct: int = 0
    silent_labels: int = 0
    spikes: list[int] = field(default_factory=list)
    ever_spiked: list[np.ndarray] = field(default_factory=list)
    confusion: np.ndarray | None = None  # [classes, classes + 1]: rows true, columns predicted, last: none
    seconds: float = 0.0

    @property
    def loss(self) -> float:
        """Mean loss per sample."""
        return self.loss_sum / max(self.samples, 1)

    @property
    def accuracy(self) -> float:
        """Fraction of samples predicted correctly."""
        return self.correct / max(self.samples, 1)

    def mean_spikes(self, layer: int) -> float:
        """Mean spikes per neuron and sample in `layer`."""
        return self.spikes[layer] / max(self.samples * len(self.ever_spiked[layer]), 1)

    def silent_neurons(self, layer: int) -> float:
        """Fraction of the layer's neurons that never spiked during the pass."""
        return float(1.0 - self.ever_spiked[layer].mean())


def run_epoch(backend: Backend, network: Network, loss: Loss, split: EncodedSplit, order: np.ndarray,
              batch_size: int, classes: int, optimizer: Optimizer | None = None,
              progress: Callable[[EpochStats], None] | None = None) -> EpochStats:
    """Run the samples `order` (host index array) through the network in batches; train if an optimizer is given.

    Host transfers per batch are the metrics only (losses, predictions, spike counts).
    """
    batcher = Batcher(backend, split)
    device_order = backend.to_device(order.astype(np.int32))
    stats = EpochStats(spikes=[0] * len(network.layers),
                       ever_spiked=[np.zeros(layer.neurons, bool) for layer in network.layers],
                       confusion=np.zeros((classes, classes + 1), np.int64))
    start = time.perf_counter()
    for begin in range(0, len(order), batch_size):
        inputs, labels = batcher(device_order[begin:begin + batch_size])
        out = network.forward(inputs)
        errors, losses, preds = loss(out, labels)
        if optimizer is not None:
            network.backward(errors)
            optimizer.step()
        true = split.host_labels[order[begin:begin + batch_size]]
        pred = backend.to_host(preds)
        stats.samples += len(true)
        stats.loss_sum += float(backend.to_host(losses).sum())
        stats.correct += int((pred == true).sum())
        # a sample with no prediction (-1: silent output) goes to the last column, so every sample is counted
        np.add.at(stats.confusion, (true, np.where(pred >= 0, pred, classes)), 1)
        for index, spikes in enumerate(network.outputs):
            counts = backend.to_host(spikes.counts)
            stats.spikes[index] += int(counts.sum())
            stats.ever_spiked[index] |= counts.any(axis=0)
            if index == len(network.outputs) - 1:
                stats.silent_labels += int((counts[np.arange(len(true)), true] == 0).sum())
        stats.seconds = time.perf_counter() - start
        if progress is not None:
            progress(stats)
    return stats
