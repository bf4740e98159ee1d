"""What snntrain knows about each dataset: input shape, classes, and (for downloadable ones) files and mirrors."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DatasetInfo:
    """Facts about one dataset. `shape` is (x, y, c) for images, (channels,) for event streams."""

    name: str
    shape: tuple[int, ...]
    classes: int
    kind: str  # "image" | "events"


DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo("digits", (8, 8, 1), 10, "image"),
        DatasetInfo("mnist", (28, 28, 1), 10, "image"),
        DatasetInfo("fashion-mnist", (28, 28, 1), 10, "image"),
        DatasetInfo("emnist", (28, 28, 1), 47, "image"),
        DatasetInfo("shd", (700,), 20, "events"),
        DatasetInfo("nmnist", (34, 34, 2), 10, "events"),
    )
}
