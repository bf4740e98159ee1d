"""The `--model` / `--set` click options shared by every command that reads a model file."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def add_model_options(command: F) -> F:
    """Add `--model PATH` (required) and `--set KEY=VALUE` (repeatable) to a click command.

    The command receives them as `model: str` and `overrides: tuple[str, ...]`; pass both to `load_model`.
    """
    command = click.option(
        "--set", "overrides", multiple=True, metavar="KEY=VALUE",
        help="Override one model value (repeatable), e.g. --set optimizer.lr=0.001 --set 'layers[0].tau_s=0.1'.",
    )(command)
    return click.option(
        "--model", "model", required=True, metavar="PATH", help="Model file (TOML), e.g. models/default.toml.",
    )(command)
