"""Scoring a network on a dataset split (what `snntrain eval` and `Model.evaluate` print)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snntrain.backends import Backend
from snntrain.config.model import ModelConfig
from snntrain.data.store import load_dataset
from snntrain.network.loss import Loss
from snntrain.network.network import Network
from snntrain.training.epoch import run_epoch
from snntrain.training.inputs import check_run_split, run_split_host, upload_split


@dataclass
class Evaluation:
    """Scores of one split."""

    split: str
    samples: int
    accuracy: float
    loss: float
    confusion: np.ndarray
    mean_spikes: dict[str, float]
    silent_labels: float

    @property
    def per_class_accuracy(self) -> list[float]:
        """Recall of each class (nan for a class absent from the split)."""
        totals = self.confusion.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return list(np.diag(self.confusion) / totals)

    def as_dict(self) -> dict:
        """JSON-ready form."""
        return {"split": self.split, "samples": self.samples, "accuracy": self.accuracy, "loss": self.loss,
                "silent_labels": self.silent_labels, "mean_spikes": self.mean_spikes,
                "per_class_accuracy": [None if np.isnan(a) else float(a) for a in self.per_class_accuracy],
                "confusion": self.confusion.tolist()}


def score(cfg: ModelConfig, network: Network, backend: Backend, data_dir: Path, split: str = "test",
          batch_size: int = 0) -> Evaluation:
    """Score `network` (the model `cfg`) on `split` of its dataset: "train" (the samples a run trains on),
    "validation" (those it holds out) or "test"."""
    check_run_split(split, cfg)  # before the data loads
    encoded = upload_split(backend, *run_split_host(load_dataset(cfg.input.dataset, data_dir), split, cfg),
                           cfg.precision)
    stats = run_epoch(backend, network, Loss(backend, cfg.loss, cfg.t_max), encoded, np.arange(encoded.size),
                      batch_size or cfg.training.test_batch_size, cfg.input.classes)
    return Evaluation(split=split, samples=stats.samples, accuracy=stats.accuracy, loss=stats.loss,
                      confusion=stats.confusion,
                      mean_spikes={name: stats.mean_spikes(i) for i, name in enumerate(network.names)},
                      silent_labels=stats.silent_labels / max(stats.samples, 1))
