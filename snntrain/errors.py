"""User-facing errors: each is reported as one line and a non-zero exit code, never a traceback."""
from __future__ import annotations

import os
from pathlib import Path


class SnntrainError(Exception):
    """An error the user can act on. `exit_code` is what the CLI exits with."""

    exit_code = 1


class ConfigError(SnntrainError):
    """A model file or `--set` override is invalid (exit code 2, like click's usage errors)."""

    exit_code = 2


class UsageError(SnntrainError):
    """A command was given arguments that do not go together (exit code 2, like click's usage errors)."""

    exit_code = 2


class DataError(SnntrainError):
    """A dataset is missing, corrupt, or cannot be fetched."""

    exit_code = 1


def shown(value: object, limit: int = 60) -> str:
    """`value` for a one-line message: its repr when short, a long string's start, else its type (and shape, for
    an array)."""
    text = repr(value)
    if len(text) <= limit and "\n" not in text:
        return text
    if isinstance(value, str):
        return repr(value[:limit - 5]) + "..."
    try:
        shape = f" of shape {tuple(value.shape)}"  # type: ignore[attr-defined]
    except (AttributeError, TypeError):
        shape = ""
    return type(value).__name__ + shape


def as_path(value: object, name: str) -> Path:
    """`value` (a str or path-like object, as a Python API caller gives a file or folder) as a Path; SnntrainError
    naming the argument `name` for anything else, or for an empty string (which Path reads as the current folder)."""
    if isinstance(value, (str, os.PathLike)) and str(value) != "":
        return Path(value)
    raise SnntrainError(f"{name}={value!r}: give a path (a non-empty str or pathlib.Path)")
