"""Datasets as input spike trains resident on the device, and batches assembled there."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from snntrain.backends import Backend
from snntrain.config.model import AugmentConfig, InputConfig, ModelConfig
from snntrain.data.augment import elastic_deform
from snntrain.data.encoding import encode_events, latency_encode
from snntrain.data.store import Dataset, EventDataset
from snntrain.errors import ConfigError, UsageError, shown
from snntrain.network.spikes import SpikeTrains, spike_trains_from_times


@dataclass
class EncodedSplit:
    """One split encoded as spike trains: times [N, n_in, S], counts [N, n_in], labels [N] on the device."""

    times: Any
    counts: Any
    labels: Any
    host_labels: np.ndarray

    @property
    def size(self) -> int:
        """Number of samples."""
        return len(self.host_labels)


def encode_images(images: np.ndarray, t_window: float) -> tuple[np.ndarray, np.ndarray]:
    """Host arrays (times [N, n_in, 1] float32, counts [N, n_in] int32) of uint8 images: one latency spike per
    pixel (SPEC §6), +inf where a pixel is 0 and never fires; inputs in numpy's reshape(N, -1) order."""
    return spike_trains_from_times(latency_encode(images, t_window))


def encode_host(data: Dataset | EventDataset, split: str, cfg: InputConfig,
                limit: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Host arrays (times [N, n_in, S] float32, counts [N, n_in] int32, labels [N] int32) of the first `limit`
    samples (0 = all) of split "train" or "test".

    Images get one latency spike per pixel (SPEC §6, S = 1); event streams one spike train per channel
    (encode_events with the [input] resolution and max_input_spikes).
    """
    if isinstance(data, EventDataset):
        events = data.split(split)
        if limit:
            events = events.head(limit)
        times, counts = encode_events(events, math.prod(data.info.shape), cfg.resolution, cfg.max_input_spikes)
        labels = events.labels
    else:
        images, labels = data.split(split)
        if limit:
            images, labels = images[:limit], labels[:limit]
        times, counts = encode_images(images, cfg.t_window)
    return times, counts, np.asarray(labels, np.int32)


#: The sample sets of a run: those it trains on, those it holds out for validation, the test set.
RUN_SPLITS = ("train", "validation", "test")


def training_parts(cfg: ModelConfig, samples: int) -> tuple[slice, slice]:
    """The two parts of the (limited) training split's `samples`: the first, which a run of `cfg` trains on, and
    the last `[training] validation` (a count, or a fraction, rounded), held out for validation, the same for every
    seed. ConfigError (naming the model file) unless some are left to train on, and, where a validation set is
    asked for, unless it holds at least one sample (a fraction that rounds to none would select on training
    accuracy while the model says validation)."""
    validation = cfg.training.validation
    held = validation if isinstance(validation, int) else round(validation * samples)
    if held >= samples:
        raise ConfigError(f"{cfg.lead}training.validation = {validation}: holds out {held} of the {samples} "
                          "training samples; it must leave some to train on")
    if validation and not held:
        raise ConfigError(f"{cfg.lead}training.validation = {validation}: holds out none of the {samples} "
                          "training samples; give a larger fraction, a count, or 0 for no validation set")
    return slice(0, samples - held), slice(samples - held, samples)


def check_run_split(split: object, cfg: ModelConfig) -> str:
    """`split` when it is one of RUN_SPLITS that a run of `cfg` has ("validation" only where `[training]
    validation` holds samples out); UsageError otherwise. Needs no data."""
    if not isinstance(split, str):  # an array, say, from the Python API
        raise UsageError(f"split={shown(split)}: give \"train\", \"validation\" or \"test\" (a split of the "
                         "model's dataset); to run inputs of your own, use predict or spikes")
    if split not in RUN_SPLITS:
        raise UsageError(f"split {split!r}: a run has the splits {', '.join(RUN_SPLITS[:-1])} and {RUN_SPLITS[-1]}")
    if split == "validation" and not cfg.training.validation:
        raise UsageError(f"{cfg.lead}split 'validation': the model holds out no validation samples "
                         "(training.validation = 0)")
    return split


def run_split_host(data: Dataset | EventDataset, split: str, cfg: ModelConfig) -> tuple[np.ndarray, np.ndarray,
                                                                                         np.ndarray]:
    """`encode_host`'s arrays of one of a run's RUN_SPLITS (`check_run_split`): "train" and "validation" are the
    two parts of the (limited) training split (`training_parts`), "test" the (limited) test split."""
    if split == "test":
        return encode_host(data, "test", cfg.input, cfg.training.test_samples)
    times, counts, labels = encode_host(data, "train", cfg.input, cfg.training.train_samples)
    trained, held = training_parts(cfg, len(labels))
    part = held if split == "validation" else trained
    return times[part], counts[part], labels[part]


def upload_split(backend: Backend, times: np.ndarray, counts: np.ndarray, labels: np.ndarray,
                 dtype: Any = np.float32) -> EncodedSplit:
    """Move host arrays from encode_host to the device once."""
    return EncodedSplit(backend.to_device(times.astype(dtype, copy=False)), backend.to_device(counts),
                        backend.to_device(labels), labels)


def encode_split(backend: Backend, data: Dataset | EventDataset, split: str, cfg: InputConfig, limit: int = 0,
                 dtype: Any = np.float32) -> EncodedSplit:
    """Encode the first `limit` samples (0 = all) of split "train" or "test" and move them to the device once."""
    return upload_split(backend, *encode_host(data, split, cfg, limit), dtype)


def augment_split(backend: Backend, split: EncodedSplit, images: np.ndarray, order: np.ndarray,
                  augment: AugmentConfig, t_window: float, batch_size: int, rng: np.random.Generator) -> None:
    """Give the image split `split` the latency spikes of freshly deformed copies of its `images` (uint8, in the
    split's sample order), for one pass in `order`: with `augment.per` = "batch", the images of each batch of
    `batch_size` in that order share one deformation. The device arrays keep their addresses (captured steps
    read the new spikes), and their shapes: a latency input has one spike slot whatever the image."""
    group = batch_size if augment.per == "batch" else 1
    deformed = np.empty_like(images)
    deformed[order] = elastic_deform(images[order], rng, augment.sigma, augment.points, group)
    times, counts = encode_images(deformed, t_window)
    backend.upload(split.times, times)
    backend.upload(split.counts, counts)


class Batcher:
    """Gathers batches of an EncodedSplit on the device, in a pass order that also lives there.

    Where the next batch starts is the device counter `cursor`, which each step moves on itself (`advance`), so
    a captured step gathers the right samples when replayed.
    """

    def __init__(self, backend: Backend, split: EncodedSplit) -> None:
        self.backend = backend
        self.split = split
        self._buffers: tuple = ()
        self.order: Any = None
        self.cursor = backend.empty((1,), np.int32)  # set by `start`

    def start(self, order: np.ndarray) -> None:
        """Begin a pass over the samples `order` (host indices into the split) at its first sample."""
        be = self.backend
        if self.order is None or self.order.shape[0] != len(order):
            self.order = be.empty((len(order),), np.int32)
        be.upload(self.order, order)
        be.upload(self.cursor, np.zeros(1, np.int32))

    def __call__(self, batch: int) -> tuple[SpikeTrains, Any]:
        """(input spike trains, labels) of the next `batch` samples of the pass (device work only)."""
        src = self.split
        if not self._buffers or self._buffers[0].shape[0] != batch:
            be = self.backend
            self._buffers = (be.empty((batch,) + src.times.shape[1:], src.times.dtype),
                             be.empty((batch, src.counts.shape[1]), np.int32), be.empty((batch,), np.int32))
        times, counts, labels = self._buffers
        self.backend.kernels.gather_sample(batch * src.counts.shape[1], order=self.order, cursor=self.cursor,
                                           src_t=src.times, src_cnt=src.counts, src_label=src.labels, dst_t=times,
                                           dst_cnt=counts, dst_label=labels)
        return SpikeTrains(times, counts), labels

    def advance(self, batch: int) -> None:
        """Move the pass on by `batch` samples (device work only)."""
        self.backend.kernels.advance_cursor(1, cursor=self.cursor, step=np.int32(batch))
