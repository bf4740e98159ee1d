"""`snntrain convergence`: the single- vs multi-spike convergence study of SPEC §8.

Every network of the study (grid cell x repeat) is independent; they all train together as one batch of
independent networks (`DenseLayer` with one weight matrix per network), so one kernel launch advances all of
them by a step.
"""
from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from snntrain.backends import Backend, get_backend, set_threads
from snntrain.config.model import LossConfig, OptimizerConfig, ScheduleConfig
from snntrain.errors import UsageError
from snntrain.network.dense import DenseLayer
from snntrain.network.lif import LifParams
from snntrain.network.loss import Loss
from snntrain.network.optimizer import Optimizer
from snntrain.network.spikes import SpikeTrains
from snntrain.runs import RunDir, atomic_write_text
from snntrain.runs.plots import plot_heatmaps
from snntrain.training.ray_cluster import connect, describe_address, worker_device

# The toy task of SPEC §8: two samples of four input spike times, labels 0 and 1.
INPUTS = np.array([[0.0, 0.0, 1.0, 2.0], [0.0, 0.0, 2.0, 1.0]])
LABELS = np.array([0, 1], np.int32)
#: Grid values per axis: the study trains repeats x values^2 networks per model.
MAX_GRID_VALUES = 200
#: The largest grid value (weights' mean and std): matplotlib cannot draw heat-map axes near 1e300, and the SPEC's
#: study stops at 2.4.
MAX_GRID = 1e6
#: Networks per model (cells x repeats) held in memory at once; the SPEC's study trains 16,900.
MAX_NETWORKS = 1_000_000
TAU_S, THETA, T_MAX, LR = 1.0, 1.0, 10.0, 0.1
#: The study measures the math, not its rounding: at lr 0.1 the count model amplifies float32's rounding into
#: another best accuracy for 23 of 338 networks, float64's for 2 (50 epochs, against the independent float64
#: implementation of tests/test_convergence.py; README). SPEC's arrays are float32 unless stated: a deliberate choice.
PRECISION = np.float64

MODELS = {
    "ttfs": (LossConfig("ttfs", tau_loss=0.1), 1),
    "count": (LossConfig("count", n_true=10, n_false=0), 10),
}


@dataclass
class CellResult:
    """Best accuracy of every repeat of one (model, mean, std) cell."""

    model: str
    mean: float
    std: float
    best: np.ndarray  # [repeats]


def parse_axis(text: str) -> np.ndarray:
    """`start:stop:step` (stop excluded) -> the grid values, e.g. 0:2.5:0.2 -> 0, 0.2, ..., 2.4. The grid gives
    both the mean and the standard deviation, so it starts at 0 or above; UsageError for anything else."""
    try:
        start, stop, step = (float(part) for part in text.split(":"))
    except ValueError:
        raise UsageError(f"--grid {text!r}: expected start:stop:step, e.g. 0:2.5:0.2") from None
    if not all(np.isfinite([start, stop, step])) or start < 0 or step <= 0 or not start < stop <= MAX_GRID:
        raise UsageError(f"--grid {text!r}: needs finite numbers with 0 <= start < stop <= {MAX_GRID:g} and step > 0 "
                         "(the grid is the standard deviation's too)")
    count = int(np.floor((stop - start) / step - 1e-9)) + 1
    if count > MAX_GRID_VALUES:
        raise UsageError(f"--grid {text!r}: {count:,} values per axis; at most {MAX_GRID_VALUES} "
                         f"({MAX_GRID_VALUES ** 2:,} cells)")
    return np.round(start + step * np.arange(count), 10)


def chance_accuracy(pred: np.ndarray, labels: np.ndarray, classes: int) -> np.ndarray:
    """Accuracy per network over its samples [G, S]; a silent output (no prediction) counts as a guess."""
    hit = (pred == labels).astype(np.float64)
    hit[pred < 0] = 1.0 / classes
    return hit.mean(axis=1)


def cells(grid: np.ndarray) -> np.ndarray:
    """The study's (mean, std) cells [len(grid)**2, 2]: mean over the grid, then std, row-major."""
    means, stds = np.meshgrid(grid, grid, indexing="ij")
    return np.stack([means.ravel(), stds.ravel()], axis=1)


def initial_weights(grid: np.ndarray, repeats: int, rng: np.random.Generator) -> np.ndarray:
    """The initial weights [cells * repeats, 2, 4] of the study (each model starts from them): `repeats` networks
    per cell, in the order of `cells`, each weight drawn from N(mean, std)."""
    scale = np.repeat(cells(grid), repeats, axis=0)
    return rng.normal(0.0, 1.0, (len(scale), 2, 4)) * scale[:, 1, None, None] + scale[:, 0, None, None]


def train_networks(backend: Backend, model: str, weights: np.ndarray, epochs: int) -> np.ndarray:
    """Train the networks of `weights` [N, 2, 4] together on the toy task; the best accuracy of each [N]. Each
    network's arithmetic is its own, so any split of the networks gives the same numbers."""
    loss_cfg, buffer = MODELS[model]
    networks = len(weights)
    layer = DenseLayer(backend, weights, LifParams(TAU_S, THETA, THETA, buffer), T_MAX, PRECISION)
    samples = len(LABELS)
    times = np.tile(INPUTS[:, :, None], (networks, 1, 1)).astype(PRECISION)
    inputs = SpikeTrains(backend.to_device(times), backend.to_device(np.ones(times.shape[:2], np.int32)))
    labels = np.tile(LABELS, networks)
    device_labels = backend.to_device(labels)
    loss = Loss(backend, loss_cfg, T_MAX)
    optimizer = Optimizer(backend, OptimizerConfig("sgd", lr=LR), ScheduleConfig(), [layer])
    best = np.zeros(networks)
    for epoch in range(epochs + 1):  # the last pass only scores the trained weights
        out = layer.forward(inputs)
        errors, _, pred = loss(out, device_labels, mean_over=samples)
        accuracy = chance_accuracy(backend.to_host(pred).reshape(networks, samples),
                                   labels.reshape(networks, samples), 2)
        best = np.maximum(best, accuracy)
        if epoch < epochs:
            layer.backward(errors, input_errors=False)
            optimizer.step()
    return best


def _train_chunk(device: str, model: str, weights: np.ndarray, epochs: int) -> np.ndarray:
    """`train_networks` in a Ray worker (one CPU: one numba thread), on its own backend."""
    set_threads(1)
    return train_networks(get_backend(device), model, weights, epochs)


def train_on_cluster(address: str | None, device: str, model: str, weights: np.ndarray, epochs: int,
                     echo: Callable[[str], None]) -> tuple[np.ndarray, str]:
    """`train_networks` split into one chunk per CPU (or GPU) of the Ray cluster at `address`, each chunk a
    batch of networks on its worker; the same numbers as one batch here. Also returns the workers' device."""
    with connect(address, "snntrain convergence --address") as ray:
        resources = ray.cluster_resources()
        worker = worker_device(ray, device)
        slots = int(resources.get("GPU" if worker == "cuda" else "CPU", 1)) or 1
        chunks = np.array_split(weights, min(slots, len(weights)))
        task = ray.remote(num_cpus=1, num_gpus=1 if worker == "cuda" else 0)(_train_chunk)
        echo(f"{model}: {len(weights)} networks in {len(chunks)} chunks on {describe_address(address)} "
             f"(device {worker})")
        best = np.concatenate(ray.get([task.remote(worker, model, chunk, epochs) for chunk in chunks]))
    return best, f"{worker} on Ray"


def results_csv(results: list[CellResult]) -> str:
    """One row per cell: model, mean, std, mean best accuracy, and its spread over the repeats."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["model", "mean", "std", "mean_best_accuracy", "std_best_accuracy", "min_best_accuracy",
                     "max_best_accuracy", "repeats"])
    for r in results:
        writer.writerow([r.model, f"{r.mean:g}", f"{r.std:g}", f"{r.best.mean():.6f}", f"{r.best.std():.6f}",
                         f"{r.best.min():.6f}", f"{r.best.max():.6f}", len(r.best)])
    return out.getvalue()


def run_study(device: str, models: list[str], grid: np.ndarray, repeats: int, epochs: int, seed: int,
              runs_root: Path, echo: Callable[[str], None], address: str | None = None) -> RunDir:
    """Run the study on `device` (auto, cpu, cuda), write results.csv and the heat maps into
    runs/convergence-<timestamp>/. With `address`, the networks train on that Ray cluster's workers ("local": an
    embedded instance), with the same results."""
    if repeats < 1 or epochs < 1:
        raise UsageError(f"--repeats {repeats} --epochs {epochs}: both must be >= 1")
    if repeats * len(grid) ** 2 > MAX_NETWORKS:
        raise UsageError(f"--repeats {repeats}: {repeats * len(grid) ** 2:,} networks ({len(grid) ** 2:,} cells x "
                         f"{repeats:,} repeats); at most {MAX_NETWORKS:,} per model")
    if seed < 0:
        raise UsageError(f"--seed {seed}: must be >= 0")
    # one draw for both models: a paired comparison, and each model's rows do not depend on --model
    weights = initial_weights(grid, repeats, np.random.default_rng(seed))
    backend = get_backend(device) if address is None else None
    study = cells(grid)
    results: list[CellResult] = []
    for model in models:
        start = time.perf_counter()
        if backend is not None:
            best, used = train_networks(backend, model, weights, epochs), backend.name
        else:
            best, used = train_on_cluster(address, device, model, weights, epochs, echo)
        best = best.reshape(len(study), repeats)
        results += [CellResult(model, float(m), float(s), best[i]) for i, (m, s) in enumerate(study)]
        echo(f"{model}: {len(study)} cells x {repeats} repeats x {epochs} epochs in "
             f"{time.perf_counter() - start:.1f} s (device {used})")
    run = RunDir.create(runs_root, "convergence")  # once there are results: a failed start leaves no folder
    atomic_write_text(run.path / "results.csv", results_csv(results))
    panels = {m: np.array([r.best.mean() for r in results if r.model == m]).reshape(len(grid), len(grid))
              for m in models}
    titles = {"ttfs": "single spike (TTFS)", "count": "multi-spike (count)"}
    plot_heatmaps(panels, grid, {m: titles[m] for m in models}, run.path / "convergence")
    run.log(f"convergence: models {', '.join(models)}, grid {grid.tolist()}, repeats {repeats}, epochs {epochs}, "
            f"seed {seed}{f', on Ray at {address}' if address else ''}")
    return run
