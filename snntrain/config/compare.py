"""Which settings two resolved model configurations differ in, named by the keys `--set` takes."""
from __future__ import annotations

import dataclasses
from typing import Any

from snntrain.config.emit import format_value
from snntrain.config.model import ModelConfig

#: Fields that are not settings: the file a configuration was read from, and what the dataset's name decides.
_NOT_SETTINGS = {"source", "input.shape", "input.classes"}
#: Fields that model files keep in a table of another name.
_KEYS = {"t_max": "simulation.t_max", "precision": "simulation.precision"}


def config_differences(ours: ModelConfig, reference: ModelConfig) -> list[str]:
    """Every setting in which `ours` differs from `reference`, each as 'key = value (reference: value)', in the
    order of the configuration's fields; empty when both train the same network in the same way."""
    found: list[str] = []
    _compare(ours, reference, "", found)
    return found


def _compare(ours: Any, reference: Any, key: str, found: list[str]) -> None:
    if dataclasses.is_dataclass(ours) and type(ours) is type(reference):
        if getattr(ours, "type", None) != getattr(reference, "type", None):  # another kind: its other keys are
            # that kind's, and the type says all
            found.append(f"{key}.type = {format_value(ours.type)} (reference: {format_value(reference.type)})")
            return
        for f in dataclasses.fields(ours):
            name = f"{key}.{f.name}" if key else _KEYS.get(f.name, f.name)
            if name not in _NOT_SETTINGS:
                _compare(getattr(ours, f.name), getattr(reference, f.name), name, found)
    elif key == "layers":
        if len(ours) != len(reference):
            found.append(f"layers: {len(ours)} layers (reference: {len(reference)})")
            return
        for i, (mine, theirs) in enumerate(zip(ours, reference)):
            _compare(mine, theirs, f"layers[{i}]", found)
    elif ours != reference:
        found.append(f"{key} = {format_value(ours)} (reference: {format_value(reference)})")
