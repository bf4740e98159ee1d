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
    the host reads only what it has not read yet. Kept from pass to pass (same addresses) when the size stays."""

    def __init__(self, backend: Backend, network: Network, samples: int) -> None:
        self.backend = backend
        self.losses = backend.empty((samples,), np.float64)
        self.preds = backend.empty((samples,), np.int32)
        self.silent = backend.empty((samples,), np.int32)
        self.totals = [backend.empty((layer.neurons,), np.int64) for layer in network.layers]  # see `reset`
        self.read = 0

    def reset(self) -> None:
        """Start a new pass: spike totals back to zero, nothing read."""
        for totals in self.totals:
            self.backend.upload(totals, np.zeros(totals.shape, np.int64))
        self.read = 0

    def record(self, cursor: Any, labels: Any, losses: Any, preds: Any, outputs: list[SpikeTrains]) -> None:
        """Store one batch's outcomes where the batch starts in the pass, `cursor[0]` (device work only)."""
        be = self.backend
        be.kernels.record_outcome(len(preds), cursor=cursor, labels=labels, losses=losses, preds=preds,
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
    """One batch, device work only: forward and loss, and when `optimizer` is given, backward, the loss's
    regulariser and the optimiser's update (`optimizer.apply`: its `prepare` for this step comes first, on the
    host). Returns the per-sample losses and predictions (device arrays)."""
    out = network.forward(inputs)
    errors, losses, preds = loss(out, labels)
    if optimizer is not None:
        network.backward(errors)
        loss.regularize(network.layers[-1], out, labels)
        optimizer.apply()
    return losses, preds


class EpochRunner:
    """Passes over one split at one batch size, training or scoring; the device state of a pass (the order, the
    batch position, the monitors) and each step's capture (`Backend.step_graphs`) are kept from pass to pass.

    Each step is replayed from its capture after the first of its kind: every batch of one pass has the same
    launches, as the batch position and the optimiser's scalars are read from device memory.
    """

    def __init__(self, backend: Backend, network: Network, loss: Loss, split: EncodedSplit, batch_size: int,
                 classes: int, graphs: bool = True) -> None:
        self.backend = backend
        self.network = network
        self.loss = loss
        self.split = split
        self.batch_size = batch_size
        self.classes = classes
        self.batcher = Batcher(backend, split)
        self.graphs = backend.step_graphs(graphs)
        self._outcomes: _Outcomes | None = None

    def run(self, order: np.ndarray, optimizer: Optimizer | None = None,
            progress: Callable[[EpochStats], None] | None = None, refresh_s: float = 0.5) -> EpochStats:
        """Run the samples `order` (host index array) through the network in batches; train if an optimizer is
        given.

        Monitors accumulate on the device, so no step waits for a transfer. The host reads them at the end and
        to call `progress`: after every batch where device memory is host memory, else every `refresh_s` seconds.
        """
        backend, samples = self.backend, len(order)
        self.batcher.start(order)
        if self._outcomes is None or self._outcomes.losses.shape[0] != samples:
            self._outcomes = _Outcomes(backend, self.network, samples)
        outcomes = self._outcomes
        outcomes.reset()
        true = self.split.host_labels[order]
        stats = EpochStats(spikes=[0] * len(self.network.layers),
                           ever_spiked=[np.zeros(layer.neurons, bool) for layer in self.network.layers],
                           confusion=np.zeros((self.classes, self.classes + 1), np.int64))
        start = shown = time.perf_counter()
        for begin in range(0, samples, self.batch_size):
            batch = min(self.batch_size, samples - begin)
            if optimizer is not None:
                optimizer.prepare()
            self.graphs.run((batch, id(optimizer)), lambda: self._step(batch, optimizer, outcomes))
            if progress is not None and (backend.host_memory or time.perf_counter() - shown >= refresh_s):
                outcomes.update(stats, true, begin + batch)
                stats.seconds = time.perf_counter() - start
                progress(stats)
                shown = time.perf_counter()
        outcomes.update(stats, true, samples)
        stats.seconds = time.perf_counter() - start
        return stats

    def _step(self, batch: int, optimizer: Optimizer | None, outcomes: _Outcomes) -> None:
        """The device work of one batch: gather, `step`, record, move the pass on."""
        inputs, labels = self.batcher(batch)
        losses, preds = step(self.network, self.loss, inputs, labels, optimizer)
        outcomes.record(self.batcher.cursor, labels, losses, preds, self.network.outputs)
        self.batcher.advance(batch)


def run_epoch(backend: Backend, network: Network, loss: Loss, split: EncodedSplit, order: np.ndarray,
              batch_size: int, classes: int, optimizer: Optimizer | None = None,
              progress: Callable[[EpochStats], None] | None = None, refresh_s: float = 0.5) -> EpochStats:
    """One pass of `EpochRunner` over the samples `order`; train if an optimizer is given."""
    return EpochRunner(backend, network, loss, split, batch_size, classes).run(order, optimizer, progress, refresh_s)
