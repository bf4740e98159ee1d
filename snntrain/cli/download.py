"""`snntrain download`."""
from __future__ import annotations

from pathlib import Path

import click

from snntrain.cli import main
from snntrain.cli.options import data_dir_option
from snntrain.data.registry import DATASETS

_NAMES = tuple(name for name, info in DATASETS.items() if info.downloadable)  # digits ships with the package


@main.command()
@click.argument("name", type=click.Choice(_NAMES))
@data_dir_option
@click.option("--from", "source", metavar="URL|DIR",
              help="A mirror base URL, or a local directory holding the official files, instead of the defaults.")
@click.option("--force", is_flag=True, help="Fetch and convert again even if the dataset is present.")
def download(name: str, data_dir: Path, source: str | None, force: bool) -> None:
    """Download dataset NAME, verify its checksums and convert it to DATA_DIR/NAME.npz (images) or
    DATA_DIR/NAME/{train,test}.h5 (event streams: shd, nmnist).

    Running it again is a no-op once the dataset is present and verified. Interrupted downloads resume.
    """
    # Imported here: `snntrain --help` should not pay for requests and friends.
    from snntrain.data.store import download_dataset
    from snntrain.errors import UsageError

    if source is not None and not source.strip():
        raise UsageError("--from is empty; give a base URL or a directory (--from . for this one)")
    download_dataset(name, data_dir, source=source, force=force, log=click.echo)
