"""`snntrain sweep`: one model trained over a grid and random draws of `--set` values (a SweepPlan), the trials
scheduled by Ray Tune on this machine (an embedded local Ray instance) or on a Ray cluster (`address`).

Every trial is an ordinary run directory, `<sweep>/trials/t000`, `t001`, ... in the plan's order, whose config.toml
holds its overrides. The sweep's folder is named from a hash of the model file and the plan's trials, so running
the same command again finds it: finished trials are kept, unfinished ones resume from their last.h5, failed ones
are tried again, and (with ASHA) the ones it stopped early stay stopped. Ray retries a trial whose worker died (`max_failures`); a trial that still fails is marked
failed in the table and the others go on. `results.csv` (one row per trial, rebuilt from the trials' own
metrics.csv) and a plot of the metric against each swept key are written at the end.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from snntrain.config import load_model
from snntrain.config.load import overlapping, resolve_model_path, written_paths
from snntrain.config.model import ModelConfig
from snntrain.config.sweep import SweepPlan, maximised
from snntrain.data import check_present
from snntrain.errors import SnntrainError, UsageError
from snntrain.runs import RunDir, atomic_write_text, make_dirs
from snntrain.runs.metrics import best_row, format_metrics, last_epoch
from snntrain.runs.plots import plot_best_by_key
from snntrain.training.ray_cluster import connect, describe_address, on_this_machine, worker_device
from snntrain.training.trainer import Interrupted, run_finished, train_named

#: Written in a trial's run directory when the early-stopping scheduler stops it (the epoch and the metric).
STOPPED = "stopped.json"


@dataclass(frozen=True)
class SweepSpec:
    """What every trial needs, sent to Ray's workers."""

    model: str  # the model file's absolute path
    sets: tuple[str, ...]  # --set values common to every trial
    trials: tuple[tuple[str, ...], ...]  # each trial's own overrides, in order
    folder: str  # the sweep's folder (absolute)
    data_dir: str  # absolute
    device: str
    threads: int  # numba threads per trial
    early_stopping: bool  # honour the stopped.json of a trial ASHA stopped


def sweep_folder(runs_root: Path, model_path: Path, plan: SweepPlan) -> Path:
    """`runs_root/sweep-<model>-<hash>`: the same model file and the same trials give the same folder."""
    digest = hashlib.sha256(model_path.read_bytes())
    digest.update(plan.identity().encode())
    return runs_root / f"sweep-{model_path.stem}-{digest.hexdigest()[:10]}"


def trial_dir(folder: Path, index: int) -> Path:
    """The run directory of trial `index` in the sweep folder `folder`: trials/t000, t001, ..."""
    return folder / "trials" / f"t{index:03d}"


def run_trial(config: dict, spec: SweepSpec) -> None:
    """One trial, in a Ray worker: report the epochs its run directory already holds (so that an early-stopping
    scheduler sees a resumed trial's whole history), then train or resume it to its end, reporting every epoch.
    A finished trial, or one the scheduler stopped, is kept as it is."""
    from ray import tune

    from snntrain.backends import get_backend, set_threads
    from snntrain.training.callbacks import Callback

    set_threads(spec.threads)
    index = config["trial"]
    path = trial_dir(Path(spec.folder), index)

    class Report(Callback):
        def on_epoch_end(self, epoch: int, row: dict[str, float]) -> None:
            tune.report({**row, "epoch": epoch})

    if (path / "config.toml").exists():
        for row in RunDir.open(path).read_metrics():
            tune.report({**row, "epoch": int(row["epoch"])})
    if run_finished(path) or (spec.early_stopping and (path / STOPPED).exists()):
        return
    # each trial's own log.txt holds its lines
    train_named(path, Path(spec.model), spec.sets + spec.trials[index], get_backend(spec.device),
                Path(spec.data_dir), lambda line: None, [Report()])


def _early_stopping(plan: SweepPlan, metric: str, folder: Path, epochs: Sequence[int]) -> Any:
    """Ray's ASHA scheduler on `metric` per epoch, recording each trial it stops in the trial's stopped.json, so
    that rerunning the sweep keeps it stopped instead of resuming it."""
    from ray.tune.schedulers import AsyncHyperBandScheduler, TrialScheduler

    class RecordingASHA(AsyncHyperBandScheduler):
        def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
            action = super().on_trial_result(tune_controller, trial, result)
            index = int(trial.config["trial"])
            if action == TrialScheduler.STOP and result.get("epoch", 0) < epochs[index]:
                atomic_write_text(trial_dir(folder, index) / STOPPED, json.dumps(
                    {"epoch": int(result["epoch"]), metric: float(result[metric])}) + "\n")
            return action

    return RecordingASHA(time_attr="epoch", metric=metric, mode="max" if maximised(metric) else "min",
                         max_t=max(epochs), grace_period=plan.grace_epochs, reduction_factor=plan.reduction_factor)


def run_sweep(plan: SweepPlan, runs_root: Path, data_dir: Path, address: str | None, device: str,
              echo: Callable[[str], None], dry_run: bool = False) -> Path:
    """Run (or resume) the sweep; returns its folder, holding results.csv and the plots. `dry_run` lists the
    trials and their folders without training."""
    assert plan.model is not None
    model_path = resolve_model_path(plan.model)
    trials = plan.trials()
    configs = [load_model(model_path, plan.sets + overrides) for overrides in trials]  # all valid, first
    folder = sweep_folder(runs_root, Path(model_path), plan).resolve()
    _check_trials(model_path, plan, trials, configs, folder)
    metric = _metric(plan, trials, configs, folder)
    epochs = [cfg.training.epochs for cfg in configs]
    if plan.scheduler == "asha" and plan.grace_epochs > max(epochs):
        raise UsageError(f"grace_epochs = {plan.grace_epochs}: more than the trials' {max(epochs)} epochs")
    if dry_run:  # a plan, which may come before the download
        for index, overrides in enumerate(trials):
            echo(f"{trial_dir(folder, index)}: {' '.join(overrides)}")
        echo(f"{len(trials)} trials, judged on {metric}")
        return folder
    if on_this_machine(address):  # a cluster's workers read their own data folders
        for dataset in dict.fromkeys(cfg.input.dataset for cfg in configs):
            check_present(dataset, data_dir)
    with connect(address, "snntrain sweep") as ray:
        from ray import tune

        cpus = int(ray.cluster_resources().get("CPU", 0))
        if plan.cpus_per_trial > cpus and on_this_machine(address):  # Ray would wait for them for ever
            raise UsageError(f"cpus_per_trial = {plan.cpus_per_trial}: Ray has {cpus} CPUs on this machine; "
                             f"give --cpus-per-trial {cpus} or less")
        scheduler = _early_stopping(plan, metric, folder, epochs) if plan.scheduler == "asha" else None
        trial_device = worker_device(ray, device)
        spec = SweepSpec(str(Path(model_path).resolve()), plan.sets, tuple(trials), str(folder),
                         str(Path(data_dir).resolve()), trial_device, plan.cpus_per_trial, scheduler is not None)
        make_dirs(folder)
        kept = sum(run_finished(trial_dir(folder, i)) for i in range(len(trials)))
        use_gpu = trial_device == "cuda"
        echo(f"sweep {folder}: {len(trials)} trials ({kept} finished earlier), {plan.cpus_per_trial} CPU"
             f"{' and 1 GPU' if use_gpu else ''} each, on {describe_address(address)}"
             f"{', ASHA early stopping on ' + metric if scheduler else ''}"
             f"{f', for at most {plan.time_budget_s:g} s' if plan.time_budget_s else ''}")
        resources = {"cpu": plan.cpus_per_trial, **({"gpu": 1} if use_gpu else {})}
        tuner = tune.Tuner(
            tune.with_resources(tune.with_parameters(run_trial, spec=spec), resources),
            param_space={"trial": tune.grid_search(list(range(len(trials))))},
            # a worker keeps its process from trial to trial: the kernels load once, not once per trial
            tune_config=tune.TuneConfig(reuse_actors=True, scheduler=scheduler, time_budget_s=plan.time_budget_s),
            run_config=tune.RunConfig(name="tune", storage_path=str(folder), verbose=0,
                                      failure_config=tune.FailureConfig(max_failures=plan.max_failures)))
        start = time.monotonic()
        results = tuner.fit()
        elapsed = time.monotonic() - start
        errors = {}
        for result in results:
            if result.error is not None:
                errors[int(result.config["trial"])] = _error_line(result.error)
    rows = collect(folder, plan, trials, errors, metric)
    write_results(folder, plan, rows, metric)
    counts = {status: sum(row["status"] == status for row in rows) for status in ("done", "failed", "stopped early")}
    rest = len(rows) - sum(counts.values())
    echo(f"{counts['done']} trials finished, {counts['stopped early']} stopped early, {counts['failed']} failed"
         f"{f', {rest} unfinished (run the same command again to go on)' if rest else ''}; "
         f"results: {folder / 'results.csv'}")
    best = best_trial(rows, metric, plan.keys)
    if best:
        echo(best)
    if rest and not (plan.time_budget_s and elapsed >= plan.time_budget_s):
        # Tune catches Ctrl-C and returns as if the sweep had ended: trials left unfinished before the budget ran
        # out were interrupted
        raise Interrupted(f"interrupted; {counts['done']} of {len(rows)} trials finished; run the same command "
                          "again to go on")
    if counts["failed"]:  # the table is written: the exit status says that not every trial trained
        first = next(row for row in rows if row["status"] == "failed")
        raise SnntrainError(f"{counts['failed']} of {len(rows)} trials failed ({first['trial']}: "
                            f"{first['error'] or 'no error recorded'}); every error is in the error column of "
                            f"{folder / 'results.csv'}")
    return folder


def _check_trials(model_path: Path, plan: SweepPlan, trials: Sequence[tuple[str, ...]],
                  configs: Sequence[ModelConfig], folder: Path) -> None:
    """UsageError for a common setting (`--set`, the file's `set`) that a swept key overwrites in every trial, and
    for two grid points that train the same model (random draws may repeat: they are draws)."""
    paths = written_paths(model_path, plan.sets + trials[0])  # every trial writes the same keys
    for setting, written in zip(plan.sets, paths):
        for swept, swept_path in zip(trials[0], paths[len(plan.sets):]):
            if overlapping(written, swept_path):
                raise UsageError(f"set {setting!r}: the sweep sets {swept.partition('=')[0]} in every trial; give "
                                 "its values to the sweep only")
    if plan.random:
        return
    first_of: dict[str, int] = {}
    for index, cfg in enumerate(configs):
        same = first_of.setdefault(repr(cfg), index)
        if same != index:
            raise UsageError(f"trials {trial_dir(folder, same).name} ({' '.join(trials[same])}) and "
                             f"{trial_dir(folder, index).name} ({' '.join(trials[index])}) train the same model; "
                             "give each swept value once")


def _metric(plan: SweepPlan, trials: Sequence[tuple[str, ...]], configs: Sequence[ModelConfig], folder: Path) -> str:
    """The one metric every trial is judged on: the plan's, else val_accuracy where every trial holds out
    validation samples, else train_accuracy; UsageError for a validation metric a trial cannot report."""
    without = [index for index, cfg in enumerate(configs) if cfg.training.validation == 0]
    metric = plan.metric or ("train_accuracy" if without else "val_accuracy")
    if metric.startswith("val_") and without:
        raise UsageError(f"metric {metric}: trial {trial_dir(folder, without[0]).name} "
                         f"({' '.join(trials[without[0]])}) holds out no validation samples "
                         "(training.validation = 0); judge the trials on train_accuracy or set training.validation")
    return metric


def best_trial(rows: list[dict[str, Any]], metric: str, keys: Sequence[str]) -> str:
    """The line that names the best of the finished and early-stopped trials (the first of the best, in trial
    order), or "" when none has a result."""
    judged = [row for row in rows if row["status"] in ("done", "stopped early") and row[f"best_{metric}"] != ""]
    if not judged:
        return ""
    pick = (max if maximised(metric) else min)(judged, key=lambda row: row[f"best_{metric}"])
    return (f"best trial: {pick['trial']} ({' '.join(f'{key}={pick[key]}' for key in keys)}): {metric} "
            f"{pick[f'best_{metric}']:.6g} at epoch {pick['best_epoch']}, test accuracy {pick['test_accuracy']:.2%}; "
            f"{pick['run_dir']}")


#: A failed trial's error in results.csv is cut to this many characters.
MAX_ERROR = 500


def _error_line(error: BaseException) -> str:
    """What a failed trial raised, in one line: Ray wraps the trial's exception (`cause`) with its traceback."""
    cause = getattr(error, "cause", None) or error
    text = str(cause) if isinstance(cause, SnntrainError) else f"{type(cause).__name__}: {cause}"
    text = " ".join(text.split())
    return text if len(text) <= MAX_ERROR else text[:MAX_ERROR - 1] + "…"


def collect(folder: Path, plan: SweepPlan, trials: Sequence[tuple[str, ...]], errors: dict[int, str],
            metric: str) -> list[dict[str, Any]]:
    """One row per trial from its run directory (and the error of a failed one)."""
    rows = []
    for index, overrides in enumerate(trials):
        path = trial_dir(folder, index)
        row: dict[str, Any] = {"trial": path.name, **{k: v for k, v in (o.split("=", 1) for o in overrides)}}
        metrics = RunDir.open(path).read_metrics() if (path / "config.toml").exists() else []
        epochs = load_model(path / "config.toml").training.epochs if metrics else 0
        chosen = best_row(metrics, metric, maximised(metric))
        done = last_epoch(metrics)
        if metrics and done >= epochs:
            status = "done"
        elif index in errors:
            status = "failed"
        elif plan.scheduler == "asha" and (path / STOPPED).exists():
            status = "stopped early"
        else:
            status = f"epoch {done}/{epochs}" if metrics else "not started"
        row.update(status=status, epochs=done,
                   **{f"best_{metric}": chosen[metric] if chosen else "",
                      "best_epoch": int(chosen["epoch"]) if chosen else "",
                      "test_accuracy": chosen["test_accuracy"] if chosen else "",
                      "seconds": round(sum(r["epoch_seconds"] for r in metrics), 1) if metrics else "",
                      "error": errors.get(index, "") if status != "done" else "",
                      "run_dir": str(path)})
        rows.append(row)
    return rows


def write_results(folder: Path, plan: SweepPlan, rows: list[dict[str, Any]], metric: str) -> None:
    """results.csv, and plots/<key>.png of the best metric against each swept key (trials with a result; those
    stopped early are drawn hollow)."""
    atomic_write_text(folder / "results.csv", format_metrics(rows))
    shown = [row for row in rows if row["status"] in ("done", "stopped early") and row[f"best_{metric}"] != ""]
    if not shown:
        return
    log_keys = {r.key for r in plan.random if r.distribution == "loguniform"}
    for key in plan.keys:
        plot_best_by_key(key, [row[key] for row in shown], [row[f"best_{metric}"] for row in shown],
                         [row["status"] == "stopped early" for row in shown], f"best {metric}", key in log_keys,
                         folder / "plots" / f"{key.replace('/', '_')}.png")
