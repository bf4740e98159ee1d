"""`snntrain export` and `snntrain import`: trained networks to and from NIR files."""
from __future__ import annotations

from pathlib import Path

import click

from snntrain.cli import main
from snntrain.cli.options import PathParam
from snntrain.errors import UsageError


@main.command()
@click.argument("run_dir", type=PathParam(file_okay=False, path_type=Path))
@click.option("--weights", "which", type=click.Choice(["best", "last"]), default="best", show_default=True,
              help="The run's checkpoint to export.")
@click.option("--format", "fmt", type=click.Choice(["nir"]), default="nir", show_default=True)
@click.option("-o", "--output", type=PathParam(dir_okay=False, path_type=Path), required=True,
              help="The file to write, e.g. model.nir.")
def export(run_dir: Path, which: str, fmt: str, output: Path) -> None:
    """Write a run's network (its best or last weights) as a NIR graph (Linear or Conv2d + CubaLIF, SumPool2d)."""
    from snntrain.model import Model
    from snntrain.runs import is_checkpoint

    if is_checkpoint(output):  # -o RUN/best.h5 replaced the run's weights
        raise UsageError(f"-o {output}: an snntrain checkpoint is there; write the NIR file elsewhere")
    Model.from_run(run_dir, which, device="cpu").to_nir(output)
    click.echo(f"wrote {output} ({fmt.upper()}, the {which} weights of {run_dir})")


@main.command(name="import")
@click.argument("nir_file", type=PathParam(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=PathParam(dir_okay=False, path_type=Path), required=True,
              help="The model file to write, e.g. models/imported.toml; the weights go beside it (.h5).")
@click.option("--dataset", help="The dataset the network takes (default: the file's, or guessed from its inputs).")
@click.option("--t-max", type=float, help="Simulation end in seconds (default: the file's, or 0.2).")
@click.option("--max-spikes", type=int, help="Spike buffer per neuron (default: the file's, or 30).")
def import_nir(nir_file: Path, output: Path, dataset: str | None, t_max: float | None,
               max_spikes: int | None) -> None:
    """Read a NIR graph into a model file and a weights checkpoint (`snntrain eval --weights W --model M`)."""
    from snntrain.model import Model
    from snntrain.config import to_toml
    from snntrain.runs import atomic_write_text, make_dirs

    if output.suffix != ".toml":
        raise UsageError(f"-o {output}: give a .toml path; the weights are written beside it as .h5")
    if max_spikes is not None and max_spikes < 1:
        raise UsageError(f"--max-spikes {max_spikes}: must be >= 1")
    if t_max is not None and not 0 < t_max < float("inf"):
        raise UsageError(f"--t-max {t_max}: must be a finite number > 0")
    model = Model.from_nir(nir_file, dataset, t_max, max_spikes, device="cpu")
    make_dirs(output.parent)
    model.save(output.with_suffix(".h5"))  # the weights first: a model file never stands beside other weights
    atomic_write_text(output, to_toml(model.config))
    click.echo(f"wrote {output} and {output.with_suffix('.h5')}")
