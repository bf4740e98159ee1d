"""Datasets by name, for the Python API: `snntrain.datasets.load("fashion-mnist")`."""
from __future__ import annotations

from pathlib import Path

from snntrain.data.registry import DATASETS
from snntrain.data.store import Dataset, EventDataset, load_dataset
from snntrain.errors import as_path

__all__ = ["Dataset", "EventDataset", "load", "names"]


def names() -> list[str]:
    """Every dataset snntrain knows ("digits" ships with it; the others come from `snntrain download`)."""
    return sorted(DATASETS)


def load(name: str, data_dir: str | Path = "data") -> Dataset | EventDataset:
    """A dataset from `data_dir`: images (`.split("train")` gives uint8 images [N, X, Y, C] and labels) or event
    streams. A missing dataset is an error that names the command fetching it."""
    return load_dataset(name, as_path(data_dir, "data_dir"))
