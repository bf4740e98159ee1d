"""What a model file may contain: every table, its keys, their types and allowed ranges.

The loader (`snntrain.config.load`) walks these tables to validate a file and the emitter (`snntrain.config.emit`)
walks them to write one back, so a key added here is both accepted and saved.
Tables with a `type` (or `distribution`) key have one key set per variant: a key of another variant is reported
as not used by the chosen one rather than silently ignored.
"""
from __future__ import annotations

from dataclasses import dataclass

from snntrain.config.model import AugmentConfig, InitConfig, OptimizerConfig, ScheduleConfig
from snntrain.data.registry import DATASETS


@dataclass(frozen=True)
class Key:
    """One key of a table.

    kind: "float" (an int is accepted), "int", "str", "int2" (a list of two ints), "split" (an int >= 0, a
    number of samples, or a fraction in (0, 1)), "table" or "tables" (an array of tables). Bounds apply to numbers and to both ints of an "int2"; `*_open` makes a bound strict;
    an upper bound comes with a lower one.
    """

    kind: str
    required: bool = False
    low: float | None = None
    low_open: bool = False
    high: float | None = None
    high_open: bool = False
    choices: tuple[str, ...] = ()
    noun: str = "value"  # what an unknown choice is called in messages ("dataset", "loss type")

    def rule(self) -> str:
        """The allowed values in words, e.g. "> 0", "in [0, 1)", "one of: adam, nadam, sgd"."""
        if self.choices:
            return "one of: " + ", ".join(self.choices)
        if self.low is not None and self.high is not None:
            return (f"in {'(' if self.low_open else '['}{_num(self.low)}, "
                    f"{_num(self.high)}{')' if self.high_open else ']'}")
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {_num(self.low)}"
        return ""


@dataclass(frozen=True)
class Variants:
    """A table whose key set depends on one key's value, e.g. a layer's `type`.

    `tables` maps each allowed value to the keys it uses (besides `name` itself); `default` (the dataclass
    default) is taken when `name` is absent and not `key.required`.
    """

    name: str
    key: Key
    tables: dict[str, dict[str, Key]]
    default: str = ""


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _positive() -> Key:
    return Key("float", required=True, low=0, low_open=True)


# SPEC §6: images become one latency spike per pixel; event datasets are already spikes, one train per channel.
# Each encoding suits one kind of dataset and has its own keys; its default is the one that suits the dataset.
ENCODINGS: dict[str, str] = {"latency": "image", "events": "events"}
KIND_NOUNS = {"image": "image", "events": "event-stream"}  # dataset kinds in messages

DATASET = Key("str", required=True, choices=tuple(DATASETS), noun="dataset")
_INPUT_TABLES = {
    "latency": {"dataset": DATASET, "t_window": Key("float", low=0, low_open=True)},
    "events": {"dataset": DATASET, "resolution": Key("float", low=0), "max_input_spikes": Key("int", low=1)},
}
INPUT = Variants("encoding", Key("str", choices=tuple(ENCODINGS), noun="encoding"), _INPUT_TABLES)

#: Storage and arithmetic of every spike time, sum and weight. float32 is what the original BATS code trains in;
#: float64 is what the oracle tests (brian2, finite differences) compare against.
PRECISIONS = ("float32", "float64")
SIMULATION = {"t_max": _positive(), "precision": Key("str", choices=PRECISIONS, noun="precision")}

_INIT_TABLES = {
    "uniform": {"low": Key("float"), "high": Key("float")},
    "normal": {"mean": Key("float"), "std": Key("float", low=0)},
}
INIT = Variants("distribution", Key("str", choices=tuple(_INIT_TABLES), noun="init distribution"), _INIT_TABLES,
                InitConfig.distribution)

_LIF = {
    "tau_s": _positive(),
    "theta": _positive(),
    "delta_theta": Key("float", low=0, low_open=True),
    "max_spikes": Key("int", low=1),
    "init": Key("table"),
}
_LAYER_TABLES = {
    "dense": {"neurons": Key("int", required=True, low=1), **_LIF},
    "conv": {"filters": Key("int", required=True, low=1), "kernel": Key("int2", required=True, low=1), **_LIF},
    # A window of 1 would copy its input; pooling exists to shrink it.
    "pool": {"size": Key("int", low=2)},
}
LAYER = Variants("type", Key("str", required=True, choices=tuple(_LAYER_TABLES), noun="layer type"), _LAYER_TABLES)

# Every loss classifies, so every one may revive label neurons that fell silent (0 = off).
_SCALING = {"silent_label_scaling": Key("float", low=0)}
_LOSS_TABLES = {
    "ttfs": {"tau_loss": Key("float", low=0, low_open=True), **_SCALING},
    "count": {"n_true": Key("int", low=0), "n_false": Key("int", low=0), **_SCALING},
    "time": {"t_true": Key("float", low=0), "t_false": Key("float", low=0), **_SCALING},
}
LOSS = Variants("type", Key("str", required=True, choices=tuple(_LOSS_TABLES), noun="loss type"), _LOSS_TABLES)

_LR = Key("float", low=0, low_open=True)
_ADAM = {
    # An Adam step moves every weight by about lr, whatever the gradient: above 1 each step outruns the
    # initial weight range and training cannot settle.
    "lr": Key("float", low=0, low_open=True, high=1),
    "beta1": Key("float", low=0, high=1, high_open=True),
    "beta2": Key("float", low=0, high=1, high_open=True),
    "eps": Key("float", low=0, low_open=True),
}
_OPTIMIZER_TABLES = {"adam": _ADAM, "nadam": _ADAM, "sgd": {"lr": _LR}}
OPTIMIZER = Variants("type", Key("str", choices=tuple(_OPTIMIZER_TABLES), noun="optimizer"), _OPTIMIZER_TABLES,
                     OptimizerConfig.type)

_SCHEDULE_TABLES: dict[str, dict[str, Key]] = {
    "none": {},
    "step": {
        "factor": Key("float", low=0, low_open=True, high=1),
        "every": Key("int", low=1),
        "min_lr": Key("float", low=0),
    },
}
SCHEDULE = Variants("type", Key("str", choices=tuple(_SCHEDULE_TABLES), noun="schedule"), _SCHEDULE_TABLES,
                    ScheduleConfig.type)

# Image augmentation of the training split (the original BATS code deforms its MNIST conv experiment's batches).
_AUGMENT_TABLES: dict[str, dict[str, Key]] = {
    "none": {},
    "elastic": {
        "sigma": Key("float", low=0, low_open=True),  # pixels
        "points": Key("int", low=2),
        "per": Key("str", choices=("batch", "sample"), noun="unit of draws"),
    },
}
AUGMENT = Variants("type", Key("str", choices=tuple(_AUGMENT_TABLES), noun="augmentation"), _AUGMENT_TABLES,
                   AugmentConfig.type)

TRAINING = {
    "epochs": Key("int", low=1),
    "batch_size": Key("int", low=1),
    "test_batch_size": Key("int", low=1),
    "train_samples": Key("int", low=0),
    "test_samples": Key("int", low=0),
    "seed": Key("int", low=0, high=2**63 - 1),  # checkpoints store it as an HDF5 int64
    "validation": Key("split"),
}

TOP = {
    "name": Key("str"),
    "input": Key("table", required=True),
    "simulation": Key("table", required=True),
    "layers": Key("tables", required=True),
    "loss": Key("table", required=True),
    "optimizer": Key("table"),
    "schedule": Key("table"),
    "augment": Key("table"),
    "training": Key("table"),
}
