"""Plots of a run: learning curves, spike counts per layer, a spike raster, and convergence heat maps.

Figures are drawn with matplotlib's Agg canvas directly (no pyplot), so nothing depends on a display or on
global pyplot state, and each PNG is written atomically like every other file of a run.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from snntrain.atomic import atomic_write_bytes, make_dirs
from snntrain.runs.metrics import Row

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SPIKES_PREFIX = "mean_spikes_"


def _figure(width: float, height: float) -> Figure:
    # Imported here: matplotlib takes most of a second to import, and most commands draw nothing.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path, fmt: str = "png") -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=100)
    make_dirs(Path(path).parent)
    atomic_write_bytes(path, buffer.getvalue())


def _series(rows: list[Row], key: str) -> tuple[list[float], list[float]]:
    """(epochs, values) of the rows that have `key`."""
    pairs = [(float(row["epoch"]), float(row[key])) for row in rows if key in row]
    return [epoch for epoch, _ in pairs], [value for _, value in pairs]


def _epoch_axis(ax) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)


def plot_curves(rows: list[Row], out_dir: Path) -> None:
    """loss.png and accuracy.png in `out_dir`: train and test value per epoch."""
    from matplotlib.ticker import PercentFormatter

    for quantity in ("loss", "accuracy"):
        fig = _figure(6, 4)
        ax = fig.add_subplot()
        for split in ("train", "test"):
            epochs, values = _series(rows, f"{split}_{quantity}")
            if epochs:
                ax.plot(epochs, values, marker="o", markersize=3, label=split)
        _epoch_axis(ax)
        ax.set_ylabel(quantity)
        if quantity == "accuracy":
            ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        if ax.lines:
            ax.legend()
        ax.set_title(quantity)
        _save(fig, Path(out_dir) / f"{quantity}.png")


def plot_spike_counts(rows: list[Row], out_dir: Path) -> None:
    """spike_counts.png in `out_dir`: one line per layer (`mean_spikes_<layer>` columns) over the epochs."""
    keys = [key for key in dict.fromkeys(key for row in rows for key in row) if key.startswith(SPIKES_PREFIX)]
    fig = _figure(6, 4)
    ax = fig.add_subplot()
    for key in keys:
        epochs, values = _series(rows, key)
        ax.plot(epochs, values, marker="o", markersize=3, label=key[len(SPIKES_PREFIX):])
    _epoch_axis(ax)
    ax.set_ylabel("mean spikes per neuron and sample")
    if ax.lines:
        ax.legend(title="layer")
    ax.set_title("spike counts")
    _save(fig, Path(out_dir) / "spike_counts.png")


def plot_raster(trains: list[tuple[str, np.ndarray, np.ndarray]], out_path: Path, title: str) -> None:
    """A spike raster, one panel per layer: a dot at (spike time, neuron index) for every spike.

    Each entry is (layer name, times[n, max_spikes] padded with +inf, counts[n]) for one sample.
    """
    fig = _figure(8, 1 + 2 * len(trains))
    axes = fig.subplots(len(trains), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (name, times, counts) in zip(axes, trains):
        times, counts = np.asarray(times), np.asarray(counts)
        # Only the first counts[i] slots of a row are spikes; the rest is +inf padding.
        spiked = (np.arange(times.shape[1]) < counts[:, None]) & np.isfinite(times)
        neuron, _ = np.nonzero(spiked)
        ax.plot(times[spiked], neuron, ".", markersize=2, color="black")
        ax.set_ylim(-0.5, times.shape[0] - 0.5)
        ax.set_ylabel(f"{name}\nneuron")
        ax.set_title(f"{name}: {int(spiked.sum())} spikes, {times.shape[0]} neurons", fontsize="small")
    axes[-1].set_xlabel("time (s)")
    fig.suptitle(title)
    _save(fig, out_path)


def plot_heatmaps(panels: dict[str, np.ndarray], grid: np.ndarray, titles: dict[str, str], out_stem: Path) -> None:
    """One heat map per panel (weight-init mean on x, std on y, colour = value in [0, 1], one shared colour
    scale), written as `<out_stem>.png` and `<out_stem>.pdf`. Each panel is indexed [mean, std]."""
    fig = _figure(4.6 * len(panels) + 0.8, 4.2)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    step = grid[1] - grid[0] if len(grid) > 1 else 1.0
    extent = (grid[0] - step / 2, grid[-1] + step / 2, grid[0] - step / 2, grid[-1] + step / 2)
    image = None
    for ax, (name, values) in zip(axes, panels.items()):
        image = ax.imshow(values.T, origin="lower", extent=extent, vmin=0.0, vmax=1.0, cmap="viridis",
                          aspect="auto")
        ax.set_title(titles.get(name, name))
        ax.set_xlabel("mean of initial weights")
        ax.set_ylabel("std of initial weights")
    fig.colorbar(image, ax=list(axes), label="mean best accuracy")
    for fmt in ("png", "pdf"):
        _save(fig, Path(f"{out_stem}.{fmt}"), fmt)


def plot_best_by_key(key: str, values: list[str], best: list[float], stopped: list[bool], label: str,
                     log_x: bool, out_path: Path) -> None:
    """One point per sweep trial: its best metric (`best`, named `label`) against its value of the swept `key`;
    trials stopped early are drawn hollow. Numbers go on a numeric axis (logarithmic with `log_x`), anything else
    (names, lists) as categories in order of appearance."""
    try:
        xs = [float(v) for v in values]
        ticks = None
    except ValueError:
        ticks = list(dict.fromkeys(values))
        xs = [float(ticks.index(v)) for v in values]
    fig = _figure(5, 3.5)
    ax = fig.add_subplot()
    for early in (False, True):
        points = [(x, y) for x, y, s in zip(xs, best, stopped) if s == early]
        if points:
            ax.plot(*zip(*points), "o", alpha=0.7, fillstyle="none" if early else "full",
                    label="stopped early" if early else "finished")
    if ticks is not None:
        ax.set_xticks(range(len(ticks)), ticks)
    if log_x:
        ax.set_xscale("log")
    if any(stopped):
        ax.legend()
    ax.set_xlabel(key)
    ax.set_ylabel(label)
    _save(fig, out_path)


def plot_sweep(name: str, values: list[float], rates: dict[str, list[float]], memory_mb: list[float],
               out_path: Path) -> None:
    """Throughput (samples/s per series) and peak memory against the swept parameter, log-log axes."""
    fig = _figure(10, 4)
    speed, memory = fig.subplots(1, 2)
    for label, series in rates.items():
        speed.plot(values, series, marker="o", label=label)
    speed.set_ylabel("samples/s")
    memory.plot(values, memory_mb, marker="o", color="tab:red")
    memory.set_ylabel("peak memory (MB)")
    for ax in (speed, memory):
        ax.set_xlabel(name)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.grid(alpha=0.3, which="both")
    speed.legend()
    _save(fig, out_path)
