"""Reads a model file, applies `--set` overrides, fills in defaults and validates every value.

Every problem is a ConfigError of one line: `<file>: <key path> = <value>: <what is wrong>; allowed: <...>`.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import stat
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from snntrain.config import schema
from snntrain.config.emit import format_value
from snntrain.config.model import (
    AugmentConfig,
    InitConfig,
    InputConfig,
    LayerConfig,
    LossConfig,
    ModelConfig,
    OptimizerConfig,
    ScheduleConfig,
    TrainingConfig,
)
from snntrain.config.shapes import ShapeMismatch, next_shape, step_batch, step_bytes
from snntrain.data.registry import DATASETS
from snntrain.errors import ConfigError

_MISSING = object()
# Run folders are named NAME-YYYYmmdd-HHMMSS (sweeps and `reproduce` add more): a name stays well inside the file
# systems' 255 bytes.
MAX_NAME = 200
_NAME = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9._-]{{0,{MAX_NAME - 1}}}$")
_SEGMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*)((?:\[-?[0-9]+\])*)")
_TOML_WHERE = re.compile(r"\s*\((?:at line (\d+), column (\d+)|at end of document)\)$")


#: The reference model files, installed with the package (the clone's `models/` links here).
PACKAGED_MODELS = Path(__file__).resolve().parent.parent / "models"


def packaged_models() -> list[str]:
    """Names of the model files that come with snntrain (`ttfs`, `fashion`, ...), usable wherever a path is."""
    return sorted(path.stem for path in PACKAGED_MODELS.glob("*.toml"))


def resolve_model_path(path: str | Path) -> Path:
    """`path` itself, or for a bare name that is not a file here (no folder, no suffix: "ttfs"), the packaged
    model file of that name, so that the reference models work outside a clone."""
    if not str(path):  # Path("") would be the current folder
        raise ConfigError(f"the model file name is empty; name a model file or a packaged model "
                          f"({', '.join(packaged_models())})")
    path = Path(path)
    if not path.exists() and path.parent == Path(".") and not path.suffix and (PACKAGED_MODELS / f"{path}.toml").exists():
        return PACKAGED_MODELS / f"{path}.toml"
    return path


def load_model(path: str | Path, overrides: Sequence[str] = ()) -> ModelConfig:
    """Load a model file, apply `--set KEY=VALUE` overrides in order, validate, and resolve every default.

    Override keys are paths such as `optimizer.lr`, `layers[1].tau_s` or `layers[-1].neurons`; values are read as
    TOML (`0.1`, `[3, 3]`, `{ type = "none" }`), or taken as a bare string when they are not TOML.
    Raises ConfigError (one line) for a missing or malformed file and for any invalid key or value.
    """
    path = resolve_model_path(path)
    return _resolve(read_toml(path, str(path)), str(path), overrides)


def load_model_text(text: str, source: str, overrides: Sequence[str] = ()) -> ModelConfig:
    """`load_model` of a model held as text (a checkpoint's /config); messages name `source`."""
    return _resolve(parse_toml(text, source), source, overrides)


def _resolve(raw: dict[str, Any], source: str, overrides: Sequence[str]) -> ModelConfig:
    overridden = _apply_overrides(raw, overrides, source)
    return _Resolver(source, overridden).model(raw, Path(source).stem)


# Longest simulation in units of a layer's tau_s: float32 times near t_max step by t_max * 6e-8, which must stay
# far below tau_s (1e5 keeps it under 1% of tau_s; the exactness tests go to 1e4).
MAX_WINDOW_TAU_S = 1e5
# Longest tau_s in units of t_max in float32: the closed form holds z = exp(t / tau) (tau = 2 tau_s), and a spike
# time t = tau ln z moves by tau * 1.2e-7 = tau_s * 2.4e-7 per rounding step of z; 100 keeps that step at 2.4e-5
# of t_max (at 5000, the audit measured 0.15 ms median errors and 19 of 360 predictions changed).
MAX_TAU_S_WINDOW_FLOAT32 = 100


def _beyond(ratio: float, limit: float) -> bool:
    """Whether `ratio` exceeds `limit` by more than rounding (0.2 / 2e-6 is 100000.00000000001): the limit's own
    value is allowed."""
    return ratio > limit * (1 + 1e-12)


def float32_too_coarse(tau_s: float, t_max: float) -> bool:
    """Whether float32 spike times are too coarse for a layer's `tau_s` over `t_max` (MAX_TAU_S_WINDOW_FLOAT32):
    such a model needs float64."""
    return _beyond(tau_s / t_max, MAX_TAU_S_WINDOW_FLOAT32)
MAX_MODEL_BYTES = 1 << 20  # a model file is a few kB; this refuses /dev/zero-like inputs before reading them


def read_toml(path: Path, source: str, kind: str = "model file") -> dict[str, Any]:
    """A TOML file (a model file, a sweep file) as a dict; one-line ConfigErrors naming `source` for what cannot
    be read or parsed."""
    return parse_toml(_read(path, source, kind), source)


def _read(path: Path, source: str, kind: str) -> str:
    """The text of a TOML file of `kind` (one-line errors for what cannot be one)."""
    try:
        info = path.stat()  # follows symlinks, so a link to a model file is fine
        if stat.S_ISDIR(info.st_mode):
            run = " (a run directory: --resume it, or give its config.toml)" if (path / "config.toml").is_file() else ""
            raise ConfigError(f"{source}: is a directory, not a {kind}{run}")
        if not stat.S_ISREG(info.st_mode):  # a FIFO or device would block or never end
            raise ConfigError(f"{source}: not a regular file; a {kind} is a TOML text file")
        if info.st_size > MAX_MODEL_BYTES:
            raise ConfigError(f"{source}: {info.st_size} bytes; a {kind} is TOML text of at most 1 MiB")
        data = path.read_bytes()
    except FileNotFoundError:
        hint = f" (or name a packaged one: {', '.join(packaged_models())})" if kind == "model file" else ""
        raise ConfigError(f"{source}: no such {kind}{hint}") from None
    except OSError as err:
        raise ConfigError(f"{source}: cannot read the {kind}: {err.strerror}") from None
    try:
        text = data.decode("utf-8-sig")  # a leading byte-order mark (Windows editors write one) is dropped
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise ConfigError(f"{source}:{line}: not UTF-8 text; a {kind} is TOML") from None
    return text


def parse_toml(text: str, source: str) -> dict[str, Any]:
    """TOML text as a dict; invalid TOML is a one-line error naming `source`, line and column."""
    try:
        return tomllib.loads(text)
    except RecursionError:
        raise ConfigError(f"{source}: invalid TOML: arrays or tables nested too deeply") from None
    except tomllib.TOMLDecodeError as err:
        message = str(err)
        where = _TOML_WHERE.search(message)
        # tomllib appends "(at line L, column C)"; move it to the front, compiler-style.
        if where and where.group(1):
            location = f"{source}:{where.group(1)}:{where.group(2)}"
        else:
            location = f"{source}:{text.count(chr(10)) + 1}"
        reason = message[: where.start()] if where else message
        raise ConfigError(f"{location}: invalid TOML: {reason}") from None


def _parse_value(text: str) -> Any:
    """A `--set` value: a TOML value when it parses as exactly one, else the text itself."""
    try:
        doc = tomllib.loads(f"v = {text}")
    except (tomllib.TOMLDecodeError, RecursionError):
        return text
    return doc["v"] if len(doc) == 1 else text


def _key_steps(key: str) -> list[str | int] | None:
    """"layers[1].tau_s" -> ["layers", 1, "tau_s"]; None when it is not a key path."""
    steps: list[str | int] = []
    for part in key.split("."):
        match = _SEGMENT.fullmatch(part)
        if not match:
            return None
        steps.append(match.group(1))
        steps += [int(i) for i in re.findall(r"-?[0-9]+", match.group(2))]
    return steps


def _apply_overrides(raw: dict[str, Any], overrides: Sequence[str], source: str) -> set[str]:
    """Write each override into the parsed file; return the key paths set (negative indices resolved)."""
    done: set[str] = set()
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"{source}: --set {item}: expected KEY=VALUE, e.g. --set optimizer.lr=0.001")
        steps = _key_steps(key)
        if steps is None:
            raise ConfigError(f"{source}: --set {key}: not a key path; allowed: names joined by '.' "
                              f"with [index] for list entries, e.g. layers[1].tau_s")
        value = _parse_value(text.strip())
        node: Any = raw
        walked = ""
        for i, step in enumerate(steps):
            last = i == len(steps) - 1
            if isinstance(step, str):
                if isinstance(node, list):
                    raise ConfigError(f"{source}: --set {key}: {walked} is a list; "
                                      f"pick an entry, e.g. {walked}[0].{step}")
                if not isinstance(node, dict):
                    raise ConfigError(f"{source}: --set {key}: {walked} = {_show(node)} is not a table")
                here = _join(walked, step)
                if last:
                    node[step] = value
                else:
                    # Missing tables are created so that e.g. schedule.type=step works on a file without [schedule].
                    node = node.setdefault(step, {})
            else:
                if not isinstance(node, list):
                    raise ConfigError(f"{source}: --set {key}: {walked} is not a list, so [{step}] does not apply")
                if not -len(node) <= step < len(node):
                    raise ConfigError(f"{source}: --set {key}: index {step} out of range; "
                                      f"allowed: 0 to {len(node) - 1} ({walked} has {len(node)} entries)")
                step %= len(node)
                here = f"{walked}[{step}]"
                if last:
                    node[step] = value
                else:
                    node = node[step]
            walked = here
        done.add(walked)
    return done


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _inside(path: str, outer: str) -> bool:
    """Whether key path `path` is `outer` or lies inside it."""
    return path == outer or path.startswith((outer + ".", outer + "["))


def written_paths(path: str | Path, overrides: Sequence[str]) -> list[str]:
    """The key path each override (applied in order) writes in the model file `path`, its indices resolved as
    loading resolves them (layers[-1] of three layers -> layers[2], layers[00] -> layers[0])."""
    path = resolve_model_path(path)
    raw = read_toml(path, str(path))
    return [next(iter(_apply_overrides(raw, [override], str(path)))) for override in overrides]


def overlapping(path: str, other: str) -> bool:
    """Whether two resolved key paths write the same value: one is the other or lies inside it."""
    return _inside(path, other) or _inside(other, path)


def _show(value: Any) -> str:
    text = format_value(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _suggest(word: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" (did you mean {format_value(close[0])}?)" if close else ""


class _Resolver:
    """Validates one parsed model file against `schema` and builds the dataclasses; fails at the first problem."""

    def __init__(self, source: str, overridden: set[str]) -> None:
        self.source = source
        self.overridden = overridden

    def fail(self, path: str, message: str, value: Any = _MISSING) -> NoReturn:
        """Raise the one-line ConfigError for `path`, marking paths that a `--set` wrote."""
        # A path inside what a --set wrote, or a table that a --set wrote into (e.g. a misspelt new table).
        by_set = any(overlapping(path, p) for p in self.overridden)
        where = f"--set {path}" if by_set else path
        shown = "" if value is _MISSING else f" = {_show(value)}"
        raise ConfigError(f"{self.source}: {where}{shown}: {message}")

    def value(self, path: str, value: Any, key: schema.Key) -> Any:
        """Check the type and range of one value; return it converted (int -> float, list -> tuple)."""
        rule = key.rule()
        if key.kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                self.fail(path, f"must be a number {rule}".rstrip(), value)
            try:
                number = float(value)
            except OverflowError:  # a TOML integer too large for a float
                number = math.inf
            if not math.isfinite(number):
                self.fail(path, f"must be a finite number {rule}".rstrip(), value)
            self.bounds(path, number, value, key)  # messages show the value as written (1, not 1.0)
            value = number
        elif key.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                self.fail(path, f"must be an integer {rule}".rstrip(), value)
            self.bounds(path, value, value, key)
        elif key.kind == "int2":
            if not (isinstance(value, list) and len(value) == 2
                    and all(isinstance(n, int) and not isinstance(n, bool) for n in value)):
                self.fail(path, "must be a list of two integers, e.g. [5, 5]", value)
            for n in value:
                self.bounds(path, n, value, key)
            value = tuple(value)
        elif key.kind == "split":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                self.fail(path, "must be a number of samples (an integer >= 0) or a fraction in (0, 1)", value)
            if isinstance(value, int) and value < 0:
                self.fail(path, "must be a number of samples >= 0, or a fraction in (0, 1)", value)
            if isinstance(value, float) and not 0.0 < value < 1.0:
                self.fail(path, "must be a fraction in (0, 1), or a number of samples (an integer >= 0)", value)
        elif key.kind == "str":
            if not isinstance(value, str):
                self.fail(path, f"must be a string; allowed: {', '.join(key.choices)}" if key.choices
                          else "must be a string", value)
            if key.choices and value not in key.choices:
                self.fail(path, f"unknown {key.noun}{_suggest(value, key.choices)}; "
                                f"allowed: {', '.join(key.choices)}", value)
        elif key.kind == "table":
            if not isinstance(value, dict):
                self.fail(path, "must be a table", value)
        elif not (isinstance(value, list) and all(isinstance(v, dict) for v in value)):
            self.fail(path, f"must be an array of tables, written [[{path}]]", value)
        return value

    def bounds(self, path: str, number: float, value: Any, key: schema.Key) -> None:
        """Fail unless `number` lies within the key's bounds (`value` is what the message shows)."""
        too_low = key.low is not None and (number <= key.low if key.low_open else number < key.low)
        too_high = key.high is not None and (number >= key.high if key.high_open else number > key.high)
        if too_low or too_high:
            self.fail(path, f"must be {key.rule()}", value)

    def table(self, path: str, raw: Any, keys: dict[str, schema.Key],
              variants: schema.Variants | None = None) -> dict[str, Any]:
        """Validate one table; return {key: converted value} for the keys present (tables stay raw dicts).

        With `variants`, the key set is the one of the chosen type (`keys` is then unused).
        """
        raw = self.value(path, raw, schema.Key("table"))
        values: dict[str, Any] = {}
        allowed = dict(keys)
        foreign: set[str] = set()
        if variants is not None:
            type_path = _join(path, variants.name)
            if variants.name in raw:
                chosen = self.value(type_path, raw[variants.name], variants.key)
            elif variants.key.required:
                self.fail(type_path, f"missing; allowed: {', '.join(variants.key.choices)}")
            else:
                chosen = variants.default
            values[variants.name] = chosen
            allowed = {variants.name: variants.key, **variants.tables[chosen]}
            foreign = {name for keys_of in variants.tables.values() for name in keys_of} - set(allowed)
        for name, value in raw.items():
            if name in allowed:
                continue
            names = ", ".join(allowed)
            if variants is not None and name in foreign:
                chosen_text = format_value(values[variants.name])
                # Changing a type with --set leaves the old type's keys behind; replacing the table avoids that.
                hint = (f" (to change the type with --set, replace the table: "
                        f"--set '{path}={{ {variants.name} = {chosen_text} }}')"
                        if _join(path, variants.name) in self.overridden else "")
                self.fail(_join(path, name), f"not used by {variants.key.noun} {chosen_text}; "
                                             f"allowed keys: {names}{hint}", value)
            self.fail(_join(path, name), f"unknown key{_suggest(name, list(allowed))}; allowed keys: {names}", value)
        for name, key in allowed.items():
            if name not in raw:
                if key.required:
                    self.fail(_join(path, name), f"missing; required: {_expect(key)}")
            elif variants is None or name != variants.name:
                values[name] = self.value(_join(path, name), raw[name], key)
        return values

    def model(self, raw: dict[str, Any], stem: str) -> ModelConfig:
        """The whole file -> ModelConfig."""
        top = self.table("", raw, schema.TOP)
        # A file without a name is named after itself; run folders take the name, so keep it path-safe.
        name = top.get("name", re.sub(r"[^A-Za-z0-9._-]", "-", stem).lstrip("._-")[:MAX_NAME] or "model")
        if not _NAME.match(name):
            self.fail("name", f"must start with a letter or digit and use only letters, digits, '.', '_', '-' "
                              f"(at most {MAX_NAME} characters)", name)
        inp = self.input(top["input"])
        simulation = self.table("simulation", top["simulation"], schema.SIMULATION)
        t_max = simulation["t_max"]
        precision = simulation.get("precision", ModelConfig.precision)
        layers = self.layers(top["layers"], inp, t_max)
        loss = LossConfig(**self.table("loss", top["loss"], {}, schema.LOSS))
        optimizer = OptimizerConfig(**self.table("optimizer", top.get("optimizer", {}), {}, schema.OPTIMIZER))
        schedule = ScheduleConfig(**self.table("schedule", top.get("schedule", {}), {}, schema.SCHEDULE))
        augment = AugmentConfig(**self.table("augment", top.get("augment", {}), {}, schema.AUGMENT))
        training = TrainingConfig(**self.table("training", top.get("training", {}), schema.TRAINING))
        cfg = ModelConfig(name=name, input=inp, layers=layers, loss=loss, t_max=t_max, precision=precision,
                          optimizer=optimizer, schedule=schedule, augment=augment, training=training,
                          source=self.source)
        self.check_consistency(cfg, set(top.get("loss", {})))
        return cfg

    def check_consistency(self, cfg: ModelConfig, loss_keys: set[str]) -> None:
        """Rules across tables: the input window fits the simulation, augmentation deforms images only, count
        targets fit the output buffer, and one training step fits in this machine's memory. `loss_keys`: the keys
        the [loss] table gives (a rule broken by a default says so)."""
        if cfg.input.encoding == "latency" and cfg.input.t_window > cfg.t_max:
            self.fail("input.t_window", f"must be <= simulation.t_max ({_num(cfg.t_max)} s): inputs after the "
                                        "simulation end are never seen", cfg.input.t_window)
        if cfg.augment.type != "none" and cfg.input.encoding != "latency":
            self.fail("augment.type", f"does not apply to {_dataset_words(cfg.input.dataset)}; allowed: none",
                      cfg.augment.type)
        side = min(cfg.input.shape[:2]) if cfg.augment.type == "elastic" else 0
        if side and cfg.augment.points > side:  # a finer grid than the pixels moves nothing more, at a huge cost
            self.fail("augment.points", f"must be <= {side}, the image's side in pixels (control points spread "
                                        "from its first to its last pixel)", cfg.augment.points)
        info = np.finfo(cfg.precision)
        for where, value in _float_settings(cfg):  # the kernels compute in the model's precision
            if abs(value) > float(info.max):
                self.fail(where, f"beyond {cfg.precision}, the model's precision (at most {info.max:.4g})", value)
            if value and not np.array(value, cfg.precision):
                self.fail(where, f"rounds to 0 in {cfg.precision}, the model's precision (its smallest number: "
                                 f"{info.smallest_subnormal:.4g})", value)
        if cfg.precision == "float32":
            for index, layer in enumerate(cfg.layers):
                if layer.type != "pool" and float32_too_coarse(layer.tau_s, cfg.t_max):
                    self.fail(f"layers[{index}].tau_s", f"too long for float32 at simulation.t_max = "
                                                        f"{_num(cfg.t_max)} s: tau_s / t_max = "
                                                        f"{layer.tau_s / cfg.t_max:.6g}, allowed up to "
                                                        f"{MAX_TAU_S_WINDOW_FLOAT32} (float32 steps spike times by "
                                                        f"tau_s x 2.4e-7 = {layer.tau_s * 2.38e-7:.2g} s); use "
                                                        "simulation.precision = \"float64\"", layer.tau_s)
        buffer = cfg.layers[-1].max_spikes
        if cfg.loss.type == "count":
            for name in ("n_true", "n_false"):
                if getattr(cfg.loss, name) > buffer:
                    default = "" if name in loss_keys else f" (the default; set loss.{name})"
                    self.fail(f"loss.{name}", f"must be <= the output layer's max_spikes ({buffer}): no neuron "
                                              f"can reach a larger count{default}", getattr(cfg.loss, name))
            if cfg.loss.n_true <= cfg.loss.n_false:
                self.fail("loss.n_true", f"must be greater than loss.n_false ({cfg.loss.n_false}): the prediction is "
                                         "the output neuron with the most spikes", cfg.loss.n_true)
        if cfg.loss.type == "time" and cfg.loss.t_true >= cfg.loss.t_false:
            self.fail("loss.t_true", f"must be less than loss.t_false ({_num(cfg.loss.t_false)} s): the prediction is "
                                     "the output neuron that fires first", cfg.loss.t_true)
        where, what = memory_shortfall(cfg)
        if where:
            self.fail(where, f"{what}; make layers, max_spikes or batch sizes smaller")

    def input(self, raw: Any) -> InputConfig:
        """[input]: the dataset fixes the input shape and class count; the encoding (by default the one that suits
        the dataset) must suit its kind, and only that encoding's keys may appear."""
        raw = self.value("input", raw, schema.TOP["input"])
        if "dataset" not in raw:
            self.fail("input.dataset", f"missing; required: {_expect(schema.DATASET)}")
        info = DATASETS[self.value("input.dataset", raw["dataset"], schema.DATASET)]
        suitable = [enc for enc, kind in schema.ENCODINGS.items() if kind == info.kind]
        encoding = (self.value("input.encoding", raw["encoding"], schema.INPUT.key) if "encoding" in raw
                    else suitable[0])
        dataset = _dataset_words(info.name)
        if schema.ENCODINGS[encoding] != info.kind:
            self.fail("input.encoding", f"does not apply to {dataset}; allowed: {', '.join(suitable)}", encoding)
        # A key of another encoding: users pick datasets, not encodings, so name the kind of dataset it is for.
        allowed = schema.INPUT.tables[encoding]
        for name, value in raw.items():
            other = [enc for enc, keys in schema.INPUT.tables.items() if name in keys]
            if name not in allowed and other:
                self.fail(f"input.{name}", f"does not apply to {dataset} (it is a key of "
                                           f"{schema.KIND_NOUNS[schema.ENCODINGS[other[0]]]} datasets); "
                                           f"allowed keys: {', '.join(['encoding', *allowed])}", value)
        values = self.table("input", raw, {}, dataclasses.replace(schema.INPUT, default=encoding))
        return InputConfig(**values, shape=info.shape, classes=info.classes)

    def layers(self, raw: Any, inp: InputConfig, t_max: float) -> tuple[LayerConfig, ...]:
        """[[layers]]: each layer's keys, the time-scale guard, the shape chain and the class count."""
        raw = self.value("layers", raw, schema.TOP["layers"])
        if not raw:
            self.fail("layers", "empty; at least one layer is required", raw)
        layers = []
        shape = inp.shape
        for i, entry in enumerate(raw):
            path = f"layers[{i}]"
            layer = self.layer(path, entry)
            if layer.type != "pool" and _beyond(t_max / layer.tau_s, MAX_WINDOW_TAU_S):
                self.fail(f"{path}.tau_s", f"too short for simulation.t_max = {_num(t_max)} s: t_max / tau_s = "
                                           f"{t_max / layer.tau_s:.6g}, allowed up to {MAX_WINDOW_TAU_S:.0e} "
                                           "(float32 spike times could no longer resolve tau_s)", layer.tau_s)
            try:
                shape = next_shape(layer, shape)
            except ShapeMismatch as err:
                origin = (f"the input of {inp.dataset}" if i == 0
                          else f"the output of layers[{i - 1}], {layers[-1].type}")
                blamed = {"type": layer.type, "kernel": list(layer.kernel), "size": layer.size}[err.key]
                self.fail(f"{path}.{err.key}", f"{err.problem} ({origin}); allowed: {err.allowed}", blamed)
            layers.append(layer)
        last = f"layers[{len(layers) - 1}]"
        if layers[-1].type != "dense":
            self.fail(f"{last}.type", f"the last layer must be dense; allowed: dense with {inp.classes} neurons "
                                      f"(one per class of {inp.dataset})", layers[-1].type)
        if layers[-1].neurons != inp.classes:
            self.fail(f"{last}.neurons", f"the last layer needs one neuron per class of {inp.dataset}; "
                                         f"allowed: {inp.classes}", layers[-1].neurons)
        return tuple(layers)

    def layer(self, path: str, raw: Any) -> LayerConfig:
        """One [[layers]] entry; delta_theta defaults to theta and init to U(-1, 1)."""
        values = self.table(path, raw, {}, schema.LAYER)
        if "init" in values:
            values["init"] = self.init(f"{path}.init", values["init"])
        if "theta" in values:
            values.setdefault("delta_theta", values["theta"])
        return LayerConfig(**values)

    def init(self, path: str, raw: Any) -> InitConfig:
        """A layer's `init` table: uniform needs high > low."""
        values = self.table(path, raw, {}, schema.INIT)
        init = InitConfig(**values)
        if init.distribution == "uniform" and init.high <= init.low:
            blamed = "high" if "high" in values else "low"
            self.fail(f"{path}.{blamed}", f"must have high > low, got low = {_num(init.low)}, "
                                          f"high = {_num(init.high)}", getattr(init, blamed))
        return init


def _dataset_words(name: str) -> str:
    """A dataset as messages name it, with its kind: 'image dataset "digits"', 'event-stream dataset "shd"'."""
    return f"{schema.KIND_NOUNS[DATASETS[name].kind]} dataset {format_value(name)}"


def _float_settings(cfg: ModelConfig) -> Iterator[tuple[str, float]]:
    """(key, value) of every real-valued setting of a resolved model, keys as a model file writes them."""
    yield "simulation.t_max", cfg.t_max
    tables = [("input", cfg.input), ("loss", cfg.loss), ("optimizer", cfg.optimizer), ("schedule", cfg.schedule),
              ("augment", cfg.augment)]
    for index, layer in enumerate(cfg.layers):
        tables += [(f"layers[{index}]", layer), (f"layers[{index}].init", layer.init)]
    for prefix, table in tables:
        for item in dataclasses.fields(table):
            if item.type == "float":
                yield f"{prefix}.{item.name}", getattr(table, item.name)


def memory_shortfall(cfg: ModelConfig, batch: int | None = None) -> tuple[str, str]:
    """("layers[i]", what) when one training step of `cfg` (at `batch`, default `step_batch`) needs more than this
    machine's memory (layer i holds the most), else ("", "")."""
    batch = batch or step_batch(cfg)
    sizes = step_bytes(cfg, batch)
    memory = _physical_memory()
    if not memory or sum(sizes) <= memory:
        return "", ""
    worst = max(range(len(sizes)), key=sizes.__getitem__)
    return f"layers[{worst}]", (f"the model needs about {sum(sizes) / 2**30:.3g} GiB for one step at batch {batch} "
                                f"({sizes[worst] / 2**30:.3g} GiB in this layer), more than this machine's "
                                f"{memory / 2**30:.3g} GiB")


def _physical_memory() -> int:
    """This machine's memory in bytes (0 when the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return 0


def _num(x: float) -> str:
    return f"{x:g}"


def _expect(key: schema.Key) -> str:
    """What a key holds, in words: "a number > 0", "an integer >= 1", "one of: adam, nadam, sgd"."""
    if key.choices:
        return key.rule()
    what = {"float": "a number", "int": "an integer", "str": "a string", "int2": "two integers, e.g. [5, 5]",
            "table": "a table", "tables": "an array of tables"}[key.kind]
    return f"{what} {key.rule()}".rstrip()
