"""One pass over a split: forward (and, when training, backward and optimiser step) batch by batch."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from snntrain.backends import Backend
from snntrain.network.loss import Loss
from snntrain.network.network import Network
from snntrain.network.optimizer import Optimizer
from snntrain.network.spikes import SpikeTrains
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


class _Outcomes:
    """Per-sample losses, predictions and silent labels of one pass, and per-layer spike totals, on the device;
    the host reads only what it has not read yet."""

    def __init__(self, backend: Backend, network: Network, samples: int) -> None:
        self.backend = backend
        self.losses = backend.empty((samples,), np.float64)
        self.preds = backend.empty((samples,), np.int32)
        self.silent = backend.empty((samples,), np.int32)
        self.totals = [backend.zeros((layer.neurons,), np.int64) for layer in network.layers]
        self.read = 0

    def record(self, offset: int, labels: Any, losses: Any, preds: Any, outputs: list[SpikeTrains]) -> None:
        """Store one batch's outcomes (device work only)."""
        be = self.backend
        be.kernels.record_outcome(len(preds), offset=offset, labels=labels, losses=losses, preds=preds,
                                  out_counts=outputs[-1].counts, all_losses=self.losses, all_preds=self.preds,
                                  all_silent=self.silent)
        for spikes, totals in zip(outputs, self.totals):
            be.kernels.add_spike_counts(len(totals), counts=spikes.counts, totals=totals)

    def update(self, stats: EpochStats, true: np.ndarray, done: int) -> None:
        """Fold samples [read, done) into `stats` (`true`: host labels in pass order); waits for the device."""
        if done <= self.read:
            return
        be, part = self.backend, slice(self.read, done)
        pred = be.to_host(self.preds[part])
        stats.samples = done
        stats.loss_sum += float(be.to_host(self.losses[part]).sum())
        stats.correct += int((pred == true[part]).sum())
        # a sample with no prediction (-1: silent output) goes to the last column, so every sample is counted
        np.add.at(stats.confusion, (true[part], np.where(pred >= 0, pred, stats.confusion.shape[0])), 1)
        stats.silent_labels += int(be.to_host(self.silent[part]).sum())
        for index, totals in enumerate(self.totals):
            spikes = be.to_host(totals)
            stats.spikes[index] = int(spikes.sum())
            stats.ever_spiked[index] = spikes > 0
        self.read = done


def step(network: Network, loss: Loss, inputs: SpikeTrains, labels: Any,
         optimizer: Optimizer | None = None) -> tuple[Any, Any]:
    """One batch: forward and loss, and when `optimizer` is given, backward, the loss's regulariser and an
    optimiser step. Returns the per-sample losses and predictions (device arrays)."""
    out = network.forward(inputs)
    errors, losses, preds = loss(out, labels)
    if optimizer is not None:
        network.backward(errors)
        loss.regularize(network.layers[-1], out, labels)
        optimizer.step()
    return losses, preds


def run_epoch(backend: Backend, network: Network, loss: Loss, split: EncodedSplit, order: np.ndarray,
              batch_size: int, classes: int, optimizer: Optimizer | None = None,
              progress: Callable[[EpochStats], None] | None = None, refresh_s: float = 0.5) -> EpochStats:
    """Run the samples `order` (host index array) through the network in batches; train if an optimizer is given.

    Monitors accumulate on the device, so no step waits for a transfer. The host reads them at the end and to
    call `progress`: after every batch where device memory is host memory, else every `refresh_s` seconds.
    """
    batcher = Batcher(backend, split)
    device_order = backend.to_device(order.astype(np.int32))
    true = split.host_labels[order]
    outcomes = _Outcomes(backend, network, len(order))
    stats = EpochStats(spikes=[0] * len(network.layers),
                       ever_spiked=[np.zeros(layer.neurons, bool) for layer in network.layers],
                       confusion=np.zeros((classes, classes + 1), np.int64))
    start = shown = time.perf_counter()
    for begin in range(0, len(order), batch_size):
        inputs, labels = batcher(device_order[begin:begin + batch_size])
        losses, preds = step(network, loss, inputs, labels, optimizer)
        outcomes.record(begin, labels, losses, preds, network.outputs)
        if progress is not None and (backend.host_memory or time.perf_counter() - shown >= refresh_s):
            outcomes.update(stats, true, min(begin + batch_size, len(order)))
            stats.seconds = time.perf_counter() - start
            progress(stats)
            shown = time.perf_counter()
    outcomes.update(stats, true, len(order))
    stats.seconds = time.perf_counter() - start
    return stats
