"""`snntrain bench`: measured speed and memory (never asserted, only reported)."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click

from snntrain.backends import get_backend
from snntrain.cli import main
from snntrain.cli.options import data_dir_option, device_option, runs_dir_option, set_option
from snntrain.config import load_model


@main.command()
@click.option("--model", metavar="PATH", default="ttfs", show_default=True,
              help="Model file (TOML) to measure, or the name of a packaged one (ttfs, fashion, conv, ...).")
@set_option
@device_option
@click.option("--sweep", type=click.Choice(["neurons", "batch", "spikes", "layers"]),
              help="Scale one parameter: hidden neurons, batch size, spikes per neuron or hidden layers.")
@click.option("--values", help="Comma-separated sweep values (default: the standard set of the sweep).")
@click.option("--steps", type=int, default=5, show_default=True, help="Batches per timed repeat.")
@click.option("--repeats", type=int, default=3, show_default=True, help="Timed repeats (the median is reported).")
@data_dir_option
@runs_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON (progress on stderr).")
def bench(model: str, overrides: tuple[str, ...], device: str, sweep: str | None, values: str | None, steps: int,
          repeats: int, data_dir: Path, runs_dir: Path, as_json: bool) -> None:
    """Training and forward samples/s, time per kernel and peak memory, on real Fashion-MNIST when present."""
    from snntrain.errors import UsageError
    from snntrain.training.bench import format_table, run_bench

    if values is not None and not sweep:
        raise UsageError(f"--values {values!r}: give --sweep too (neurons, batch, spikes or layers)")
    try:  # an empty --values is an error, not the standard set
        sweep_values = [int(v) for v in values.split(",")] if values is not None else None
    except ValueError:
        raise UsageError(f"--values {values!r}: expected comma-separated integers") from None
    if sweep == "layers" and sweep_values and min(sweep_values) < 0:  # the others are checked as model files
        raise UsageError(f"--values {values!r}: each layers value must be >= 0 (hidden layers)")
    if steps < 1 or repeats < 1:
        raise UsageError("--steps and --repeats must be >= 1")
    # with --json, stdout holds the JSON alone and the progress lines go to stderr
    echo = (lambda line: click.echo(line, err=True)) if as_json else click.echo
    run, results = run_bench(load_model(model, overrides), get_backend(device), data_dir, sweep, sweep_values,
                             steps, repeats, runs_dir, echo)
    if as_json:
        click.echo(json.dumps([asdict(m) for m in results], indent=2))
        return
    click.echo(format_table(results), nl=False)
    click.echo(f"written: {run.path / 'bench.json'}")
