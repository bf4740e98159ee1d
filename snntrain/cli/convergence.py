"""`snntrain convergence`: the single- vs multi-spike convergence study (SPEC §8)."""
from __future__ import annotations

from pathlib import Path

import click

from snntrain.cli import main
from snntrain.cli.options import device_option, runs_dir_option


@main.command()
@click.option("--model", "which", type=click.Choice(["ttfs", "count", "both"]), default="both", show_default=True,
              help="ttfs: single spike (TTFS CE loss); count: multi-spike (spike-count loss).")
@click.option("--repeats", type=int, default=100, show_default=True, help="Networks per grid cell.")
@click.option("--grid", default="0:2.5:0.2", show_default=True,
              help="Values of the initial weights' mean and std, start:stop:step (stop excluded).")
@click.option("--epochs", type=int, default=50, show_default=True,
              help="Full-batch gradient steps per network (its best accuracy over them counts).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the initial weights (one draw serves both models).")
@click.option("--address", metavar="ADDRESS",
              help="Train the networks on a Ray cluster (ray://host:10001, host:6379, or local for an embedded "
                   "instance), one batch of networks per worker; the same results (needs 'snntrain[sweep]').")
@device_option
@runs_dir_option
def convergence(which: str, repeats: int, grid: str, epochs: int, seed: int, address: str | None, device: str,
                runs_dir: Path) -> None:
    """Train every (mean, std) cell x repeats network on the toy task; write results.csv and heat maps."""
    from snntrain.training.convergence import parse_axis, run_study

    models = ["ttfs", "count"] if which == "both" else [which]
    run = run_study(device, models, parse_axis(grid), repeats, epochs, seed, runs_dir, click.echo, address)
    click.echo(f"results: {run.path / 'results.csv'}, heat maps: {run.path / 'convergence.png'} (and .pdf)")
