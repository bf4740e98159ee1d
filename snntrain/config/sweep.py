"""What `snntrain sweep` runs: a sweep file's `[sweep]` table and the command line, merged and validated into a
SweepPlan whose trials are fixed before any runs.

    [sweep]
    model = "ttfs"                  # a model file (relative to this file) or a packaged model's name
    set = ["training.epochs=10"]    # --set values common to every trial
    metric = "val_accuracy"         # train_/val_ loss or accuracy; losses are minimised, accuracies maximised
    samples = 8                     # random draws, each combined with every grid point (default 1)
    seed = 0                        # of the random draws
    scheduler = "asha"              # stop poor trials early ("none" by default)
    grace_epochs = 2                # ASHA: epochs every trial gets
    reduction_factor = 3            # ASHA: keep the best 1/3 at each rung
    time_budget = "2h"              # then stop; the same command continues (seconds, or "90m", "2h")
    cpus_per_trial = 1
    max_failures = 1

    [sweep.grid]
    "optimizer.lr" = [0.001, 0.002]
    "training.seed" = "0..2"        # integers 0 to 2

    [sweep.random]
    "layers[0].theta" = { uniform = [0.5, 2.0] }
    "optimizer.lr" = { loguniform = [1e-4, 1e-2] }
    "layers[0].neurons" = { randint = [100, 800] }     # inclusive
    "loss.type" = { choice = ["ttfs", "count"] }

The random values are drawn here, from `seed`, not by Ray: the trial list is the same on every call, which is
what lets a rerun of the same command find its trials again.
"""
from __future__ import annotations

import dataclasses
import itertools
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from snntrain.config.emit import format_value
from snntrain.config.load import read_toml
from snntrain.errors import ConfigError, UsageError

#: The metrics.csv columns a sweep may judge trials on; the test set is only scored, never selected on.
METRICS = ("val_accuracy", "val_loss", "train_accuracy", "train_loss")
SCHEDULERS = ("none", "asha")
DISTRIBUTIONS = ("choice", "uniform", "loguniform", "randint")
#: More trials than this is a mistyped range or sample count, not a sweep: refused before any list is built.
MAX_TRIALS = 100_000
KEYS = ("model", "set", "metric", "samples", "seed", "scheduler", "grace_epochs", "reduction_factor",
        "time_budget", "cpus_per_trial", "max_failures", "grid", "random")
_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([smh]?)\s*$")
_UNIT = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class RandomKey:
    """One `--set` key drawn at random: `choice` of `values`, or `uniform`/`loguniform`/`randint` over
    `values = (low, high)` (randint inclusive)."""

    key: str
    distribution: str
    values: tuple[Any, ...]

    def draw(self, rng: np.random.Generator) -> str:
        """The `--set` value text of one draw (floats to 4 significant digits, which configs show readably)."""
        if self.distribution == "choice":
            return format_value(self.values[int(rng.integers(len(self.values)))])
        low, high = self.values
        if self.distribution == "randint":
            return str(int(rng.integers(low, high + 1)))
        if self.distribution == "loguniform":
            value = math.exp(rng.uniform(math.log(low), math.log(high)))
        else:
            value = rng.uniform(low, high)
        return format_value(float(f"{value:.4g}"))


@dataclass(frozen=True)
class SweepPlan:
    """Everything a sweep is: what it trains (model, sets, grid, random keys, samples, seed), and how (metric,
    scheduler, budget, resources)."""

    model: str | None = None
    sets: tuple[str, ...] = ()
    grid: tuple[tuple[str, tuple[str, ...]], ...] = ()
    random: tuple[RandomKey, ...] = ()
    samples: int = 1
    seed: int = 0
    metric: str | None = None  # None: val_accuracy, or train_accuracy without a validation split
    scheduler: str = "none"
    grace_epochs: int = 1
    reduction_factor: int = 3
    time_budget_s: float | None = None
    cpus_per_trial: int = 1
    max_failures: int = 1

    @property
    def keys(self) -> list[str]:
        """The swept keys: grid first, then random, in the order given."""
        return [key for key, _ in self.grid] + [r.key for r in self.random]

    def trials(self) -> list[tuple[str, ...]]:
        """Every trial's `--set` values: each random draw (drawn in order from `seed`) with every combination of
        the grid's values, the last grid key varying fastest; a draw's trials are adjacent."""
        rng = np.random.default_rng(self.seed)
        draws = [tuple(f"{r.key}={r.draw(rng)}" for r in self.random) for _ in range(self.samples)]
        points = [tuple(f"{k}={v}" for k, v in zip((k for k, _ in self.grid), combo))
                  for combo in itertools.product(*(values for _, values in self.grid))]
        return [point + draw for draw in draws for point in points]

    def identity(self) -> str:
        """What makes two sweeps the same sweep (what they train, not how they are scheduled)."""
        grid = [(key, list(values)) for key, values in self.grid]
        text = repr((tuple(self.sets), grid))
        if self.random:
            text += repr((self.random, self.samples, self.seed))
        return text


def maximised(metric: str) -> bool:
    """Accuracies are maximised, losses minimised."""
    return metric.endswith("accuracy")


def parse_grid(specs: Sequence[str]) -> list[tuple[str, tuple[str, ...]]]:
    """`key=v1,v2,...` or `key=a..b` (integers a to b inclusive) per --grid; UsageError for anything else."""
    grid: list[tuple[str, tuple[str, ...]]] = []
    for spec in specs:
        key, sep, values = spec.partition("=")
        key = key.strip()
        if not sep or not key or not values.strip():
            raise UsageError(f"--grid {spec!r}: give KEY=V1,V2,... or KEY=A..B, e.g. 'optimizer.lr=0.001,0.002'")
        if key in (k for k, _ in grid):
            raise UsageError(f"--grid {key}: given twice; put every value in one --grid")
        grid.append((key, _grid_values(values, f"--grid {spec!r}", UsageError)))
    return grid


def _grid_values(text: str, where: str, error: type[Exception]) -> tuple[str, ...]:
    if ".." in text and "," not in text:
        low, _, high = text.partition("..")
        try:
            span = range(int(low), int(high) + 1)
        except ValueError:
            raise error(f"{where}: A..B takes integers, e.g. training.seed=0..4") from None
        if not span:
            raise error(f"{where}: the range {low.strip()}..{high.strip()} is empty")
        count = span.stop - span.start  # not len(): it overflows past 2**63 values
        if count > MAX_TRIALS:
            raise error(f"{where}: the range holds {count:,} values; a sweep runs at most {MAX_TRIALS:,} trials")
        return tuple(str(v) for v in span)
    items = tuple(v.strip() for v in text.split(","))
    if not all(items):
        raise error(f"{where}: an empty value between commas")
    ranges = [item for item in items if re.fullmatch(r"-?\d+\s*\.\.\s*-?\d+", item)]
    if ranges:  # it would be swept as the text "0..2"
        raise error(f"{where}: a range A..B stands alone; list the values instead of {ranges[0]} among others")
    return items


def load_sweep(path: str | Path) -> SweepPlan:
    """The plan of a sweep file (its `[sweep]` table); a one-line ConfigError naming the file and key for
    anything invalid. A relative `model` path is taken from the sweep file's folder."""
    path = Path(path)
    source = str(path)
    raw = read_toml(path, source, "sweep file")
    if set(raw) != {"sweep"} or not isinstance(raw["sweep"], dict):
        raise ConfigError(f"{source}: a sweep file holds one [sweep] table (and [sweep.grid], [sweep.random])")
    table = raw["sweep"]

    def fail(key: str, message: str) -> ConfigError:
        shown = f" = {format_value(table[key])}" if key in table else ""
        return ConfigError(f"{source}: sweep.{key}{shown}: {message}")

    for key in table:
        if key not in KEYS:
            raise fail(key, f"unknown key; allowed: {', '.join(KEYS)}")

    def integer(key: str, default: int, low: int) -> int:
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise fail(key, f"give an integer >= {low}")
        return value

    def one_of(key: str, default: str | None, allowed: Sequence[str]) -> str | None:
        value = table.get(key, default)
        if value is not None and value not in allowed:
            raise fail(key, f"allowed: {', '.join(allowed)}")
        return value

    model = table.get("model")
    if model is not None:
        if not isinstance(model, str) or not model:
            raise fail("model", "give a model file's path or a packaged model's name")
        # a path is taken from the sweep file's folder; a bare name there, or else a packaged model's name
        bare = Path(model).parent == Path(".") and not Path(model).suffix
        if not Path(model).is_absolute() and (not bare or (path.parent / model).exists()):
            model = str(path.parent / model)
    sets = table.get("set", [])
    if not isinstance(sets, list) or not all(isinstance(s, str) and "=" in s for s in sets):
        raise fail("set", 'give a list of "KEY=VALUE" strings, as --set takes them')
    grid = _file_grid(table.get("grid", {}), source)
    random = _file_random(table.get("random", {}), source)
    budget = table.get("time_budget")
    plan = SweepPlan(
        model=model, sets=tuple(sets), grid=tuple(grid), random=tuple(random),
        samples=integer("samples", 1, 1), seed=integer("seed", 0, 0),
        metric=one_of("metric", None, METRICS), scheduler=one_of("scheduler", "none", SCHEDULERS) or "none",
        grace_epochs=integer("grace_epochs", 1, 1), reduction_factor=integer("reduction_factor", 3, 2),
        time_budget_s=None if budget is None else _seconds(budget, lambda m: fail("time_budget", m)),
        cpus_per_trial=integer("cpus_per_trial", 1, 1), max_failures=integer("max_failures", 1, 0))
    swept = [key for key, _ in grid]
    for r in random:
        if r.key in swept:
            raise ConfigError(f"{source}: sweep.random.{r.key}: also in [sweep.grid]; sweep a key one way")
    return plan


def _file_grid(grid: Any, source: str) -> list[tuple[str, tuple[str, ...]]]:
    if not isinstance(grid, dict):
        raise ConfigError(f"{source}: sweep.grid: give a table of KEY = [values] or KEY = \"A..B\"")
    out = []
    for key, values in grid.items():
        where = f"{source}: sweep.grid.{key} = {format_value(values)}"
        if isinstance(values, str):
            out.append((key, _grid_values(values, where, ConfigError)))
        elif isinstance(values, list) and values:
            out.append((key, tuple(format_value(v) for v in values)))
        else:
            raise ConfigError(f"{where}: give a non-empty list of values, or \"A..B\" for the integers A to B")
    return out


def _file_random(random: Any, source: str) -> list[RandomKey]:
    if not isinstance(random, dict):
        raise ConfigError(f"{source}: sweep.random: give a table of KEY = {{ distribution = ... }}")
    out = []
    for key, spec in random.items():
        where = f"{source}: sweep.random.{key} = {format_value(spec)}"
        usage = ("give one of { choice = [values] }, { uniform = [low, high] }, { loguniform = [low, high] } "
                 "(0 < low), { randint = [low, high] } (integers, inclusive, within +-2^63), with low < high and "
                 "high - low finite")
        if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in DISTRIBUTIONS:
            raise ConfigError(f"{where}: {usage}")
        ((distribution, values),) = spec.items()
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{where}: {usage}")
        if distribution != "choice":
            numbers = len(values) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                              for v in values)
            # what numpy's generator can draw: int64 integers, and a span that is itself a finite float
            whole = distribution != "randint" or all(isinstance(v, int) and abs(v) < 2**63 - 1 for v in values)
            if not (numbers and whole and values[0] < values[1] and _finite_span(values[0], values[1])
                    and (distribution != "loguniform" or values[0] > 0)):
                raise ConfigError(f"{where}: {usage}")
        out.append(RandomKey(key, distribution, tuple(values)))
    return out


def _finite_span(low: float, high: float) -> bool:
    """Whether high - low is a finite float (TOML integers may exceed any float)."""
    try:
        return math.isfinite(float(high) - float(low))
    except OverflowError:
        return False


def _seconds(value: Any, fail: Any) -> float:
    """A duration: seconds as a number, or text such as "90m", "2h", "30s"."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _DURATION.match(value) if isinstance(value, str) else None
        if not match:
            raise fail('give seconds, or a duration such as "90m" or "2h"')
        seconds = float(match.group(1)) * _UNIT[match.group(2)]
    if not (seconds > 0 and math.isfinite(seconds)):
        raise fail("give a positive duration")
    return seconds


def parse_duration(text: str, option: str) -> float:
    """`--time-budget` text ("3600", "90m", "2h") as seconds; UsageError naming `option` otherwise."""
    def fail(message: str) -> UsageError:
        return UsageError(f"{option} {text!r}: {message}")
    return _seconds(text, fail)


def merge_command_line(plan: SweepPlan, model: str | None, sets: Sequence[str], grid: Sequence[str],
                       **options: Any) -> SweepPlan:
    """`plan` with the command line on top: `--model` replaces the file's model, `--set` values come after the
    file's, a `--grid` key replaces the file's values of that key, and every option given (not None) replaces the
    file's. UsageError when nothing is swept or no model is named."""
    merged = dict(plan.grid)
    for key, values in parse_grid(grid):
        merged[key] = values
    plan = dataclasses.replace(plan, model=model or plan.model, sets=plan.sets + tuple(sets),
                               grid=tuple(merged.items()),
                               **{k: v for k, v in options.items() if v is not None})
    if plan.model is None:
        raise UsageError("give --model FILE.toml (or a model = ... in the sweep file's [sweep] table)")
    if not plan.grid and not plan.random:
        raise UsageError("nothing to sweep: give --grid KEY=V1,V2,... (or [sweep.grid] / [sweep.random] in a "
                         "sweep file)")
    overlap = {key for key, _ in plan.grid} & {r.key for r in plan.random}
    if overlap:
        raise UsageError(f"--grid {sorted(overlap)[0]}: the sweep file draws it at random; sweep a key one way")
    if plan.samples > 1 and not plan.random:
        raise UsageError(f"samples = {plan.samples}: draws of [sweep.random] keys, but the sweep draws none; each "
                         "draw would repeat every grid point")
    points = math.prod(len(values) for _, values in plan.grid)
    if plan.samples * points > MAX_TRIALS:
        raise UsageError(f"the sweep has {plan.samples * points:,} trials ({plan.samples:,} random draws x {points:,} "
                         f"grid points); a sweep runs at most {MAX_TRIALS:,}")
    return plan
