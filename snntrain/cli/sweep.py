"""`snntrain sweep`: a grid of trainings of one model on Ray Tune, on this machine or a Ray cluster."""
from __future__ import annotations

from pathlib import Path

import click

from snntrain.cli import main
from snntrain.cli.options import data_dir_option, device_option, runs_dir_option, set_option


@main.command()
@click.option("--model", required=True, metavar="PATH",
              help="Model file (TOML), or the name of a packaged one (ttfs, fashion, ...).")
@set_option
@click.option("--grid", "grid", multiple=True, metavar="KEY=V1,V2|KEY=A..B",
              help="Values of one --set key to sweep (repeatable; every combination is a trial), e.g. "
                   "--grid 'optimizer.lr=0.001,0.002' --grid 'training.seed=0..4'.")
@click.option("--address", envvar="RAY_ADDRESS", metavar="ADDRESS",
              help="A Ray cluster (ray://host:10001 or host:6379; or RAY_ADDRESS). Default: a local Ray instance.")
@click.option("--cpus-per-trial", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--max-failures", type=click.IntRange(min=0), default=1, show_default=True,
              help="Retries of a trial whose worker died or that raised.")
@click.option("--metric", default="val_accuracy", show_default=True,
              help="The metrics.csv column a trial is judged on (train_accuracy without a validation split).")
@device_option
@data_dir_option
@runs_dir_option
def sweep(model: str, overrides: tuple[str, ...], grid: tuple[str, ...], address: str | None, cpus_per_trial: int,
          max_failures: int, metric: str, device: str, data_dir: Path, runs_dir: Path) -> None:
    """Train every combination of the --grid values as its own run; resumable; writes results.csv and plots
    under runs/sweep-*/ (needs pip install 'snntrain[sweep]')."""
    from snntrain.training.sweep import run_sweep

    run_sweep(model, overrides, grid, runs_dir, data_dir, address, device, cpus_per_trial, max_failures, metric,
              click.echo)
