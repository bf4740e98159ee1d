"""`snntrain train` and `snntrain eval`."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from snntrain.cli import main
from snntrain.cli.options import PathParam, data_dir_option, device_option, runs_dir_option, set_option
from snntrain.config import load_model
from snntrain.errors import SnntrainError, UsageError


@main.command()
@click.option("--model", metavar="PATH",
              help="Model file (TOML) for a new run, or the name of a packaged one (default, ttfs, fashion, ...).")
@set_option
@device_option
@data_dir_option
@runs_dir_option
@click.option("--resume", type=PathParam(file_okay=False, path_type=Path),
              help="Continue the run in this directory from its last.h5.")
def train(model: str | None, overrides: tuple[str, ...], device: str, data_dir: Path, runs_dir: Path,
          resume: Path | None) -> None:
    """Train a model; writes config, metrics, log, plots and best/last weights under runs/."""
    from snntrain.model import Model

    if resume is not None and model is not None:  # a resumed run trains its own config.toml
        raise UsageError("give --model for a new run or --resume for an old one, not both (--set changes a resumed "
                         "run's settings)")
    # a bar redraws a terminal line; into a file or pipe it would write a bare "epoch N" line per epoch
    callbacks = [_progress_bar()] if sys.stderr.isatty() else []
    if resume is not None:
        Model.resume(resume, data_dir, overrides, device, callbacks, click.echo)
    elif model is not None:
        Model.from_toml(model, overrides, device).fit(data_dir, runs_dir=runs_dir, callbacks=callbacks,
                                                      echo=click.echo)
    else:
        raise UsageError("give --model FILE.toml for a new run, or --resume runs/DIR to continue one")


def _progress_bar() -> Any:
    """The per-epoch progress bar on stderr (samples/s, running loss and accuracy), as a training callback."""
    from snntrain.training.callbacks import Callback

    class ProgressBar(Callback):
        def __init__(self) -> None:
            self.bar: Any = None
            self.text = ""
            self.done = 0

        def on_epoch_begin(self, epoch: int, samples: int) -> None:
            self.bar = click.progressbar(length=samples, label=f"epoch {epoch}", file=sys.stderr,
                                         item_show_func=lambda _: self.text)
            self.bar.__enter__()
            self.done = 0

        def on_batch_end(self, epoch: int, stats: Any) -> None:
            self.text = (f"{stats.samples / max(stats.seconds, 1e-9):.0f} samples/s  loss {stats.loss:.4f}  "
                         f"acc {stats.accuracy:.2%}")
            self.bar.update(stats.samples - self.done)
            self.done = stats.samples

        def on_epoch_end(self, epoch: int, row: dict[str, float]) -> None:
            self.on_train_end()

        def on_train_end(self) -> None:
            if self.bar is not None:
                self.bar.__exit__(None, None, None)
                self.bar = None

    return ProgressBar()


@main.command(name="eval")
@click.argument("run_dir", required=False, type=PathParam(path_type=Path))
@click.option("--weights", type=PathParam(dir_okay=False, path_type=Path), help="Weights file (HDF5).")
@click.option("--model", metavar="PATH", help="Model file (TOML) to score --weights with, instead of the model "
                                              "the weights file holds.")
@set_option
@click.option("--split", type=click.Choice(["train", "validation", "test"]), default="test", show_default=True,
              help="train: the samples training used; validation: those it held out ([training] validation).")
@device_option
@data_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def evaluate(run_dir: Path | None, weights: Path | None, model: str | None, overrides: tuple[str, ...], split: str,
             device: str, data_dir: Path, as_json: bool) -> None:
    """Score saved weights with the model that trained them (held in the weights file): RUN_DIR's best.h5, or
    --weights FILE.h5; --model scores them with another model file."""
    from snntrain.runs import RunDir
    from snntrain.model import Model

    if run_dir is not None and run_dir.is_file():
        raise UsageError(f"{run_dir} is a file; RUN_DIR is a run directory (to score a checkpoint: --weights "
                         f"{run_dir})")
    if run_dir is not None and weights is None:
        run = RunDir.open(run_dir)
        if not run.best_path.exists():
            raise SnntrainError(f"{run.path} has no best.h5: no epoch has completed yet (resume it with snntrain "
                                f"train --resume {run.path})")
        weights = run.best_path
    if weights is None:
        raise UsageError("give a run directory, or --weights FILE.h5")
    # config.toml is the model training goes on with, which a resume with --set may have changed since best.h5
    scored = (Model(load_model(model, overrides), device=device).load_weights(weights) if model is not None
              else Model.from_checkpoint(weights, device=device, overrides=overrides))
    result = scored.evaluate(split, data_dir)
    if as_json:
        click.echo(json.dumps({"weights": str(weights), **result.as_dict()}, indent=2))
        return
    click.echo(f"weights: {weights}")
    click.echo(f"{split}: {result.samples} samples, accuracy {result.accuracy:.2%}, loss {result.loss:.4f}, "
               f"silent labels {result.silent_labels:.2%}")
    click.echo("mean spikes per neuron: " + ", ".join(f"{k} {v:.3f}" for k, v in result.mean_spikes.items()))
    # a class absent from the split has no accuracy: "-", not "nan%"
    click.echo("per-class accuracy: " + " ".join(f"{i}:{'-' if a != a else f'{a:.1%}'}"
                                                 for i, a in enumerate(result.per_class_accuracy)))
    click.echo("confusion matrix (rows: true, columns: predicted; last column: no prediction):")
    for row in result.confusion:
        click.echo(" ".join(f"{v:5d}" for v in row))
