"""Spike trains as the network passes them between layers."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class SpikeTrains:
    """Per sample and neuron, a time-ordered buffer of spike times padded with +inf, and the spike counts.

    `times` has shape (batch, neurons, max_spikes); `counts` (batch, neurons), int32. Arrays live on the
    backend's device.
    """

    times: Any
    counts: Any

    @property
    def batch(self) -> int:
        """Number of samples."""
        return self.times.shape[0]


def spike_trains_from_times(times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Host arrays (times[B, N, 1], counts[B, N]) for inputs with at most one spike each (+inf = none)."""
    times = np.asarray(times)
    return times[:, :, None].copy(), np.isfinite(times).astype(np.int32)
