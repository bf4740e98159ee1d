"""Input encoding: latency coding of images (SPEC §6: one spike per non-zero pixel at t = T_w (1 - p / 255)), and
event streams as one spike train per input channel."""
from __future__ import annotations

import numpy as np
import pytest

from snntrain.data import encoding, latency_encode
from snntrain.data.encoding import encode_events
from snntrain.data.formats import EventSamples, nmnist_units, parse_nmnist_events


def test_known_pixels_give_known_times():
    images = np.array([[0, 255, 51, 204]], dtype=np.uint8)
    times = latency_encode(images, t_window=0.1)
    assert times.dtype == np.float32 and times.shape == (1, 4)
    assert np.isposinf(times[0, 0])
    assert times[0, 1] == 0.0
    np.testing.assert_allclose(times[0, 2:], [0.08, 0.02], rtol=1e-6)


def test_every_grey_level_matches_the_formula_and_zero_never_fires():
    levels = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1)
    times = latency_encode(levels, t_window=0.25)[0]
    expected = (0.25 * (1 - np.arange(256) / 255)).astype(np.float32)
    np.testing.assert_array_equal(times[1:], expected[1:])
    assert np.isinf(times[0]) and np.all(np.isfinite(times[1:]))
    assert np.all(np.diff(times[1:]) < 0)  # brighter fires earlier


def test_flattening_is_c_order_of_x_y_c():
    images = np.zeros((2, 3, 4, 2), dtype=np.uint8)
    images[1, 2, 1, 0] = 255  # x=2, y=1, c=0
    times = latency_encode(images, 0.1)
    assert times.shape == (2, 3 * 4 * 2)
    assert np.isinf(times[0]).all()
    assert np.flatnonzero(np.isfinite(times[1])).tolist() == [(2 * 4 + 1) * 2 + 0]


def test_default_window_is_the_spec_value():
    np.testing.assert_allclose(latency_encode(np.array([[1]], np.uint8)), [[0.1 * 254 / 255]], rtol=1e-6)


@pytest.mark.parametrize("images, t_window", [(np.zeros((1, 2), np.float32), 0.1),
                                              (np.zeros((1, 2), np.uint8), 0.0),
                                              (np.zeros((1, 2), np.uint8), float("inf"))])
def test_bad_inputs_are_rejected(images, t_window):
    with pytest.raises(ValueError):
        latency_encode(images, t_window)


# --- event streams: one spike train per input channel --------------------------------------------------------------


def _samples(per_sample: list[list[tuple[int, float]]]) -> EventSamples:
    """EventSamples from lists of (unit, time) events, time-ordered within each sample as the files are."""
    ordered = [sorted(sample, key=lambda e: e[1]) for sample in per_sample]
    flat = [event for sample in ordered for event in sample]
    offsets = np.cumsum([0] + [len(sample) for sample in ordered])
    return EventSamples(np.array([t for _, t in flat], np.float32), np.array([u for u, _ in flat], np.uint16),
                        offsets, np.zeros(len(ordered), np.int64))


def _reference(per_sample, channels: int, resolution: float, cap: int) -> list[list[list[float]]]:
    """Per sample and channel, the kept spike times, event by event: the definition the vectorised code follows."""
    out = []
    for sample in per_sample:
        trains: list[list[float]] = [[] for _ in range(channels)]
        for unit, t in sorted(sample, key=lambda e: e[1]):
            t = float(np.float32(t))
            train = trains[unit]
            if len(train) < cap and (not train or t - train[-1] >= resolution):
                train.append(t)
        out.append(trains)
    return out


def test_events_become_sorted_padded_trains_per_channel():
    events = _samples([[(2, 0.3), (0, 0.1), (2, 0.05), (0, 0.2)], [(1, 0.7)]])
    times, counts = encode_events(events, channels=4, resolution=0.0, max_spikes=10)
    assert times.dtype == np.float32 and counts.dtype == np.int32
    assert times.shape == (2, 4, 2)  # S = the largest count
    assert counts.tolist() == [[2, 0, 2, 0], [0, 1, 0, 0]]
    np.testing.assert_array_equal(times[0, 0], np.array([0.1, 0.2], np.float32))
    np.testing.assert_array_equal(times[0, 2], np.array([0.05, 0.3], np.float32))
    assert np.isposinf(times[0, 1]).all() and np.isposinf(times[1, 1, 1]) and times[1, 1, 0] == np.float32(0.7)


def test_resolution_drops_events_too_close_to_the_last_kept_spike():
    # 0.6 ms apart: each one is close to its predecessor, yet every other one is >= 1 ms after the last kept one
    burst = [(0, 0.1 + 0.0006 * k) for k in range(5)] + [(1, 0.2), (1, 0.2)]
    times, counts = encode_events(_samples([burst]), channels=2, resolution=0.001, max_spikes=10)
    np.testing.assert_allclose(times[0, 0, :3], [0.1, 0.1012, 0.1024], rtol=1e-6)
    assert counts.tolist() == [[3, 1]]  # simultaneous events merge into one spike
    _, counts = encode_events(_samples([burst]), channels=2, resolution=0.0, max_spikes=10)
    assert counts.tolist() == [[5, 2]]  # resolution 0 keeps every event


def test_cap_keeps_the_earliest_spikes():
    events = _samples([[(0, 0.5 - 0.1 * k) for k in range(5)]])
    times, counts = encode_events(events, channels=1, resolution=0.0, max_spikes=2)
    assert counts.tolist() == [[2]] and times.shape == (1, 1, 2)
    np.testing.assert_allclose(times[0, 0], [0.1, 0.2], rtol=1e-6)


def test_empty_samples_and_splits():
    times, counts = encode_events(_samples([[], [(3, 0.01)], []]), channels=5, resolution=0.01, max_spikes=3)
    assert times.shape == (3, 5, 1) and counts.sum() == 1 and counts[1, 3] == 1
    times, counts = encode_events(_samples([]), channels=5)
    assert times.shape == (0, 5, 1) and counts.shape == (0, 5)


@pytest.mark.parametrize("resolution, cap", [(0.0, 3), (0.002, 4), (0.01, 100)])
def test_random_streams_match_the_event_by_event_definition(monkeypatch, resolution, cap):
    rng = np.random.default_rng(11)
    per_sample = [[(int(u), float(t)) for u, t in zip(rng.integers(0, 6, n), rng.uniform(0, 0.05, n))]
                  for n in rng.integers(0, 60, 25)]
    per_sample[3] += [(2, 0.01)] * 3  # exact duplicates
    monkeypatch.setattr(encoding, "_CHUNK_EVENTS", 50)  # several samples per chunk, chunks of one sample too
    times, counts = encode_events(_samples(per_sample), channels=6, resolution=resolution, max_spikes=cap)
    want = _reference(per_sample, 6, resolution, cap)
    assert times.shape[2] == max(len(train) for trains in want for train in trains)
    for i, trains in enumerate(want):
        for unit, train in enumerate(trains):
            assert counts[i, unit] == len(train)
            assert times[i, unit, :len(train)].tolist() == train
            assert np.isposinf(times[i, unit, len(train):]).all()


def test_nmnist_channels_use_the_image_flattening_order():
    image = np.zeros((1, 34, 34, 2), np.uint8)
    image[0, 5, 7, 1] = 255  # x = 5, y = 7, channel (polarity) 1
    pixel = int(np.flatnonzero(np.isfinite(latency_encode(image)[0]))[0])
    events = parse_nmnist_events(bytes([5, 7, 0x80, 0, 9]))  # x = 5, y = 7, ON, t = 9 µs
    assert nmnist_units(events).tolist() == [pixel]


@pytest.mark.parametrize("resolution, cap", [(-0.1, 1), (float("nan"), 1), (0.0, 0)])
def test_bad_event_options_are_rejected(resolution, cap):
    with pytest.raises(ValueError):
        encode_events(_samples([[(0, 0.1)]]), channels=1, resolution=resolution, max_spikes=cap)
