"""`snntrain reproduce`: the paper's reference configurations (SPEC §7) trained to their full schedules, several
seeds each, and one results table.

Every (configuration, seed) is an ordinary run directory with a fixed name under the reproduction's folder, so
running the same command again finds it: a finished run is kept, an interrupted one resumes from its last.h5,
and a configuration whose dataset is not downloaded is listed as needing it. The table (`results.md`,
`results.csv`) is rebuilt from the run directories after every run, so it always says what is on disk.

A run keeps the settings it started with (its config.toml), also when the packaged model file has changed since:
each row names the settings in which its run differs from what the model file gives now, and `reproduce` says so
when it keeps or resumes such a run (delete the run's folder to train it afresh).

Model selection follows the library's rule: `best.h5` is the epoch of highest validation accuracy, on
VALIDATION samples held out from the end of the training split; the test set is only scored.
"""
from __future__ import annotations

import csv
import io
import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from snntrain.backends import Backend, get_backend
from snntrain.config import ModelConfig, load_model, schema
from snntrain.config.compare import config_differences
from snntrain.config.load import resolve_model_path
from snntrain.data.store import canonical_path
from snntrain.errors import UsageError
from snntrain.runs import RunDir, RunInUse, atomic_write_text, make_dirs
from snntrain.runs.metrics import best_row, last_epoch
from snntrain.training.callbacks import Callback
from snntrain.training.trainer import run_finished, train_named


@dataclass(frozen=True)
class Experiment:
    """One reference configuration: a packaged model file trained on a dataset."""

    model: str
    dataset: str

    @property
    def name(self) -> str:
        """model-dataset, as --only and the run folders name it (ttfs-fashion-mnist)."""
        return f"{self.model}-{self.dataset}"


#: Fashion-MNIST first (it installs offline here), then the rows that wait for their datasets.
EXPERIMENTS = (Experiment("ttfs", "fashion-mnist"), Experiment("fashion", "fashion-mnist"),
               Experiment("conv", "fashion-mnist"), Experiment("ttfs", "mnist"), Experiment("count", "mnist"),
               Experiment("conv", "mnist"), Experiment("emnist", "emnist"))
VALIDATION = 5000  # held out of the 60,000 (EMNIST: 112,800) training images; the paper selects on the test set
# --smoke: one short epoch per configuration on a subset, to check the whole path in minutes (CI)
SMOKE_VALIDATION = 200
SMOKE = ("training.epochs=1", "training.train_samples=2000", f"training.validation={SMOKE_VALIDATION}",
         "training.test_samples=500")


@dataclass
class SeedResult:
    """What one (configuration, seed) run directory holds."""

    experiment: Experiment
    seed: int
    status: str  # "done", "epoch k/N", "not started", "needs the dataset"
    epochs: int = 0
    epochs_done: int = 0
    best_epoch: int = 0
    best_val_accuracy: float = math.nan
    selected_test_accuracy: float = math.nan  # test accuracy of the validation-selected epoch
    best_test_accuracy: float = math.nan  # the highest test accuracy of any epoch: the paper's selection (SPEC §7)
    test_accuracy_per_epoch: list[float] = field(default_factory=list)
    seconds_per_epoch: float = math.nan  # training time per epoch (median: the first epoch also compiles)
    devices: list[str] = field(default_factory=list)
    commits: list[str] = field(default_factory=list)
    run_dir: str = ""
    #: The settings in which the run differs from its model file now (`changed_settings`).
    differences: list[str] = field(default_factory=list)


def select(only: Sequence[str]) -> list[Experiment]:
    """The experiments named by `only` (a model name such as "ttfs", or model-dataset such as
    "ttfs-fashion-mnist"); all of them when `only` is empty."""
    chosen = [e for e in EXPERIMENTS if not only or e.model in only or e.name in only]
    unknown = [name for name in only if not any(name in (e.model, e.name) for e in EXPERIMENTS)]
    if unknown:
        raise UsageError(f"--only {unknown[0]!r}: allowed are {', '.join(sorted({e.model for e in EXPERIMENTS}))} "
                         f"or one of {', '.join(e.name for e in EXPERIMENTS)}")
    return chosen


def overrides(experiment: Experiment, seed: int, smoke: bool) -> list[str]:
    """The `--set` values of one run: the dataset, the seed, the validation split (and the smoke subset)."""
    sets = [f'input.dataset="{experiment.dataset}"', f"training.seed={seed}", f"training.validation={VALIDATION}"]
    return sets + list(SMOKE if smoke else ())


def changed_settings(experiment: Experiment, seed: int, smoke: bool, config: ModelConfig) -> list[str]:
    """The settings in which a run's `config` differs from what the run would train if started now: the
    packaged model file with `overrides` (`config_differences`)."""
    now = load_model(resolve_model_path(experiment.model), overrides(experiment, seed, smoke))
    return config_differences(config, now)


def reproduce(only: Sequence[str], seeds: Sequence[int], smoke: bool, device: str, data_dir: Path,
              out_dir: Path, echo: Callable[[str], None], callbacks: Sequence[Callback] = ()) -> list[SeedResult]:
    """Train (or resume, or keep) every selected configuration and seed in `out_dir` on `device` ("auto", "cpu"
    or "cuda"), rewriting the results table after each; returns the table's rows."""
    seed_key = schema.TRAINING["seed"]  # checked before any run folder is made
    for seed in seeds:
        if not seed_key.low <= seed <= seed_key.high:
            raise UsageError(f"--seeds: seed {seed} is not {seed_key.rule()}")
    backend = get_backend(device)
    make_dirs(out_dir)
    for experiment in select(only):
        if not canonical_path(experiment.dataset, data_dir).exists():
            echo(f"{experiment.name}: needs the dataset (snntrain download {experiment.dataset})")
            continue
        for seed in seeds:
            _run_one(experiment, seed, smoke, backend, data_dir, out_dir, echo, callbacks)
            write_results(out_dir, collect(seeds, out_dir, data_dir, smoke), smoke)
    results = collect(seeds, out_dir, data_dir, smoke)
    write_results(out_dir, results, smoke)
    echo(f"results: {out_dir / 'results.md'}")
    return results


def _run_one(experiment: Experiment, seed: int, smoke: bool, backend: Backend, data_dir: Path, out_dir: Path,
             echo: Callable[[str], None], callbacks: Sequence[Callback]) -> None:
    path = out_dir / f"{experiment.name}-seed{seed}"
    started = (path / "config.toml").exists()
    if started:
        config = load_model(path / "config.toml")
        differences = changed_settings(experiment, seed, smoke, config)
        if differences:
            echo(f"{path.name}: was started with settings that differ from {experiment.model}.toml's now, and "
                 f"keeps them: {'; '.join(differences)} (delete the folder to train it afresh)")
        if run_finished(path):
            echo(f"{path.name}: done ({config.training.epochs} epochs), kept")
            return
    echo(f"{path.name}: {'resuming' if started else 'training'}")
    try:
        train_named(path, resolve_model_path(experiment.model), tuple(overrides(experiment, seed, smoke)), backend,
                    data_dir, echo, callbacks)
    except RunInUse as err:  # a second `snntrain reproduce` shares the work: it takes the next run
        echo(f"{path.name}: skipped, {err}")


def collect(seeds: Sequence[int], out_dir: Path, data_dir: Path, smoke: bool) -> list[SeedResult]:
    """One row per configuration and seed, from what the run directories hold: every configuration, and the
    `seeds` asked for as well as any other seed already on disk (a call with --only or --seeds rewrites the table
    without dropping the rest). Runs are compared with their model file now (with the `smoke` settings or not)."""
    results = []
    for experiment in EXPERIMENTS:
        found = {int(p.name.rsplit("-seed", 1)[1]) for p in out_dir.glob(f"{experiment.name}-seed*")
                 if p.name.rsplit("-seed", 1)[1].isdigit() and (p / "config.toml").exists()}
        for seed in sorted(set(seeds) | found):
            path = out_dir / f"{experiment.name}-seed{seed}"
            if not (path / "config.toml").exists():
                missing = not canonical_path(experiment.dataset, data_dir).exists()
                results.append(SeedResult(experiment, seed, "needs the dataset" if missing else "not started"))
                continue
            results.append(_read_run(experiment, seed, RunDir.open(path), smoke))
    return results


def _read_run(experiment: Experiment, seed: int, run: RunDir, smoke: bool) -> SeedResult:
    config = load_model(run.config_path)
    epochs = config.training.epochs
    rows = run.read_metrics(numbers=("val_accuracy", "test_accuracy", "epoch_seconds"))
    done = last_epoch(rows)
    result = SeedResult(experiment, seed, "done" if done >= epochs else f"epoch {done}/{epochs}",
                        epochs=epochs, epochs_done=done, run_dir=str(run.path),
                        differences=changed_settings(experiment, seed, smoke, config))
    best = best_row(rows, "val_accuracy")
    if best is not None:
        result.best_epoch, result.best_val_accuracy = int(best["epoch"]), best["val_accuracy"]
        result.selected_test_accuracy = best["test_accuracy"]
        result.best_test_accuracy = max(row["test_accuracy"] for row in rows)
        result.test_accuracy_per_epoch = [row["test_accuracy"] for row in rows]
        result.seconds_per_epoch = statistics.median(row["epoch_seconds"] for row in rows)
    if run.environment_path.exists():
        result.devices, result.commits = _provenance(run.environment_path, result.epochs_done)
    return result


def _provenance(path: Path, epochs_done: int) -> tuple[list[str], list[str]]:
    """The devices and commits of the sessions in environment.json `path` that trained the recorded epochs;
    "unknown" for a file damaged or edited by hand (the accuracies, from metrics.csv, still stand)."""
    try:
        sessions = _sessions_that_trained(json.loads(path.read_text(encoding="utf-8")), epochs_done)
        return sorted({_device(s) for s in sessions}), sorted({_short(s["commit"]) for s in sessions})
    except (OSError, ValueError, RecursionError, TypeError, KeyError, AttributeError) as exc:
        # JSON that does not parse (ValueError), or values of the wrong kind or missing where records belong
        unknown = f"unknown ({path.name} unreadable: {type(exc).__name__})"
        return [unknown], [unknown]


def _sessions_that_trained(sessions: list[dict], epochs_done: int) -> list[dict]:
    """The sessions of environment.json that trained at least one of the recorded epochs: a session stopped
    before its first epoch ended (the next one starts after the same epoch) ran nothing the table reports."""
    ends = [s.get("after_epoch", 0) for s in sessions[1:]] + [epochs_done]
    return [s for s, end in zip(sessions, ends) if end > s.get("after_epoch", 0)]


def _device(session: dict) -> str:
    """A session's device as the table shows it: the backend's words, with the processor's name for the CPU
    (the CUDA backend already names its card)."""
    device, processor = session["device"], session.get("machine", {}).get("processor")
    if device.startswith("cpu") and processor:
        return f"{device}, {processor}"
    return device


def _short(commit: str | None) -> str:
    """A commit as the table shows it: 12 hex digits, and whether the source differed from it."""
    if not commit:
        return "none"
    return commit[:12] + ("-dirty" if commit.endswith("-dirty") else "")


def _mean_std(values: list[float]) -> str:
    if not values:
        return ""
    if len(values) == 1:
        return f"{100 * values[0]:.2f}%"
    return f"{100 * statistics.mean(values):.2f} ± {100 * statistics.stdev(values):.2f}% (n={len(values)})"


def write_results(out_dir: Path, results: list[SeedResult], smoke: bool = False) -> None:
    """results.csv (one row per configuration and seed) and results.md (per configuration, the mean and standard
    deviation over finished seeds, then every seed), both atomically; `smoke`: of the --smoke runs."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["model", "dataset", "seed", "status", "epochs", "epochs_done", "best_epoch",
                     "best_val_accuracy", "selected_test_accuracy", "best_test_accuracy", "test_accuracy_per_epoch",
                     "seconds_per_epoch", "devices", "commits", "run_dir", "differs_from_model_file"])
    for r in results:
        writer.writerow([r.experiment.model, r.experiment.dataset, r.seed, r.status, r.epochs, r.epochs_done,
                         r.best_epoch, f"{r.best_val_accuracy:.4f}", f"{r.selected_test_accuracy:.4f}",
                         f"{r.best_test_accuracy:.4f}",
                         ";".join(f"{a:.4f}" for a in r.test_accuracy_per_epoch), f"{r.seconds_per_epoch:.1f}",
                         ";".join(r.devices), ";".join(r.commits), r.run_dir, "; ".join(r.differences)])
    atomic_write_text(out_dir / "results.csv", buffer.getvalue())

    lines = ["# snntrain reproduce: results", "",
             "Test accuracy of the weights selected on validation accuracy "
             f"({SMOKE_VALIDATION if smoke else VALIDATION} training images held out), mean ± sample standard "
             "deviation (n - 1) over the finished seeds. \"Best test accuracy\" is the highest test accuracy of any "
             "epoch, the paper's selection (SPEC §7), for comparison with its figures only. "
             "\"Settings\" says whether the runs trained what the model file gives now (a run keeps the settings it "
             "started with).", "",
             "| model | dataset | epochs | seeds done | best val accuracy | test accuracy (selected) | "
             "best test accuracy | s/epoch (train, median) | device | commit | settings |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for experiment in dict.fromkeys(r.experiment for r in results):
        mine = [r for r in results if r.experiment == experiment]
        done = [r for r in mine if r.status == "done"]
        started = [r for r in mine if r.epochs_done]
        differing = sum(bool(r.differences) for r in started)
        if not started:
            status = mine[0].status
            lines.append(f"| {experiment.model} | {experiment.dataset} | | {status} | | | | | | | |")
            continue
        lines.append(f"| {experiment.model} | {experiment.dataset} | {mine[0].epochs} | {len(done)}/{len(mine)} | "
                     f"{_mean_std([r.best_val_accuracy for r in done])} | "
                     f"{_mean_std([r.selected_test_accuracy for r in done])} | "
                     f"{_mean_std([r.best_test_accuracy for r in done])} | "
                     f"{statistics.median(r.seconds_per_epoch for r in started):.0f} | "
                     f"{'; '.join(sorted({d for r in mine for d in r.devices}))} | "
                     f"{', '.join(sorted({c for r in mine for c in r.commits}))} | "
                     f"{f'{differing} of {len(started)} runs differ from' if differing else 'as'} the model file |")
    lines += ["", "## Every seed", "", "| run | status | best epoch | val accuracy | test accuracy (selected) | "
              "best test accuracy | test accuracy per epoch | settings |", "|---|---|---|---|---|---|---|---|"]
    for r in results:
        if r.epochs_done:
            per_epoch = " ".join(f"{100 * a:.1f}" for a in r.test_accuracy_per_epoch)
            lines.append(f"| {r.experiment.name}-seed{r.seed} | {r.status} | {r.best_epoch} | "
                         f"{100 * r.best_val_accuracy:.2f}% | {100 * r.selected_test_accuracy:.2f}% | "
                         f"{100 * r.best_test_accuracy:.2f}% | {per_epoch} | "
                         f"{'; '.join(r.differences) or 'as the model file'} |")
    atomic_write_text(out_dir / "results.md", "\n".join(lines) + "\n")
