"""Writes a resolved model back as TOML (saved beside each run), and formats values the way TOML spells them."""
from __future__ import annotations

import math
import re
from typing import Any

from snntrain.config import schema
from snntrain.config.model import ModelConfig
from snntrain.config.shapes import format_shape, layer_shapes, parameter_count

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def format_value(value: Any) -> str:
    """A TOML literal for a value of the types model files use (also how error messages show values)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        # repr is the shortest text that reads back as the same double, and is valid TOML ("1e-08", "0.13").
        return repr(value)
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{_key(k)} = {format_value(v)}" for k, v in value.items()) + " }"
    # TOML dates and times: model files never need them, but messages must still show them.
    return str(value)


def _quote(text: str) -> str:
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _key(name: str) -> str:
    return name if _BARE_KEY.match(name) else _quote(name)


def _lines(obj: Any, type_key: str | None, keys: dict[str, schema.Key]) -> list[str]:
    lines = [f"{type_key} = {format_value(getattr(obj, type_key))}"] if type_key else []
    for name, key in keys.items():
        if key.kind == "table":
            continue  # nested tables are written by the caller
        lines.append(f"{name} = {format_value(getattr(obj, name))}")
    return lines


def to_toml(cfg: ModelConfig) -> str:
    """The resolved model as TOML: every default filled in, only the keys its chosen types use.

    `load_model` of this text gives back an equal ModelConfig (apart from `source`, which is the file read).
    """
    inp = cfg.input
    out = [f"# snntrain model, resolved from {format_value(cfg.source)}" if cfg.source else "# snntrain model",
           f"name = {format_value(cfg.name)}", "",
           "[input]",
           f"dataset = {format_value(inp.dataset)}  # {format_shape(inp.shape)}, {inp.classes} classes",
           *_lines(inp, "encoding", {k: v for k, v in schema.INPUT.tables[inp.encoding].items() if k != "dataset"}),
           "",
           "[simulation]",
           f"t_max = {format_value(cfg.t_max)}",
           f"precision = {format_value(cfg.precision)}"]
    for layer, shape, params in zip(cfg.layers, layer_shapes(cfg), parameter_count(cfg)):
        out += ["", f"[[layers]]  # output {format_shape(shape)}, {params} parameters"]
        keys = schema.LAYER.tables[layer.type]
        out += _lines(layer, "type", keys)
        if "init" in keys:
            init = layer.init
            fields = {"distribution": init.distribution}
            fields.update({name: getattr(init, name) for name in schema.INIT.tables[init.distribution]})
            out.append(f"init = {format_value(fields)}")
    for title, obj, variants in (("loss", cfg.loss, schema.LOSS),
                                 ("optimizer", cfg.optimizer, schema.OPTIMIZER),
                                 ("schedule", cfg.schedule, schema.SCHEDULE),
                                 ("augment", cfg.augment, schema.AUGMENT)):
        out += ["", f"[{title}]", *_lines(obj, "type", variants.tables[obj.type])]
    out += ["", "[training]", *_lines(cfg.training, None, schema.TRAINING)]
    return "\n".join(out) + "\n"
