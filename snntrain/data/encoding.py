"""Input encoding: images into latency spike times (SPEC §6: one spike per non-zero pixel), event streams into one
spike train per input channel."""
from __future__ import annotations

import math

import numpy as np

from snntrain.data.formats import EventSamples


def latency_encode(images: np.ndarray, t_window: float = 0.1) -> np.ndarray:
    """Encode uint8 images (N, ...) as first-spike times, float32 (N, n_inputs) in seconds.

    Pixel p fires once at t = t_window * (1 - p / 255): bright pixels early, p = 255 at t = 0. A pixel of 0 never
    fires, represented as +inf. Inputs are flattened in C order, i.e. (x, y, c) for (N, X, Y, C) images.
    """
    if images.dtype != np.uint8:
        raise ValueError(f"latency_encode expects uint8 images, got {images.dtype}")
    if images.ndim < 1:
        raise ValueError("latency_encode expects an array shaped (N, ...)")
    if isinstance(t_window, bool) or not isinstance(t_window, (int, float, np.integer, np.floating)) or not (
            math.isfinite(t_window) and 0 < t_window <= float(np.finfo(np.float32).max)):
        raise ValueError(f"t_window must be a number of seconds, positive and finite (in float32), got {t_window!r}")
    # One float64 computation per grey level, rounded once to float32: exact table lookup instead of
    # float32 arithmetic on every pixel.
    table = (t_window * (1.0 - np.arange(256, dtype=np.float64) / 255.0)).astype(np.float32)
    table[0] = np.inf
    return table[images.reshape(len(images), math.prod(images.shape[1:]))]  # -1 cannot size an empty batch


def encode_events(events: EventSamples, channels: int, resolution: float = 0.0,
                  max_spikes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Turn event samples into input spike trains: every channel is one input neuron with its own train.

    Per sample and channel, an event closer than `resolution` seconds to the channel's previously kept spike is
    dropped (0 keeps every event), then only the earliest `max_spikes` are kept. Returns host arrays
    times (N, channels, S) float32, each channel's spikes in time order and padded with +inf, and
    counts (N, channels) int32, where S is the largest count of any channel (at least 1).
    """
    if not (math.isfinite(resolution) and resolution >= 0):
        raise ValueError(f"resolution must be >= 0 and finite, got {resolution}")
    if max_spikes < 1:
        raise ValueError(f"max_spikes must be >= 1, got {max_spikes}")
    n = len(events)
    kept = []  # per chunk: (row, rank, time) of each kept spike; scattered once the width is known
    for first, last in _chunks(events.offsets, _CHUNK_EVENTS):
        lo, hi = events.offsets[first], events.offsets[last]
        sample = np.repeat(np.arange(first, last, dtype=np.int64), np.diff(events.offsets[first:last + 1]))
        row = sample * channels + events.units[lo:hi].astype(np.int64)  # row of (sample, channel)
        # Stable: events are time-ordered within a sample, so each row's events stay in time order.
        order = np.argsort(row, kind="stable")
        row, t = row[order], events.times[lo:hi][order]
        if resolution > 0:
            keep = _thin(row, t, resolution)
            row, t = row[keep], t[keep]
        rank = _rank_in_row(row)
        keep = rank < max_spikes
        kept.append((row[keep], rank[keep], t[keep]))
    width = max((int(rank.max()) + 1 for _, rank, _ in kept if rank.size), default=1)
    times = np.full((n * channels, width), np.inf, dtype=np.float32)
    counts = np.zeros(n * channels, dtype=np.int32)
    for row, rank, t in kept:
        times[row, rank] = t
        last = np.ones(len(row), dtype=bool)
        last[:-1] = row[1:] != row[:-1]  # the last spike of each row holds its count
        counts[row[last]] = rank[last] + 1
    return times.reshape(n, channels, width), counts.reshape(n, channels)


# Samples are encoded a few million events at a time: the sort keys and indices stay small beside the data.
_CHUNK_EVENTS = 1 << 22


def _chunks(offsets: np.ndarray, size: int) -> list[tuple[int, int]]:
    """Consecutive sample ranges [first, last) of about `size` events each (at least one sample each)."""
    ranges, first, n = [], 0, len(offsets) - 1
    while first < n:
        last = max(int(np.searchsorted(offsets, offsets[first] + size, side="right")) - 1, first + 1)
        ranges.append((first, min(last, n)))
        first = ranges[-1][1]
    return ranges


def _rank_in_row(row: np.ndarray) -> np.ndarray:
    """Position of each event within its run of equal, sorted `row` values: 0, 1, 2, ... per row."""
    index = np.arange(len(row))
    starts = np.ones(len(row), dtype=bool)
    starts[1:] = row[1:] != row[:-1]
    return index - np.maximum.accumulate(np.where(starts, index, 0))


def _thin(row: np.ndarray, t: np.ndarray, resolution: float) -> np.ndarray:
    """Which events to keep so that, within each row (sorted, time-ordered), kept spikes are >= resolution apart:
    the first event is kept, then each event at least `resolution` after the last kept one. A gap within two
    steps of the times' own precision of `resolution` counts as `resolution` (a file's exact 2 ms, in integer
    microseconds, reads as 1.9999966 ms at 0.1 s in float32 seconds); the slack never reaches half of
    `resolution`, so events at one instant are always thinned.

    Greedy and sequential within a row, but all rows advance together: one vectorised step per event rank, so
    the Python loop runs as often as the busiest row has events, not once per event.
    """
    rank = _rank_in_row(row)
    run = np.cumsum(rank == 0) - 1  # which row run each event belongs to
    last_kept = np.full(int(run[-1]) + 1 if len(run) else 0, -np.inf)
    keep = np.zeros(len(row), dtype=bool)
    by_rank = np.argsort(rank, kind="stable")
    bounds = np.searchsorted(rank[by_rank], np.arange(int(rank.max()) + 2 if rank.size else 1))
    for r in range(len(bounds) - 1):
        idx = by_rank[bounds[r]:bounds[r + 1]]
        slack = np.minimum(2 * np.spacing(np.abs(t[idx])).astype(np.float64), 0.5 * resolution)
        idx = idx[t[idx] - last_kept[run[idx]] >= resolution - slack]
        keep[idx] = True
        last_kept[run[idx]] = t[idx]
    return keep
