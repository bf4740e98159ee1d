"""`snntrain sweep`: many trainings of one model (a grid and random draws of --set values) on Ray Tune, on this
machine or a Ray cluster."""
from __future__ import annotations

from pathlib import Path

import click

from snntrain.cli import main
from snntrain.cli.options import PathParam, data_dir_option, device_option, runs_dir_option, set_option
from snntrain.config.sweep import METRICS, SweepPlan, load_sweep, merge_command_line, parse_duration


@main.command()
@click.argument("sweep_file", required=False, type=PathParam(path_type=Path, dir_okay=False))
@click.option("--model", metavar="PATH",
              help="Model file (TOML), or the name of a packaged one (ttfs, fashion, ...); replaces the sweep "
                   "file's.")
@set_option
@click.option("--grid", "grid", multiple=True, metavar="KEY=V1,V2|KEY=A..B",
              help="Values of one --set key to sweep (repeatable; every combination is a trial), e.g. "
                   "--grid 'optimizer.lr=0.001,0.002' --grid 'training.seed=0..4'.")
@click.option("--address", envvar="RAY_ADDRESS", metavar="ADDRESS",
              help="A Ray cluster (ray://host:10001 or host:6379; or RAY_ADDRESS). Default: a local Ray instance.")
@click.option("--metric", type=click.Choice(METRICS),
              help="The metrics.csv column trials are judged on (losses minimised, accuracies maximised). "
                   "[default: val_accuracy; train_accuracy without a validation split]")
@click.option("--scheduler", type=click.Choice(["none", "asha"]),
              help="asha: stop trials that trail the others at epochs grace, grace*3, ... [default: none]")
@click.option("--time-budget", metavar="DURATION",
              help="Stop the sweep after this long (3600, 90m, 2h); the same command goes on from there.")
@click.option("--cpus-per-trial", type=click.IntRange(min=1), help="[default: 1]")
@click.option("--max-failures", type=click.IntRange(min=0),
              help="Retries of a trial whose worker died or that raised. [default: 1]")
@click.option("--dry-run", is_flag=True, help="List the trials and their run directories; train nothing.")
@device_option
@data_dir_option
@runs_dir_option
def sweep(sweep_file: Path | None, model: str | None, overrides: tuple[str, ...], grid: tuple[str, ...],
          address: str | None, metric: str | None, scheduler: str | None, time_budget: str | None,
          cpus_per_trial: int | None, max_failures: int | None, dry_run: bool, device: str, data_dir: Path,
          runs_dir: Path) -> None:
    """Train every trial of a sweep (SWEEP_FILE's [sweep] table and/or --grid) as its own run; resumable;
    writes results.csv and plots under runs/sweep-*/ (needs pip install 'snntrain[sweep]'). A sweep file adds
    random draws, early stopping and a budget: see examples/sweep_ttfs.toml."""
    from snntrain.training.sweep import run_sweep

    plan = load_sweep(sweep_file) if sweep_file is not None else SweepPlan()
    budget = parse_duration(time_budget, "--time-budget") if time_budget is not None else None
    plan = merge_command_line(plan, model, overrides, grid, metric=metric, scheduler=scheduler,
                              time_budget_s=budget, cpus_per_trial=cpus_per_trial, max_failures=max_failures)
    run_sweep(plan, runs_dir, data_dir, address, device, click.echo, dry_run)
