"""Which settings two resolved model configurations differ in, written as `--set` would set them."""
from __future__ import annotations

from typing import Any

from snntrain.config.emit import format_value, to_toml
from snntrain.config.load import parse_toml
from snntrain.config.model import ModelConfig


def config_differences(ours: ModelConfig, reference: ModelConfig) -> list[str]:
    """Every setting in which `ours` differs from `reference`, each as 'KEY = VALUE (reference: VALUE)' where
    `--set KEY=VALUE` would give `ours` that setting, in the order of the model file; empty when both train the
    same network in the same way.

    Both are compared as `to_toml` writes them: only the keys their chosen types use, and not the file they were
    read from. A table of another kind (another loss type, init distribution, augmentation...) is one difference,
    the whole table; so is a layer of another type. A different number of layers is 'layers: N layers
    (reference: M)'."""
    found: list[str] = []
    _compare(parse_toml(to_toml(ours), ours.source), parse_toml(to_toml(reference), reference.source), "", found)
    return found


def _compare(ours: Any, reference: Any, key: str, found: list[str]) -> None:
    if isinstance(ours, dict) and isinstance(reference, dict) and ours.keys() == reference.keys():
        for name in ours:
            _compare(ours[name], reference[name], f"{key}.{name}" if key else name, found)
    elif (isinstance(ours, list) and isinstance(reference, list) and ours and isinstance(ours[0], dict)
          and reference and isinstance(reference[0], dict)):  # the [[layers]] array
        if len(ours) != len(reference):
            found.append(f"{key}: {len(ours)} layers (reference: {len(reference)})")
            return
        for i, (mine, theirs) in enumerate(zip(ours, reference)):
            _compare(mine, theirs, f"{key}[{i}]", found)
    elif ours != reference:
        found.append(f"{key} = {format_value(ours)} (reference: {format_value(reference)})")
