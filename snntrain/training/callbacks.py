"""Hooks into the training loop, so that a user can watch or log a run with their own tools.

Subclass `Callback` and override what you need; pass instances to `snntrain.training.trainer.train`. The command
line's progress bar is one such callback. metrics.csv is not: it is written with the checkpoints of an epoch, as
one record that a crash cannot leave half-written.
"""
from __future__ import annotations

from typing import Sequence

from snntrain.training.epoch import EpochStats


class Callback:
    """No-op hooks, called in this order: `on_epoch_begin`, `on_batch_end` (as batches complete), `on_epoch_end`,
    and `on_train_end` once training stops, however it stops."""

    def on_epoch_begin(self, epoch: int, samples: int) -> None:
        """Epoch `epoch` (1-based) starts; it will train on `samples` samples."""

    def on_batch_end(self, epoch: int, stats: EpochStats) -> None:
        """Running statistics of the epoch so far (samples, loss, accuracy, seconds), after a batch. On a GPU they
        come at most every half second, since reading them back costs a synchronisation."""

    def on_epoch_end(self, epoch: int, row: dict[str, float]) -> None:
        """The epoch's metrics row (the columns of metrics.csv), after its checkpoints are on disk."""

    def on_train_end(self) -> None:
        """Training stopped: finished, interrupted or failed."""


class CallbackList(Callback):
    """Several callbacks called as one, in order."""

    def __init__(self, callbacks: Sequence[Callback]) -> None:
        self.callbacks = list(callbacks)

    def on_epoch_begin(self, epoch: int, samples: int) -> None:
        for callback in self.callbacks:
            callback.on_epoch_begin(epoch, samples)

    def on_batch_end(self, epoch: int, stats: EpochStats) -> None:
        for callback in self.callbacks:
            callback.on_batch_end(epoch, stats)

    def on_epoch_end(self, epoch: int, row: dict[str, float]) -> None:
        for callback in self.callbacks:
            callback.on_epoch_end(epoch, row)

    def on_train_end(self) -> None:
        for callback in self.callbacks:
            callback.on_train_end()
