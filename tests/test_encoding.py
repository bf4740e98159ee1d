"""Latency encoding of images (SPEC §6): one spike per non-zero pixel at t = T_w (1 - p / 255)."""
from __future__ import annotations

import numpy as np
import pytest

from snntrain.data import latency_encode


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
