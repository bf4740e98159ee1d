"""`snntrain bench`: measured training and inference speed, time per kernel, memory, and how they scale.

Every figure is a median over repeats, after a warm-up step (JIT compilation excluded), with the device
synchronised before each clock reading. Nothing here asserts a speed: it reports.
"""
from __future__ import annotations

import json
import statistics
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from snntrain.backends import Backend, get_backend
from snntrain.backends.profile import MemoryMeter, kernel_profile
from snntrain.config import load_model_text, memory_shortfall, to_toml
from snntrain.config.model import ModelConfig
from snntrain.data.store import Dataset, EventDataset, dataset_info, load_dataset
from snntrain.errors import DataError, SnntrainError, UsageError
from snntrain.network.build import build_network
from snntrain.network.loss import Loss
from snntrain.network.optimizer import Optimizer
from snntrain.runs import RunDir, atomic_write_text
from snntrain.training.epoch import EpochRunner, run_epoch
from snntrain.training.inputs import encode_host, encode_split, upload_split
from snntrain.training.yardstick import Mlp, mlp_sizes

# BLAS worker threads spin for a while after numpy's matrix products and would slow the next snntrain repeat on
# the same cores; a pause (not timed) lets them park first.
BLAS_SETTLE_S = 0.3

SWEEPS = {
    "neurons": [100, 400, 1000, 3000, 10000],
    "batch": [1, 16, 64, 256, 1024, 4096],
    "spikes": [1, 3, 10, 30],
    "layers": [1, 2, 3, 4],
}


@dataclass
class Measurement:
    """Figures of one configuration."""

    label: str
    batch: int
    train_samples_per_s: float
    forward_samples_per_s: float
    peak_memory_mb: float
    kernel_ms_per_step: dict[str, float] = field(default_factory=dict)
    launches_per_step: int = 0  # kernel launches a step makes when run eagerly
    # captured steps (CUDA graphs on a GPU, launch lists elsewhere): training timed without them, in turns with
    # the captured runs, and how the steps were captured
    eager_train_samples_per_s: float | None = None
    graph_ratio: float | None = None  # median over the repeats of (captured rate / eager rate)
    step_capture: str = ""
    kernel_timing: str = ""  # how kernel_ms_per_step was measured
    test_set_seconds: float | None = None  # scoring the whole test split, metrics included (no sweep only)
    # the yardstick (CPU, all-dense models): a numpy float32 MLP of the same sizes and batch, timed in turns
    mlp_train_samples_per_s: float | None = None
    mlp_ratio: float | None = None  # median over the repeats of (snntrain rate / MLP rate), each pair timed in turn


def checked_variant(variant: ModelConfig, sweep: str, value: int) -> ModelConfig:
    """`variant` (of `vary`) checked as a model file is: a ConfigError names the sweep value that makes no model."""
    return load_model_text(to_toml(variant), f"--sweep {sweep}={value}")


def vary(cfg: ModelConfig, sweep: str, value: int) -> ModelConfig:
    """`cfg` with one sweep parameter set, unchecked (`checked_variant` checks it): hidden neurons, batch size,
    spikes per neuron (a count loss's targets at most that, the others' below the label's), or hidden layers."""
    layers = list(cfg.layers)
    hidden = [i for i, layer in enumerate(layers[:-1]) if layer.type == "dense"]
    if sweep == "batch":
        return replace(cfg, training=replace(cfg.training, batch_size=value))
    if sweep == "spikes":  # a count loss's targets capped at the new buffer, as a model file must have them
        loss = replace(cfg.loss, n_true=min(cfg.loss.n_true, value), n_false=min(cfg.loss.n_false, value - 1))
        return replace(cfg, loss=loss,
                       layers=tuple(replace(l, max_spikes=value) if l.type != "pool" else l for l in layers))
    if not hidden:
        raise SnntrainError(f"--sweep {sweep} needs a model with a dense hidden layer")
    if sweep == "neurons":
        layers[hidden[0]] = replace(layers[hidden[0]], neurons=value)
        return replace(cfg, layers=tuple(layers))
    first = hidden[0]
    return replace(cfg, layers=tuple(layers[:first] + [layers[first]] * value + layers[-1:]))


def bench_data(cfg: ModelConfig, data_dir: Path) -> tuple[ModelConfig, Dataset | EventDataset]:
    """An event-stream model's own dataset (it must have been downloaded). Image models: real Fashion-MNIST when it
    has been downloaded, else the shipped digits (the model's input follows)."""
    if dataset_info(cfg.input.dataset).kind == "events":
        return cfg, load_dataset(cfg.input.dataset, data_dir)
    try:
        data = load_dataset("fashion-mnist", data_dir)
    except DataError:
        data = load_dataset("digits", data_dir)
    info = data.info
    return replace(cfg, input=replace(cfg.input, dataset=info.name, shape=info.shape, classes=info.classes)), data


def measure(cfg: ModelConfig, data: Dataset | EventDataset, backend: Backend, label: str, steps: int,
            repeats: int) -> Measurement:
    """Train-step and forward-only throughput of `cfg` (steps captured and replayed, as training runs them, and
    in turns the same training eagerly), its kernels' time per step, and peak memory."""
    run = _Stepper(cfg, data, backend, steps)
    eager = _Stepper(cfg, data, backend, steps, graphs=False)
    need = cfg.training.batch_size * steps
    sizes = mlp_sizes(cfg) if backend.host_memory else None
    mlp = Mlp(sizes, cfg.training.batch_size) if sizes else None

    def timed(work: Callable[[], None]) -> float:
        start = time.perf_counter()
        work()
        return time.perf_counter() - start

    def mlp_steps() -> None:
        for _ in range(steps):
            mlp.step()

    def rates(train: bool) -> tuple[list[float], list[float], list[float]]:
        run(train)  # warm-up: JIT compilation, buffer allocation, the steps' capture
        run(train)
        if mlp is not None and train:
            mlp_steps()
        if train:
            eager(train)
        ours, theirs, uncaptured = [], [], []
        for _ in range(repeats):  # in turns, so all see the same machine load
            run.reset()
            ours.append(need / timed(lambda: run(train)))
            if train:
                eager.reset()
                uncaptured.append(need / timed(lambda: eager(train)))
            if mlp is not None and train:
                theirs.append(need / timed(mlp_steps))
                time.sleep(BLAS_SETTLE_S)
        return ours, theirs, uncaptured

    train_rates, mlp_rates, eager_rates = rates(True)
    forward_rates, _, _ = rates(False)
    eager.reset()
    kernels, launches, timing = kernel_profile(backend, lambda: eager(True), steps)
    with MemoryMeter(backend) as meter:  # a separate untimed step of a fresh network: tracing slows things down
        _Stepper(cfg, data, backend, 1, graphs=False)(True)
    result = Measurement(label, cfg.training.batch_size, statistics.median(train_rates),
                         statistics.median(forward_rates), meter.peak_mb, kernels, launches, kernel_timing=timing)
    result.eager_train_samples_per_s = statistics.median(eager_rates)
    result.graph_ratio = statistics.median(a / b for a, b in zip(train_rates, eager_rates))
    graphs = run.runner.graphs
    result.step_capture = (f"{backend.capture_kind}: {graphs.replays} replays, {graphs.captures} captures"
                           + (f"; last failure: {graphs.last_error}" if graphs.last_error else ""))
    if mlp_rates:
        result.mlp_train_samples_per_s = statistics.median(mlp_rates)
        result.mlp_ratio = statistics.median(a / b for a, b in zip(train_rates, mlp_rates))
    return result


def time_test_set(cfg: ModelConfig, data: Dataset | EventDataset, backend: Backend) -> tuple[float, int]:
    """(Seconds, samples) to score the whole test split at the model's test batch size, as `snntrain eval` does
    (per-batch metrics included), after a warm-up batch. The weights are the untrained initial ones."""
    network = build_network(cfg, backend, np.random.default_rng(0))
    loss = Loss(backend, cfg.loss, cfg.t_max)
    split = encode_split(backend, data, "test", cfg.input, dtype=cfg.precision)
    order = np.arange(split.size)
    batch = cfg.training.test_batch_size
    run_epoch(backend, network, loss, split, order[:batch], batch, cfg.input.classes)
    backend.synchronize()
    stats = run_epoch(backend, network, loss, split, order, batch, cfg.input.classes)
    backend.synchronize()
    return stats.seconds, stats.samples


class _Stepper:
    """A fresh network, optimiser and `steps` batches of training inputs on the device, run through one
    `EpochRunner` (capturing steps unless `graphs` is false), as training runs them: `stepper(train)` puts every
    batch through forward (and, if `train`, backward and the optimiser), then synchronises; `reset()` goes back
    to the seed-0 weights and a fresh optimiser, so that every repeat times the same steps (the spikes, and so the
    work, change as the weights train)."""

    def __init__(self, cfg: ModelConfig, data: Dataset | EventDataset, backend: Backend, steps: int,
                 graphs: bool = True) -> None:
        batch = cfg.training.batch_size
        self.backend = backend
        network = build_network(cfg, backend, np.random.default_rng(0))
        self.optimizer = Optimizer(backend, cfg.optimizer, cfg.schedule, network.layers)
        need = batch * steps
        times, counts, labels = encode_host(data, "train", cfg.input, need)
        cycle = np.arange(need) % len(labels)  # a split smaller than the steps need is gone through again
        split = upload_split(backend, times[cycle], counts[cycle], labels[cycle], cfg.precision)
        self.runner = EpochRunner(backend, network, Loss(backend, cfg.loss, cfg.t_max), split, batch,
                                  cfg.input.classes, graphs)
        self.order = np.arange(need)
        self._start = [layer.weights for layer in self.optimizer.layers], self.optimizer.state()

    def reset(self) -> None:
        """The seed-0 weights and optimiser state again, written into the same device arrays (captured steps
        read them)."""
        weights, state = self._start
        for layer, w in zip(self.optimizer.layers, weights):
            layer.set_weights(w)
        self.optimizer.load_state(state)

    def __call__(self, train: bool) -> None:
        self.runner.run(self.order, self.optimizer if train else None)
        self.backend.synchronize()


def format_table(results: list[Measurement]) -> str:
    """A plain-text table of the measurements, then each one's top kernels."""
    lines = [f"{'config':<22}{'batch':>7}{'train samples/s':>17}{'forward samples/s':>19}{'peak MB':>10}"
             f"{'launches/step':>15}"]
    for m in results:
        lines.append(f"{m.label:<22}{m.batch:>7}{m.train_samples_per_s:>17.1f}{m.forward_samples_per_s:>19.1f}"
                     f"{m.peak_memory_mb:>10.1f}{m.launches_per_step:>15}")
    for m in results:
        if m.mlp_ratio is not None:
            lines.append(f"  {m.label}: float32 MLP of the same sizes (numpy, same cores, batch {m.batch}): "
                         f"{m.mlp_train_samples_per_s:.1f} train samples/s; ratio {m.mlp_ratio:.3f}")
    for m in results:
        if m.test_set_seconds is not None:
            lines.append(f"  {m.label}: whole test set scored in {m.test_set_seconds:.3f} s")
    for m in results:
        if m.graph_ratio is not None:
            lines.append(f"  {m.label}: captured steps ({m.step_capture}); without them "
                         f"{m.eager_train_samples_per_s:.1f} train samples/s; ratio {m.graph_ratio:.3f}")
    for m in results:
        top = ", ".join(f"{k} {v:.2f}" for k, v in list(m.kernel_ms_per_step.items())[:4])
        lines.append(f"  {m.label}: ms per train step ({m.kernel_timing}): {top}")
    return "\n".join(lines) + "\n"


def run_bench(cfg: ModelConfig, device: str, data_dir: Path, sweep: str | None, values: list[int] | None,
              steps: int, repeats: int, runs_root: Path, echo: Callable[[str], None]) -> tuple[RunDir, list]:
    """Measure `cfg` (and its sweep) on `device` ("auto", "cpu" or "cuda"), write bench.json, table.txt and plots
    under runs/bench-*/."""
    backend = get_backend(device)
    cfg, data = bench_data(cfg, data_dir)
    configs = [(f"{cfg.name}", cfg)]
    left_out = []
    if sweep:  # every variant checked before anything is measured
        configs = []
        for value in values or SWEEPS[sweep]:
            variant = vary(cfg, sweep, value)
            # a sweep scores no test set: its test batch is its training batch, which the model-file check counts
            variant = replace(variant, training=replace(variant.training, test_batch_size=variant.training.batch_size))
            # at the batch it trains (samples repeat to fill one beyond the split): the standard set leaves out what
            # this machine cannot hold; a value the user asked for is an error
            where, shortfall = memory_shortfall(variant, variant.training.batch_size)  # a sweep times training only
            if shortfall and values:
                raise UsageError(f"--sweep {sweep}={value}: {where}: {shortfall}")
            if shortfall:
                left_out.append(f"{sweep}={value}: left out, {shortfall}")
            else:
                configs.append((f"{sweep}={value}", checked_variant(variant, sweep, value)))
        if not configs:
            raise UsageError(f"--sweep {sweep}: no value of the standard set fits this machine's memory "
                             f"({left_out[0]}); give smaller ones with --values")
    echo(f"bench: model {cfg.name} on {cfg.input.dataset}, device {backend.name}, {steps} steps x {repeats} repeats")
    for line in left_out:
        echo(f"  {line}")
    results = []
    for label, variant in configs:
        results.append(measure(variant, data, backend, label, steps, repeats))
        echo(f"  {label}: {results[-1].train_samples_per_s:.1f} train samples/s, "
             f"{results[-1].forward_samples_per_s:.1f} forward samples/s")
    if not sweep:
        results[0].test_set_seconds, samples = time_test_set(cfg, data, backend)
        echo(f"  test set ({samples} samples): {results[0].test_set_seconds:.3f} s")
    run = RunDir.create(runs_root, "bench")
    payload = {"model": cfg.name, "dataset": cfg.input.dataset, "device": backend.name, "sweep": sweep,
               "steps": steps, "repeats": repeats, "left_out": left_out,
               "results": [asdict(m) for m in results]}
    atomic_write_text(run.path / "bench.json", json.dumps(payload, indent=2))
    atomic_write_text(run.path / "table.txt", format_table(results) + "".join(f"{line}\n" for line in left_out))
    if sweep:
        from snntrain.runs.plots import plot_sweep

        plot_sweep(sweep, [float(label.split("=")[1]) for label, _ in configs],
                   {"train": [m.train_samples_per_s for m in results],
                    "forward": [m.forward_samples_per_s for m in results]},
                   [m.peak_memory_mb for m in results], run.plots_dir / f"sweep_{sweep}.png")
    return run, results
