"""`snntrain show`: print a model file as resolved (defaults filled in, overrides applied, shapes derived)."""
from __future__ import annotations

import math
from pathlib import Path

import click

from snntrain.cli import main
from snntrain.cli.options import add_model_options
from snntrain.config import (
    AugmentConfig,
    InitConfig,
    LossConfig,
    ModelConfig,
    OptimizerConfig,
    ScheduleConfig,
    format_shape,
    layer_shapes,
    load_model,
    load_model_text,
    parameter_count,
)
from snntrain.config import schema
from snntrain.config.emit import format_value


@main.command()
@add_model_options
def show(model: str, overrides: tuple[str, ...]) -> None:
    """Print the resolved model: input, layers with shapes and parameter counts, loss, optimizer, training.
    --model may also name a run directory (its config.toml) or a checkpoint (.h5: the model it was trained with)."""
    path = Path(model)
    if path.is_dir() and (path / "config.toml").is_file():
        model = str(path / "config.toml")
    elif path.suffix == ".h5" and path.is_file():
        from snntrain.errors import ConfigError, SnntrainError
        from snntrain.runs import load_checkpoint  # h5py, only for a checkpoint

        try:
            text = load_checkpoint(path).config_toml
        except SnntrainError as exc:  # what --model names is not usable: a model-file error (exit 2)
            raise ConfigError(str(exc)) from None
        click.echo(format_model(load_model_text(text, model, overrides)), nl=False)
        return
    click.echo(format_model(load_model(model, overrides)), nl=False)


def format_model(cfg: ModelConfig) -> str:
    """A human-readable summary of a resolved model, one fact per line, ending in a newline."""
    inp = cfg.input
    lines = [
        f"model       {cfg.name}",
        f"source      {cfg.source}",
        f"dataset     {inp.dataset} ({format_shape(inp.shape)}, {inp.classes} classes)",
        f"encoding    {_encoding(cfg)}",
        f"t_max       {_g(cfg.t_max)} s",
        f"precision   {cfg.precision}",
        "layers",
    ]
    counts = parameter_count(cfg)
    rows = [("#", "type", "output", "neurons", "tau_s", "theta", "delta_theta", "max_spikes", "init", "parameters")]
    for i, (layer, shape, params) in enumerate(zip(cfg.layers, layer_shapes(cfg), counts)):
        if layer.type == "pool":
            kind, lif = f"pool {layer.size}", ("-",) * 5
        else:
            kind = "dense" if layer.type == "dense" else f"conv {layer.kernel[0]}x{layer.kernel[1]}"
            lif = (_g(layer.tau_s), _g(layer.theta), _g(layer.delta_theta), str(layer.max_spikes),
                   _init(layer.init))
        rows.append((str(i), kind, format_shape(shape), str(math.prod(shape)), *lif, f"{params:,}"))
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    lines += ["  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines += [
        f"parameters  {sum(counts):,}",
        f"loss        {_variant(cfg.loss, schema.LOSS)}",
        f"optimizer   {_variant(cfg.optimizer, schema.OPTIMIZER)}",
        f"schedule    {_variant(cfg.schedule, schema.SCHEDULE)}",
        f"augment     {_variant(cfg.augment, schema.AUGMENT)}",
        "training    " + ", ".join(f"{key} {_amount(key, getattr(cfg.training, key))}"
                                   for key in ("epochs", "batch_size", "test_batch_size", "train_samples",
                                               "test_samples", "validation", "seed")),
    ]
    return "\n".join(lines) + "\n"


def _encoding(cfg: ModelConfig) -> str:
    """"latency, t_window 0.1 s" or "events, resolution 0.001 s, max_input_spikes 20"."""
    inp = cfg.input
    if inp.encoding == "latency":
        return f"latency, t_window {_g(inp.t_window)} s"
    return f"events, resolution {_g(inp.resolution)} s, max_input_spikes {inp.max_input_spikes}"


def _g(x: float) -> str:
    return f"{x:g}"


def _init(init: InitConfig) -> str:
    if init.distribution == "uniform":
        return f"U({_g(init.low)}, {_g(init.high)})"
    return f"N({_g(init.mean)}, {_g(init.std)})"


def _variant(obj: LossConfig | OptimizerConfig | ScheduleConfig | AugmentConfig, variants: schema.Variants) -> str:
    """"count: n_true 15, n_false 3": the type and the keys that type uses."""
    kind = obj.type
    params = ", ".join(f"{key} {format_value(getattr(obj, key))}" for key in variants.tables[kind])
    return f"{kind}: {params}" if params else kind


def _amount(key: str, value: int | float) -> str:
    # Sample limits of 0 mean the whole split.
    if key == "validation":
        return "none" if value == 0 else f"{value:g} of the training samples" if isinstance(value, float) else str(value)
    return "all" if key.endswith("_samples") and value == 0 else str(value)
