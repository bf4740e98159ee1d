"""Datasets as input spike trains resident on the device, and batches assembled there."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from snntrain.backends import Backend
from snntrain.config.model import InputConfig
from snntrain.data.encoding import latency_encode
from snntrain.network.spikes import SpikeTrains, spike_trains_from_times


@dataclass
class EncodedSplit:
    """One split encoded as spike trains: times [N, n_in, 1], counts [N, n_in], labels [N] on the device."""

    times: Any
    counts: Any
    labels: Any
    host_labels: np.ndarray

    @property
    def size(self) -> int:
        """Number of samples."""
        return len(self.host_labels)


def encode_split(backend: Backend, images: np.ndarray, labels: np.ndarray, cfg: InputConfig, limit: int = 0,
                 dtype: Any = np.float32) -> EncodedSplit:
    """Encode the first `limit` samples (0 = all) of a split (SPEC §6) and move them to the device once."""
    if limit:
        images, labels = images[:limit], labels[:limit]
    times, counts = spike_trains_from_times(latency_encode(images, cfg.t_window).astype(dtype))
    host_labels = np.asarray(labels, np.int32)
    return EncodedSplit(backend.to_device(times), backend.to_device(counts), backend.to_device(host_labels),
                        host_labels)


class Batcher:
    """Gathers batches of an EncodedSplit on the device, from an index array that also lives there."""

    def __init__(self, backend: Backend, split: EncodedSplit) -> None:
        self.backend = backend
        self.split = split
        self._buffers: tuple = ()

    def __call__(self, indices: Any) -> tuple[SpikeTrains, Any]:
        """(input spike trains, labels) of the samples `indices` (a device int array)."""
        batch = indices.shape[0]
        src = self.split
        if not self._buffers or self._buffers[0].shape[0] != batch:
            be = self.backend
            self._buffers = (be.empty((batch,) + src.times.shape[1:], src.times.dtype),
                             be.empty((batch, src.counts.shape[1]), np.int32), be.empty((batch,), np.int32))
        times, counts, labels = self._buffers
        self.backend.launch("gather_sample", batch, indices, src.times, src.counts, src.labels, times, counts,
                            labels)
        return SpikeTrains(times, counts), labels
