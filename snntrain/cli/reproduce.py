"""`snntrain reproduce`: the reference configurations trained to their full schedules, and a results table."""
from __future__ import annotations

from pathlib import Path

import click

from snntrain.cli import main
from snntrain.cli.options import data_dir_option, device_option, runs_dir_option
from snntrain.errors import UsageError


@main.command()
@click.option("--only", multiple=True, metavar="NAME",
              help="Only this configuration (repeatable): a model (ttfs, fashion, conv, count, emnist) or "
                   "model-dataset (ttfs-fashion-mnist).")
@click.option("--seeds", default="0,1,2", show_default=True, help="Seeds, comma-separated.")
@click.option("--smoke", is_flag=True,
              help="One short epoch per configuration on a data subset (checks the path, not the accuracy).")
@device_option
@data_dir_option
@runs_dir_option
def reproduce(only: tuple[str, ...], seeds: str, smoke: bool, device: str, data_dir: Path, runs_dir: Path) -> None:
    """Train each reference configuration (SPEC §7) on every downloaded dataset to its full schedule, resuming
    what an earlier call left; writes results.md and results.csv under runs/reproduce-full (or -smoke)."""
    from snntrain.training.reproduce import reproduce as run_all

    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError:
        raise UsageError(f"--seeds {seeds!r}: give integers separated by commas, e.g. 0,1,2") from None
    if not seed_list:
        raise UsageError("--seeds: give at least one seed, e.g. 0,1,2")
    out_dir = runs_dir / ("reproduce-smoke" if smoke else "reproduce-full")
    run_all(only, seed_list, smoke, device, data_dir, out_dir, click.echo)
