"""`snntrain sweep`: one model trained over a grid of `--set` values, the trials scheduled by Ray Tune on this
machine (an embedded local Ray instance) or on a Ray cluster (`address`).

Every trial is an ordinary run directory, `<sweep>/trials/t000`, `t001`, ... in grid order, whose config.toml holds
its overrides. The sweep's folder is named from a hash of the model file and every --set and --grid, so running
the same command again finds it: finished trials are kept, unfinished ones resume from their last.h5, and failed
ones are tried again. Ray retries a trial whose worker died (`max_failures`); a trial that still fails is marked
failed in the table and the others go on. `results.csv` (one row per trial, rebuilt from the trials' own
metrics.csv) and a plot of the metric against each swept key are written at the end.
"""
from __future__ import annotations

import csv
import hashlib
import io
import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from snntrain.config import load_model
from snntrain.config.load import resolve_model_path
from snntrain.errors import SnntrainError, UsageError
from snntrain.runs import RunDir, atomic_write_text
from snntrain.training.trainer import run_finished, train_named

INSTALL = "snntrain sweep needs Ray Tune: pip install 'snntrain[sweep]' (or pip install 'ray[tune]')"


@dataclass(frozen=True)
class SweepSpec:
    """What every trial needs, sent to Ray's workers."""

    model: str  # the model file's absolute path
    sets: tuple[str, ...]  # --set values common to every trial
    trials: tuple[tuple[str, ...], ...]  # each trial's grid overrides, in grid order
    folder: str  # the sweep's folder (absolute)
    data_dir: str  # absolute
    device: str
    threads: int  # numba threads per trial


def parse_grid(specs: Sequence[str]) -> list[tuple[str, list[str]]]:
    """`key=v1,v2,...` or `key=a..b` (integers a to b inclusive) per --grid; UsageError for anything else."""
    grid = []
    for spec in specs:
        key, sep, values = spec.partition("=")
        key = key.strip()
        if not sep or not key or not values.strip():
            raise UsageError(f"--grid {spec!r}: give KEY=V1,V2,... or KEY=A..B, e.g. 'optimizer.lr=0.001,0.002'")
        if ".." in values and "," not in values:
            low, _, high = values.partition("..")
            try:
                items = [str(v) for v in range(int(low), int(high) + 1)]
            except ValueError:
                raise UsageError(f"--grid {spec!r}: A..B takes integers, e.g. training.seed=0..4") from None
            if not items:
                raise UsageError(f"--grid {spec!r}: the range {low}..{high} is empty")
        else:
            items = [v.strip() for v in values.split(",")]
            if not all(items):
                raise UsageError(f"--grid {spec!r}: an empty value between commas")
        if key in (k for k, _ in grid):
            raise UsageError(f"--grid {key}: given twice; put every value in one --grid")
        grid.append((key, items))
    if not grid:
        raise UsageError("give at least one --grid KEY=V1,V2,...")
    return grid


def trial_overrides(grid: list[tuple[str, list[str]]]) -> list[tuple[str, ...]]:
    """Every combination of the grid's values as `--set` strings, the last key varying fastest."""
    keys = [key for key, _ in grid]
    return [tuple(f"{k}={v}" for k, v in zip(keys, combo)) for combo in itertools.product(*(v for _, v in grid))]


def sweep_folder(runs_root: Path, model_path: Path, sets: Sequence[str], grid: list[tuple[str, list[str]]]) -> Path:
    """`runs_root/sweep-<model>-<hash>`: the same model file, --set and --grid values give the same folder."""
    digest = hashlib.sha256(model_path.read_bytes())
    digest.update(repr((tuple(sets), grid)).encode())
    return runs_root / f"sweep-{model_path.stem}-{digest.hexdigest()[:10]}"


def trial_dir(folder: Path, index: int) -> Path:
    return folder / "trials" / f"t{index:03d}"


def run_trial(config: dict, spec: SweepSpec) -> dict:
    """One trial, in a Ray worker: train (or resume, or keep) its run directory, reporting every epoch to Tune."""
    from ray import tune

    import numba

    from snntrain.backends import get_backend
    from snntrain.training.callbacks import Callback

    numba.set_num_threads(max(1, min(spec.threads, numba.config.NUMBA_NUM_THREADS)))
    index = config["trial"]
    path = trial_dir(Path(spec.folder), index)

    class Report(Callback):
        def on_epoch_end(self, epoch: int, row: dict[str, float]) -> None:
            tune.report({**row, "epoch": epoch})

    if run_finished(path):
        rows = RunDir.open(path).read_metrics()
        return {**rows[-1], "epoch": len(rows), "kept": 1}
    # each trial's own log.txt holds its lines
    train_named(path, Path(spec.model), spec.sets + spec.trials[index], get_backend(spec.device),
                Path(spec.data_dir), lambda line: None, [Report()])
    return {}


def run_sweep(model: str, sets: Sequence[str], grid_specs: Sequence[str], runs_root: Path, data_dir: Path,
              address: str | None, device: str, cpus_per_trial: int, max_failures: int, metric: str,
              echo: Callable[[str], None]) -> Path:
    """Run (or resume) the sweep; returns its folder, holding results.csv and the plots."""
    grid = parse_grid(grid_specs)
    model_path = resolve_model_path(model)
    trials = trial_overrides(grid)
    configs = [load_model(model_path, tuple(sets) + overrides) for overrides in trials]  # all valid, first
    if metric == "val_accuracy" and not configs[0].training.validation:
        metric = "train_accuracy"  # what best.h5 is chosen on without a validation split
    folder = sweep_folder(runs_root, Path(model_path), sets, grid).resolve()
    try:
        import ray
        from ray import tune
    except ImportError:
        raise SnntrainError(INSTALL) from None
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    started_here = not ray.is_initialized()
    if started_here:
        address = address or os.environ.get("RAY_ADDRESS") or None
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        gpus = int(ray.cluster_resources().get("GPU", 0))
        use_gpu = gpus > 0 and device in ("auto", "cuda")
        if device == "cuda" and not use_gpu:
            raise SnntrainError("--device cuda: the Ray cluster has no GPU; use --device cpu or auto")
        spec = SweepSpec(str(Path(model_path).resolve()), tuple(sets), tuple(trials), str(folder),
                         str(Path(data_dir).resolve()), "cuda" if use_gpu else "cpu", cpus_per_trial)
        folder.mkdir(parents=True, exist_ok=True)
        kept = sum(run_finished(trial_dir(folder, i)) for i in range(len(trials)))
        echo(f"sweep {folder}: {len(trials)} trials ({kept} finished earlier), {cpus_per_trial} CPU"
             f"{' and 1 GPU' if use_gpu else ''} each, on {address or 'a local Ray instance'}")
        resources = {"cpu": cpus_per_trial, **({"gpu": 1} if use_gpu else {})}
        tuner = tune.Tuner(
            tune.with_resources(tune.with_parameters(run_trial, spec=spec), resources),
            param_space={"trial": tune.grid_search(list(range(len(trials))))},
            # a worker keeps its process from trial to trial: the kernels load once, not once per trial
            tune_config=tune.TuneConfig(reuse_actors=True),
            run_config=tune.RunConfig(name="tune", storage_path=str(folder), verbose=0,
                                      failure_config=tune.FailureConfig(max_failures=max_failures)))
        results = tuner.fit()
        errors = {}
        for result in results:
            if result.error is not None:
                errors[int(result.config["trial"])] = " ".join(str(result.error).split())[-300:]
    finally:
        if started_here:
            ray.shutdown()
    rows = collect(folder, grid, trials, errors, metric)
    write_results(folder, grid, rows, metric)
    failed = sum(row["status"] == "failed" for row in rows)
    echo(f"{len(rows) - failed} trials finished, {failed} failed; results: {folder / 'results.csv'}")
    return folder


def collect(folder: Path, grid: list[tuple[str, list[str]]], trials: Sequence[tuple[str, ...]],
            errors: dict[int, str], metric: str) -> list[dict[str, Any]]:
    """One row per trial from its run directory (and the error of a failed one)."""
    rows = []
    for index, overrides in enumerate(trials):
        path = trial_dir(folder, index)
        row: dict[str, Any] = {"trial": path.name, **{k: v for k, v in (o.split("=", 1) for o in overrides)}}
        metrics = RunDir.open(path).read_metrics() if (path / "config.toml").exists() else []
        epochs = load_model(path / "config.toml").training.epochs if metrics else 0
        chosen = max(metrics, key=lambda r: r.get(metric, float("nan"))) if metrics and metric in metrics[0] else None
        if metrics and len(metrics) >= epochs:
            status = "done"
        elif index in errors:
            status = "failed"
        else:
            status = f"epoch {len(metrics)}/{epochs}" if metrics else "not started"
        row.update(status=status, epochs=len(metrics),
                   **{f"best_{metric}": chosen[metric] if chosen else "",
                      "best_epoch": int(chosen["epoch"]) if chosen else "",
                      "test_accuracy": chosen["test_accuracy"] if chosen else "",
                      "seconds": round(sum(r["epoch_seconds"] for r in metrics), 1) if metrics else "",
                      "error": errors.get(index, "") if status != "done" else "",
                      "run_dir": str(path)})
        rows.append(row)
    return rows


def write_results(folder: Path, grid: list[tuple[str, list[str]]], rows: list[dict[str, Any]], metric: str) -> None:
    """results.csv, and plots/<key>.png of the best metric against each swept key (finished trials)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(folder / "results.csv", buffer.getvalue())
    done = [row for row in rows if row["status"] == "done" and row[f"best_{metric}"] != ""]
    if not done:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (folder / "plots").mkdir(exist_ok=True)
    for key, values in grid:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        positions = {value: i for i, value in enumerate(values)}
        ax.plot([positions[row[key]] for row in done], [row[f"best_{metric}"] for row in done], "o", alpha=0.7)
        ax.set_xticks(range(len(values)), values)
        ax.set_xlabel(key)
        ax.set_ylabel(f"best {metric}")
        fig.tight_layout()
        fig.savefig(folder / "plots" / f"{key.replace('/', '_')}.png", dpi=100)
        plt.close(fig)
