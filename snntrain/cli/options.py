"""The command-line options that several commands share, defined once: --device, --data-dir, --runs-dir, --set,
the --model/--set pair of commands that require a model file, and the type of every path argument."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from snntrain.devices import DEVICES

F = TypeVar("F", bound=Callable[..., Any])


class PathParam(click.Path):
    """`click.Path` that refuses an empty value, which click would take for the current folder."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value:
            self.fail("is empty; give a path", param, ctx)
        return super().convert(value, param, ctx)


device_option = click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True,
                             help="Where to run: auto picks CUDA when a GPU is present, else the CPU.")
data_dir_option = click.option("--data-dir", type=PathParam(file_okay=False, path_type=Path), default=Path("data"),
                               show_default=True, help="The folder `snntrain download` writes datasets to.")
runs_dir_option = click.option("--runs-dir", type=PathParam(file_okay=False, path_type=Path), default=Path("runs"),
                               show_default=True, help="Where run directories are created.")
set_option = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                          help="Override one model value (repeatable), e.g. --set optimizer.lr=0.001 "
                               "--set 'layers[0].tau_s=0.1'.")


def add_model_options(command: F) -> F:
    """Add `--model PATH` (required) and `--set KEY=VALUE` (repeatable) to a click command.

    The command receives them as `model: str` and `overrides: tuple[str, ...]`; pass both to `load_model`.
    """
    command = set_option(command)
    return click.option(
        "--model", "model", required=True, metavar="PATH",
        help="Model file (TOML), e.g. models/default.toml, or the name of a packaged one (ttfs, fashion, ...).",
    )(command)
