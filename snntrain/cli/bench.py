"""`snntrain bench`: measured speed and memory (never asserted, only reported)."""
from __future__ import annotations

from pathlib import Path

import click

from snntrain.cli import main
from snntrain.cli.options import data_dir_option, device_option, runs_dir_option, set_option
from snntrain.config import load_model

# Bounds on what a benchmark may ask for: the inputs of all steps are uploaded at once, and the standard sweeps
# stay far below these.
MAX_STEPS = 10_000
MAX_REPEATS = 1_000
MAX_LAYERS = 1_000


@main.command()
@click.option("--model", metavar="PATH", default="ttfs", show_default=True,
              help="Model file (TOML) to measure, or the name of a packaged one (ttfs, fashion, conv, ...).")
@set_option
@device_option
@click.option("--sweep", type=click.Choice(["neurons", "batch", "spikes", "layers"]),
              help="Scale one parameter: hidden neurons, batch size, spikes per neuron or hidden layers.")
@click.option("--values", help="Comma-separated sweep values (default: the standard set of the sweep).")
@click.option("--steps", type=int, default=5, show_default=True,
              help=f"Batches per timed repeat (1 to {MAX_STEPS:,}; their inputs are held in memory together).")
@click.option("--repeats", type=int, default=3, show_default=True,
              help=f"Timed repeats, the median is reported (1 to {MAX_REPEATS:,}).")
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
    # the others are checked as model files (a huge layer count would take minutes to check, one layer at a time)
    if sweep == "layers" and sweep_values and not all(0 <= v <= MAX_LAYERS for v in sweep_values):
        raise UsageError(f"--values {values!r}: each layers value must be in 0..{MAX_LAYERS} (hidden layers)")
    if not (1 <= steps <= MAX_STEPS and 1 <= repeats <= MAX_REPEATS):
        raise UsageError(f"--steps {steps} --repeats {repeats}: --steps must be in 1..{MAX_STEPS:,} and --repeats in "
                         f"1..{MAX_REPEATS:,}")
    # with --json, stdout holds the JSON alone and the progress lines go to stderr
    echo = (lambda line: click.echo(line, err=True)) if as_json else click.echo
    run, results = run_bench(load_model(model, overrides), device, data_dir, sweep, sweep_values,
                             steps, repeats, runs_dir, echo)
    if as_json:  # what bench.json holds: the dataset measured on, the device, values left out, and the results
        click.echo((run.path / "bench.json").read_text())
        return
    click.echo(format_table(results), nl=False)
    click.echo(f"written: {run.path / 'bench.json'}, {run.path / 'table.txt'}")
