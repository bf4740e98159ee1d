"""`snntrain train` and `snntrain eval`."""
from __future__ import annotations

import json
from pathlib import Path

import click

from snntrain.backends import DEVICES, get_backend
from snntrain.cli import main
from snntrain.config import load_model
from snntrain.errors import UsageError

device_option = click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True,
                             help="Where to run: auto picks CUDA when a GPU is present, else the CPU.")
data_dir_option = click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default="data",
                               show_default=True, help="Dataset directory (see `snntrain download`).")
set_option = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                          help="Override one model value (repeatable), e.g. --set training.epochs=5.")


@main.command()
@click.option("--model", type=click.Path(dir_okay=False, path_type=Path), help="Model file (TOML) for a new run.")
@set_option
@device_option
@data_dir_option
@click.option("--runs-dir", type=click.Path(file_okay=False, path_type=Path), default="runs", show_default=True,
              help="Where run directories are created.")
@click.option("--resume", type=click.Path(file_okay=False, path_type=Path),
              help="Continue the run in this directory from its last.h5.")
def train(model: Path | None, overrides: tuple[str, ...], device: str, data_dir: Path, runs_dir: Path,
          resume: Path | None) -> None:
    """Train a model; writes config, metrics, log, plots and best/last weights under runs/."""
    from snntrain.training.trainer import train as run_training

    run_training(model, overrides, get_backend(device), data_dir, runs_dir, resume, click.echo)


@main.command(name="eval")
@click.argument("run_dir", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--weights", type=click.Path(dir_okay=False, path_type=Path), help="Weights file (HDF5).")
@click.option("--model", type=click.Path(dir_okay=False, path_type=Path), help="Model file (TOML) of --weights.")
@set_option
@click.option("--split", type=click.Choice(["test", "train"]), default="test", show_default=True)
@device_option
@data_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def evaluate(run_dir: Path | None, weights: Path | None, model: Path | None, overrides: tuple[str, ...], split: str,
             device: str, data_dir: Path, as_json: bool) -> None:
    """Score saved weights: RUN_DIR (its best.h5 and config.toml), or --weights with --model."""
    from snntrain.runs import RunDir
    from snntrain.training.evaluate import evaluate as run_evaluation

    if run_dir is not None:
        run = RunDir.open(run_dir)
        weights, model = weights or run.best_path, model or run.config_path
    if weights is None or model is None:
        raise UsageError("give a run directory, or both --weights FILE.h5 and --model FILE.toml")
    result = run_evaluation(load_model(model, overrides), weights, get_backend(device), data_dir, split)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
        return
    click.echo(f"{split}: {result.samples} samples, accuracy {result.accuracy:.2%}, loss {result.loss:.4f}, "
               f"silent labels {result.silent_labels:.2%}")
    click.echo("mean spikes per neuron: " + ", ".join(f"{k} {v:.3f}" for k, v in result.mean_spikes.items()))
    click.echo("per-class accuracy: " + " ".join(f"{i}:{a:.1%}" for i, a in enumerate(result.per_class_accuracy)))
    click.echo("confusion matrix (rows: true, columns: predicted; last column: no prediction):")
    for row in result.confusion:
        click.echo(" ".join(f"{v:5d}" for v in row))
