"""Model files: loading, defaults, every validation error, `--set` overrides, shapes, and the TOML round trip."""
from __future__ import annotations

import dataclasses
import os
import math
import re
from pathlib import Path

import pytest

from snntrain.config import (
    InitConfig,
    LayerConfig,
    ModelConfig,
    layer_shapes,
    load_model,
    parameter_count,
    to_toml,
)
from snntrain.errors import ConfigError

MODELS = sorted((Path(__file__).resolve().parent.parent / "models").glob("*.toml"))

DENSE_LAYERS = """
[[layers]]
type = "dense"
neurons = 16
tau_s = 0.13
theta = 0.2
max_spikes = 5
init = { distribution = "uniform", low = -1.0, high = 1.0 }

[[layers]]
type = "dense"
neurons = 10
tau_s = 0.13
theta = 1.3
max_spikes = 5
"""

CONV_LAYERS = """
[[layers]]
type = "conv"
filters = 4
kernel = [3, 3]
tau_s = 0.13
theta = 0.1

[[layers]]
type = "pool"
size = 2

[[layers]]
type = "dense"
neurons = 10
tau_s = 0.13
theta = 1.0
"""

BASE = """name = "base"

[input]
dataset = "digits"
encoding = "latency"
t_window = 0.1

[simulation]
t_max = 0.2
LAYERS
[loss]
type = "count"
n_true = 1
n_false = 0

[optimizer]
type = "adam"
lr = 0.003

[schedule]
type = "none"

[training]
epochs = 2
batch_size = 50
test_batch_size = 100
seed = 1
"""


def write(tmp_path: Path, text: str, name: str = "model.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def model_text(layers: str = DENSE_LAYERS, old: str = "", new: str = "") -> str:
    """BASE with the given layers and one textual edit (which must apply)."""
    text = BASE.replace("LAYERS", layers)
    if old:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def error_of(path: Path, overrides: tuple[str, ...] = ()) -> str:
    with pytest.raises(ConfigError) as info:
        load_model(path, overrides)
    message = str(info.value)
    assert "\n" not in message
    assert info.value.exit_code == 2
    return message


# --- loading and defaults ---------------------------------------------------------------------------------------


def test_base_model_resolves_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, model_text())
    cfg = load_model(path)
    assert isinstance(cfg, ModelConfig)
    assert cfg.source == str(path)
    assert cfg.name == "base"
    assert cfg.input.shape == (8, 8, 1) and cfg.input.classes == 10
    assert isinstance(cfg.layers, tuple) and len(cfg.layers) == 2
    first, last = cfg.layers
    assert first.delta_theta == first.theta == 0.2
    assert last.delta_theta == 1.3
    assert last.init == InitConfig()  # no init table: U(-1, 1)
    assert cfg.t_max == 0.2 and cfg.precision == "float32"  # the original BATS code's precision
    assert cfg.training.train_samples == 0 and cfg.training.epochs == 2
    assert cfg.optimizer.beta1 == 0.9 and cfg.optimizer.eps == 1e-8


def test_int_accepted_where_float_expected(tmp_path: Path) -> None:
    cfg = load_model(write(tmp_path, model_text(old="t_max = 0.2", new="t_max = 1")))
    assert cfg.t_max == 1.0 and isinstance(cfg.t_max, float)


def test_optional_tables_and_name_default(tmp_path: Path) -> None:
    text = model_text(old='name = "base"\n', new="")
    text = text[: text.index("[optimizer]")]
    cfg = load_model(write(tmp_path, text, "my model.toml"))
    assert cfg.name == "my-model"
    assert cfg.optimizer.type == "adam" and cfg.schedule.type == "none" and cfg.training.epochs == 1


def test_encoding_defaults_by_dataset_kind(tmp_path: Path) -> None:
    cfg = load_model(write(tmp_path, model_text(old='encoding = "latency"\n', new="")))
    assert cfg.input.encoding == "latency"
    text = model_text(old='dataset = "digits"\nencoding = "latency"\nt_window = 0.1', new='dataset = "shd"')
    text = text.replace("neurons = 10", "neurons = 20")
    cfg = load_model(write(tmp_path, text))
    assert cfg.input.encoding == "events" and cfg.input.shape == (700,) and cfg.input.classes == 20


def shd_text(old: str = "", new: str = "") -> str:
    """BASE on the SHD event dataset (20 classes, t_window dropped), with one more textual edit."""
    text = model_text(old='dataset = "digits"\nencoding = "latency"\nt_window = 0.1',
                      new='dataset = "shd"\nencoding = "events"').replace("neurons = 10", "neurons = 20")
    if old:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def test_event_input_keys_and_defaults(tmp_path: Path) -> None:
    cfg = load_model(write(tmp_path, shd_text()))
    assert (cfg.input.resolution, cfg.input.max_input_spikes) == (0.0, 10)
    cfg = load_model(write(tmp_path, shd_text('encoding = "events"', "resolution = 0.001\nmax_input_spikes = 4")))
    assert cfg.input.encoding == "events" and cfg.input.resolution == 0.001 and cfg.input.max_input_spikes == 4
    text = to_toml(cfg)
    assert "resolution = 0.001\nmax_input_spikes = 4\n" in text and "t_window" not in text
    assert "max_input_spikes" not in to_toml(load_model(write(tmp_path, model_text())))


def test_conv_model_kernel_is_tuple(tmp_path: Path) -> None:
    cfg = load_model(write(tmp_path, model_text(CONV_LAYERS)))
    assert cfg.layers[0].kernel == (3, 3) and isinstance(cfg.layers[0].kernel, tuple)
    assert cfg.layers[1] == LayerConfig(type="pool", size=2)
    assert layer_shapes(cfg) == [(6, 6, 4), (3, 3, 4), (10,)]
    assert parameter_count(cfg) == [4 * 3 * 3 * 1, 0, 10 * 36]


# --- rejections -------------------------------------------------------------------------------------------------

REJECTIONS = [
    # (layers, old, new, fragments that the message must contain)
    # unknown keys, with and without a suggestion
    (DENSE_LAYERS, 'name = "base"', 'name = "base"\nnmae = "x"',
     ['nmae = "x"', "unknown key", 'did you mean "name"', "allowed keys: name, input"]),
    (DENSE_LAYERS, "tau_s = 0.13", "tau = 0.13",
     ["layers[0].tau = 0.13", 'did you mean "tau_s"', "allowed keys: type, neurons, tau_s"]),
    (DENSE_LAYERS, "seed = 1", "seed = 1\nzzz = 1", ["training.zzz = 1: unknown key; allowed keys: epochs"]),
    (DENSE_LAYERS, "[optimizer]", "[optimiser]", ["optimiser = ", 'did you mean "optimizer"']),
    (DENSE_LAYERS, "high = 1.0 }", "high = 1.0, hihg = 2 }", ["layers[0].init.hihg = 2", 'did you mean "high"']),
    # keys of another variant
    (DENSE_LAYERS, "n_false = 0", "n_false = 0\ntau_loss = 0.1",
     ['loss.tau_loss = 0.1: not used by loss type "count"', "allowed keys: type, n_true, n_false"]),
    (DENSE_LAYERS, "neurons = 16", "neurons = 16\nkernel = [3, 3]",
     ['layers[0].kernel = [3, 3]: not used by layer type "dense"']),
    (DENSE_LAYERS, 'type = "none"', 'type = "none"\nfactor = 0.5',
     ['schedule.factor = 0.5: not used by schedule "none"']),
    (DENSE_LAYERS, "lr = 0.003", "lr = 0.003\n[optimizer.x]", ['optimizer.x = {}: unknown key']),
    # missing required keys
    (DENSE_LAYERS, "tau_s = 0.13\n", "", ["layers[0].tau_s: missing; required: a number > 0"]),
    (DENSE_LAYERS, "neurons = 16\n", "", ["layers[0].neurons: missing; required: an integer >= 1"]),
    (DENSE_LAYERS, 'type = "dense"\nneurons = 16', "neurons = 16",
     ["layers[0].type: missing; allowed: dense, conv, pool"]),
    (DENSE_LAYERS, 'dataset = "digits"\n', "", ["input.dataset: missing; required: one of: digits, mnist"]),
    (DENSE_LAYERS, "[simulation]\nt_max = 0.2\n", "", ["simulation: missing; required: a table"]),
    (DENSE_LAYERS, '[loss]\ntype = "count"\nn_true = 1\nn_false = 0\n', "", ["loss: missing; required: a table"]),
    (DENSE_LAYERS, '[loss]\ntype = "count"', "[loss]", ["loss.type: missing; allowed: ttfs, count, time"]),
    ("", "", "", ["layers: missing; required: an array of tables"]),
    # wrong types
    (DENSE_LAYERS, "theta = 0.2", "theta = true", ["layers[0].theta = true: must be a number > 0"]),
    (DENSE_LAYERS, "neurons = 16", "neurons = 16.0", ["layers[0].neurons = 16.0: must be an integer >= 1"]),
    (DENSE_LAYERS, "epochs = 2", 'epochs = "2"', ['training.epochs = "2": must be an integer >= 1']),
    (DENSE_LAYERS, 'dataset = "digits"', "dataset = 3", ["input.dataset = 3: must be a string; allowed: digits"]),
    (DENSE_LAYERS, "t_max = 0.2", "t_max = [0.2]", ["simulation.t_max = [0.2]: must be a number > 0"]),
    (DENSE_LAYERS, 'init = { distribution = "uniform", low = -1.0, high = 1.0 }', "init = 3",
     ["layers[0].init = 3: must be a table"]),
    (DENSE_LAYERS, "[simulation]", "[[simulation]]", ["simulation = [{ t_max = 0.2 }]: must be a table"]),
    (DENSE_LAYERS, "t_max = 0.2", "t_max = nan", ["simulation.t_max = nan: must be a finite number > 0"]),
    (DENSE_LAYERS, "lr = 0.003", "lr = inf", ["optimizer.lr = inf: must be a finite number in (0, 1]"]),
    (DENSE_LAYERS, "lr = 0.003", "lr = 1e308", ["optimizer.lr = 1e+308: must be in (0, 1]"]),  # finite: was "finite"
    (DENSE_LAYERS, "lr = 0.003", "lr = 1" + "0" * 400, ["optimizer.lr = 1000000000000000000000000000000000000",
                                                         "...: must be a finite number in (0, 1]"]),
    (CONV_LAYERS, "kernel = [3, 3]", "kernel = [3]", ["layers[0].kernel = [3]: must be a list of two integers"]),
    (CONV_LAYERS, "kernel = [3, 3]", "kernel = [3, 3.0]", ["layers[0].kernel = [3, 3.0]: must be a list of two"]),
    # out-of-range values
    (DENSE_LAYERS, "tau_s = 0.13", "tau_s = -0.1", ["layers[0].tau_s = -0.1: must be > 0"]),
    (DENSE_LAYERS, "tau_s = 0.13", "tau_s = 0", ["layers[0].tau_s = 0: must be > 0"]),
    (DENSE_LAYERS, "theta = 1.3", "theta = 0.0", ["layers[1].theta = 0.0: must be > 0"]),
    (DENSE_LAYERS, "theta = 0.2", "theta = 0.2\ndelta_theta = -1", ["layers[0].delta_theta = -1: must be > 0"]),
    (DENSE_LAYERS, "max_spikes = 5", "max_spikes = 0", ["layers[0].max_spikes = 0: must be >= 1"]),
    (DENSE_LAYERS, "neurons = 16", "neurons = 0", ["layers[0].neurons = 0: must be >= 1"]),
    (DENSE_LAYERS, "lr = 0.003", "lr = 0", ["optimizer.lr = 0: must be in (0, 1]"]),
    (DENSE_LAYERS, "lr = 0.003", "lr = 0.003\nbeta1 = 1.0", ["optimizer.beta1 = 1.0: must be in [0, 1)"]),
    (DENSE_LAYERS, "epochs = 2", "epochs = 0", ["training.epochs = 0: must be >= 1"]),
    (DENSE_LAYERS, "batch_size = 50", "batch_size = 0", ["training.batch_size = 0: must be >= 1"]),
    (DENSE_LAYERS, "test_batch_size = 100", "test_batch_size = -5", ["training.test_batch_size = -5: must be >= 1"]),
    (DENSE_LAYERS, "seed = 1", "seed = 1\ntrain_samples = -1", ["training.train_samples = -1: must be >= 0"]),
    (DENSE_LAYERS, "n_true = 1", "n_true = -1", ["loss.n_true = -1: must be >= 0"]),
    (DENSE_LAYERS, "t_max = 0.2", "t_max = 0", ["simulation.t_max = 0: must be > 0"]),
    (DENSE_LAYERS, "t_window = 0.1", "t_window = -0.1", ["input.t_window = -0.1: must be > 0"]),
    (DENSE_LAYERS, "low = -1.0, high = 1.0", "low = 1.0, high = 1.0",
     ["layers[0].init.high = 1.0: must have high > low, got low = 1, high = 1"]),
    (DENSE_LAYERS, '"uniform", low = -1.0, high = 1.0', '"normal", mean = 0.0, std = -0.5',
     ["layers[0].init.std = -0.5: must be >= 0"]),
    (DENSE_LAYERS, '"uniform", low = -1.0, high = 1.0', '"normal", low = 0.0',
     ['layers[0].init.low = 0.0: not used by init distribution "normal"; allowed keys: distribution, mean, std']),
    (CONV_LAYERS, "size = 2", "size = 1", ["layers[1].size = 1: must be >= 2"]),
    (CONV_LAYERS, "kernel = [3, 3]", "kernel = [0, 3]", ["layers[0].kernel = [0, 3]: must be >= 1"]),
    (DENSE_LAYERS, 'type = "none"', 'type = "step"\nfactor = 1.5', ["schedule.factor = 1.5: must be in (0, 1]"]),
    # unknown choices
    (DENSE_LAYERS, 'dataset = "digits"', 'dataset = "mnsit"',
     ['input.dataset = "mnsit": unknown dataset (did you mean "mnist"?); allowed: digits, mnist, fashion-mnist']),
    (DENSE_LAYERS, 'encoding = "latency"', 'encoding = "rate"', ['input.encoding = "rate": unknown encoding']),
    (DENSE_LAYERS, 'type = "count"', 'type = "mse"', ['loss.type = "mse": unknown loss type; allowed: ttfs, count']),
    (DENSE_LAYERS, 'type = "adam"', 'type = "adamw"',
     ['optimizer.type = "adamw": unknown optimizer (did you mean "adam"?); allowed: adam, nadam, sgd']),
    (DENSE_LAYERS, 'type = "none"', 'type = "cosine"', ['schedule.type = "cosine": unknown schedule']),
    (DENSE_LAYERS, 'type = "dense"', 'type = "lstm"', ['layers[0].type = "lstm": unknown layer type']),
    (DENSE_LAYERS, '"uniform"', '"gauss"', ['layers[0].init.distribution = "gauss": unknown init distribution']),
    (DENSE_LAYERS, 'encoding = "latency"', 'encoding = "events"',
     ['input.encoding = "events": does not apply to image dataset "digits"; allowed: latency']),
    (DENSE_LAYERS, 'name = "base"', 'name = "a/b"', ['name = "a/b": must start with a letter or digit']),
    # before: accepted, and the run failed on "File name too long" once the data had loaded
    (DENSE_LAYERS, 'name = "base"', f'name = "{"x" * 201}"', ['name = "xxxxxxxxxx', ": must start with a letter or "
                                                             "digit and use only letters, digits, '.', '_', '-' (at "
                                                             "most 200 characters)"]),
    # the output layer and the layer chain
    (DENSE_LAYERS, "neurons = 10", "neurons = 12",
     ["layers[1].neurons = 12: the last layer needs one neuron per class of digits; allowed: 10"]),
    (CONV_LAYERS, 'type = "dense"\nneurons = 10\ntau_s = 0.13\ntheta = 1.0', 'type = "pool"',
     ['layers[2].type = "pool": the last layer must be dense; allowed: dense with 10 neurons '
      "(one per class of digits)"]),
    (CONV_LAYERS, "kernel = [3, 3]", "kernel = [9, 3]",
     ["layers[0].kernel = [9, 3]: larger than its 8x8x1 input (the input of digits); allowed: up to [8, 8]"]),
    (CONV_LAYERS, "size = 2", "size = 7",
     ["layers[1].size = 7: larger than its 6x6x4 input (the output of layers[0], conv); allowed: up to 6"]),
    (CONV_LAYERS, "kernel = [3, 3]", "kernel = [8, 8]",  # before: "allowed: up to 1", below the smallest size, 2
     ["layers[1].size = 2: larger than its 1x1x4 input (the output of layers[0], conv); allowed: none (a pool "
      "needs an input of at least 2x2)"]),
    (DENSE_LAYERS + '\n[[layers]]\ntype = "pool"\n', "", "",
     ['layers[2].type = "pool": needs an (x, y, channels) input, got 10 (the output of layers[1], dense); '
      "allowed: dense"]),
    (DENSE_LAYERS.replace("neurons = 10", "neurons = 16") + CONV_LAYERS, "", "",
     ['layers[2].type = "conv": needs an (x, y, channels) input, got 16 (the output of layers[1], dense)']),
    ("[layers]\n", "", "", ["layers = {}: must be an array of tables, written [[layers]]"]),
    ("", 'name = "base"', 'name = "base"\nlayers = []', ["layers = []: empty; at least one layer is required"]),
]


def assert_error_names(path: Path, fragments: list[str]) -> None:
    """Loading `path` fails with one message that starts with the file and contains every fragment."""
    message = error_of(path)
    assert message.startswith(f"{path}: "), message
    for fragment in fragments:
        assert fragment in message, message


EVENT_REJECTIONS = [
    # (edit of shd_text, fragments that the message must contain)
    (('encoding = "events"', 'encoding = "events"\nt_window = 0.1'),
     ['input.t_window = 0.1: does not apply to event-stream dataset "shd" (it is a key of image datasets); '
      "allowed keys: encoding, dataset, resolution, max_input_spikes"]),
    (('encoding = "events"', 'encoding = "latency"'),
     ['input.encoding = "latency": does not apply to event-stream dataset "shd"; allowed: events']),
    (('encoding = "events"', "resolution = -0.001"), ["input.resolution = -0.001: must be >= 0"]),
    (('encoding = "events"', "max_input_spikes = 0"), ["input.max_input_spikes = 0: must be >= 1"]),
    (('encoding = "events"', "max_input_spikes = 2.5"), ["input.max_input_spikes = 2.5: must be an integer >= 1"]),
    (('encoding = "events"', "max_spikes_input = 3"),
     ['input.max_spikes_input = 3: unknown key (did you mean "max_input_spikes"?)']),
    (('encoding = "events"', 'encoding = "events"\n[augment]\ntype = "elastic"'),
     ['augment.type = "elastic": does not apply to event-stream dataset "shd"; allowed: none']),
]


@pytest.mark.parametrize("edit, fragments", EVENT_REJECTIONS)
def test_event_input_rejections(tmp_path: Path, edit: tuple[str, str], fragments: list[str]) -> None:
    assert_error_names(write(tmp_path, shd_text(*edit)), fragments)


def test_event_keys_on_an_image_dataset(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, model_text(old="t_window = 0.1", new="resolution = 0.001")))
    assert message.endswith('input.resolution = 0.001: does not apply to image dataset "digits" (it is a key of '
                            "event-stream datasets); allowed keys: encoding, dataset, t_window"), message


@pytest.mark.parametrize("layers, old, new, fragments", REJECTIONS)
def test_rejections(tmp_path: Path, layers: str, old: str, new: str, fragments: list[str]) -> None:
    assert_error_names(write(tmp_path, model_text(layers, old, new)), fragments)


def test_long_time_windows_are_accepted(tmp_path: Path) -> None:
    # t_max / tau_s = 10,000: the kernels' time frames keep every exponential finite (tests/test_long_inputs.py)
    cfg = load_model(write(tmp_path, model_text(old="tau_s = 0.13", new="tau_s = 0.00002")))
    assert cfg.t_max / cfg.layers[0].tau_s == pytest.approx(10_000)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    assert error_of(path) == (f"{path}: no such model file (or name a packaged one: conv, conv-small, count, default, "
                              "emnist, fashion, fashion-small, nmnist, shd, ttfs)")


def test_directory_is_not_a_model(tmp_path: Path) -> None:
    assert error_of(tmp_path) == f"{tmp_path}: is a directory, not a model file"


def test_only_regular_files_of_sane_size_are_read(tmp_path: Path) -> None:
    fifo = tmp_path / "model.fifo"
    os.mkfifo(fifo)  # reading it would block for ever
    assert error_of(fifo) == f"{fifo}: not a regular file; a model file is a TOML text file"
    assert error_of(Path("/dev/zero")) == "/dev/zero: not a regular file; a model file is a TOML text file"
    big = write(tmp_path, "# " + "x" * (1 << 20) + "\n")
    assert error_of(big).startswith(f"{big}: {big.stat().st_size} bytes; a model file is TOML text of at most")
    link = tmp_path / "link.toml"
    link.symlink_to(write(tmp_path, model_text()))
    assert load_model(link).name == "base"


def test_deeply_nested_toml_is_one_line_error(tmp_path: Path) -> None:
    path = write(tmp_path, model_text() + "deep = " + "[" * 600 + "]" * 600 + "\n")
    assert error_of(path) == f"{path}: invalid TOML: arrays or tables nested too deeply"
    assert error_of(write(tmp_path, model_text()), ("training.seed=" + "[" * 600,)).endswith(
        "must be an integer in [0, 9223372036854775807]")  # a --set value that is not TOML is a string


CROSS_TABLE_REJECTIONS = [
    ("training.seed=9223372036854775808", "--set training.seed = 9223372036854775808: must be in [0, "),
    ("input.t_window=0.5", "--set input.t_window = 0.5: must be <= simulation.t_max (0.2 s)"),
    ("loss.n_true=6", "--set loss.n_true = 6: must be <= the output layer's max_spikes (5): no neuron can reach a "
                      "larger count"),
    # a default the file never wrote is named as one (before: "loss.n_true = 15: must be <= ..." alone)
    ("loss={type='count'}", "loss.n_true = 15: must be <= the output layer's max_spikes (5): no neuron can reach a "
                            "larger count (the default; set loss.n_true)"),
    ("layers[0].neurons=1000000000", "the model needs about "),
    ("layers[0].max_spikes=100000000", "make layers, max_spikes or batch sizes smaller"),
    ("optimizer.lr=1e30", "--set optimizer.lr = 1e+30: must be in (0, 1]"),
    ("simulation.precision='float16'", '--set simulation.precision = "float16": unknown precision (did you mean '
                                       '"float64"?); allowed: float32, float64'),
    ("layers[0].tau_s=1e-300", "--set layers[0].tau_s = 1e-300: too short for simulation.t_max = 0.2 s: t_max / "
                               "tau_s = 2e+299, allowed up to 1e+05"),
    # the first value past the limit names a ratio past it (before: "1e+05, allowed up to 1e+05" for 1.99e-6)
    ("layers[0].tau_s=1.99e-6", "t_max / tau_s = 100503, allowed up to 1e+05"),
    # float32 steps spike times by tau_s * 2.4e-7 (before: accepted; 0.15 ms errors at tau_s 1000)
    ("layers[0].tau_s=20.01", "--set layers[0].tau_s = 20.01: too long for float32 at simulation.t_max = 0.2 s: "
                              "tau_s / t_max = 100.05, allowed up to 100 (float32 steps spike times by tau_s x "
                              "2.4e-7 = 4.8e-06 s); use simulation.precision = \"float64\""),
    # targets that train against the prediction rule (before: accepted; the loss fell while accuracy went to 0)
    ("loss.n_true=0", "--set loss.n_true = 0: must be greater than loss.n_false (0): the prediction is the output "
                      "neuron with the most spikes"),
    ("loss={type='time',t_true=0.15,t_false=0.05}", "loss.t_true = 0.15: must be less than loss.t_false (0.05 s): the "
                                                    "prediction is the output neuron that fires first"),
]


@pytest.mark.parametrize("overrides", [("layers[0].tau_s=2e-6",), ("layers[0].tau_s=20",),
                                       ("layers[0].tau_s=1000", "simulation.precision='float64'"),
                                       ("loss={type='time',t_true=0.05,t_false=0.15}",),
                                       ("training.batch_size=300000", "training.test_batch_size=1000000")])
def test_values_at_the_limits_are_accepted(tmp_path: Path, overrides: tuple[str, ...]) -> None:
    """t_max / tau_s of 1e5 exactly (0.2 / 2e-6 is 100000.00000000001 in floating point, refused before), tau_s / t_max
    of 100 in float32 and any in float64, a time loss whose label target comes first, batch sizes beyond the
    dataset (the "full batch" idiom: digits' batches are at most its 1,437 training images, which the memory
    estimate assumed they were not, refusing 90 GiB)."""
    load_model(write(tmp_path, model_text()), overrides)


def test_the_memory_estimate_takes_no_batch_larger_than_its_split(tmp_path: Path) -> None:
    from snntrain.config.shapes import step_batch

    path = write(tmp_path, model_text())
    assert step_batch(load_model(path, ("training.batch_size=300000",))) == 1437  # digits' training split
    assert step_batch(load_model(path, ("training.batch_size=300000", "training.train_samples=500"))) == 500
    assert step_batch(load_model(path, ("training.test_batch_size=1000000",))) == 1437  # validation of the train
    assert step_batch(load_model(path, ("training.batch_size=7", "training.test_batch_size=9"))) == 9


@pytest.mark.parametrize("override, expected", CROSS_TABLE_REJECTIONS)
def test_values_that_would_fail_later_are_rejected_at_load(tmp_path: Path, override: str, expected: str) -> None:
    assert expected in error_of(write(tmp_path, model_text()), (override,))


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, 'name = "x"\n\n[input\ndataset = "mnist"\n')
    message = error_of(path)
    assert message.startswith(f"{path}:3:7: invalid TOML: ")
    assert "(at line" not in message


def test_toml_error_at_end_of_document(tmp_path: Path) -> None:
    path = write(tmp_path, 'name = "x"\nx = [1,\n')
    assert error_of(path).startswith(f"{path}:3: invalid TOML: ")


def test_a_byte_order_mark_is_read_past(tmp_path: Path) -> None:
    """Windows editors start UTF-8 files with a byte-order mark (before: "1:1: invalid TOML: Invalid statement")."""
    plain = write(tmp_path, model_text())
    marked = tmp_path / "bom.toml"
    marked.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    assert dataclasses.replace(load_model(marked), source="") == dataclasses.replace(load_model(plain), source="")


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "bin.toml"
    path.write_bytes(b'name = "x"\nname2 = "\xff"\n')
    assert error_of(path) == f"{path}:2: not UTF-8 text; a model file is TOML"


# --- --set overrides --------------------------------------------------------------------------------------------


def test_overrides_apply(tmp_path: Path) -> None:
    path = write(tmp_path, model_text())
    cfg = load_model(path, [
        "optimizer.lr=0.01",
        "layers[0].tau_s = 0.1",
        "training.epochs=3",
        "layers[-1].theta=2",
        "name=renamed",  # not TOML: taken as a bare string
        'input.dataset="mnist"',
        'layers[0].init={ distribution = "normal", mean = 0.5, std = 0.25 }',
        "training.epochs=4",  # later overrides win
    ])
    assert cfg.optimizer.lr == 0.01
    assert cfg.layers[0].tau_s == 0.1
    assert cfg.layers[1].theta == 2.0 and cfg.layers[1].delta_theta == 2.0
    assert cfg.training.epochs == 4
    assert cfg.name == "renamed"
    assert cfg.input.dataset == "mnist" and cfg.input.shape == (28, 28, 1)
    assert cfg.layers[0].init == InitConfig(distribution="normal", mean=0.5, std=0.25)
    assert cfg.source == str(path)
    assert load_model(path).optimizer.lr == 0.003  # the file itself is untouched


def test_override_creates_missing_table(tmp_path: Path) -> None:
    text = model_text(old='[schedule]\ntype = "none"\n', new="")
    cfg = load_model(write(tmp_path, text), ["schedule.type=step", "schedule.every=5"])
    assert cfg.schedule.type == "step" and cfg.schedule.every == 5


def test_override_replaces_a_table_to_change_its_type(tmp_path: Path) -> None:
    cfg = load_model(write(tmp_path, model_text()), ['loss={ type = "ttfs", tau_loss = 0.01 }'])
    assert cfg.loss.type == "ttfs" and cfg.loss.tau_loss == 0.01


def test_override_kernel_entry(tmp_path: Path) -> None:
    cfg = load_model(write(tmp_path, model_text(CONV_LAYERS)), ["layers[0].kernel[1]=5"])
    assert cfg.layers[0].kernel == (3, 5)
    assert layer_shapes(cfg)[0] == (6, 4, 4)


BAD_OVERRIDES = [
    ("optimizer.lr", "--set optimizer.lr: expected KEY=VALUE, e.g. --set optimizer.lr=0.001"),
    ("=3", "--set =3: expected KEY=VALUE"),
    ("a..b=1", "--set a..b: not a key path; allowed: names joined by '.'"),
    ("layers[x].tau_s=1", "--set layers[x].tau_s: not a key path"),
    ("optimizer.lrr=0.1", '--set optimizer.lrr = 0.1: unknown key (did you mean "lr"?); allowed keys: type, lr'),
    ("optimiser.lr=0.1", '--set optimiser = { lr = 0.1 }: unknown key (did you mean "optimizer"?)'),
    ("layers[2].tau_s=0.1", "--set layers[2].tau_s: index 2 out of range; allowed: 0 to 1 (layers has 2 entries)"),
    ("layers[-3].tau_s=0.1", "--set layers[-3].tau_s: index -3 out of range"),
    ("layers.tau_s=0.1", "--set layers.tau_s: layers is a list; pick an entry, e.g. layers[0].tau_s"),
    ("optimizer.lr.x=1", "--set optimizer.lr.x: optimizer.lr = 0.003 is not a table"),
    ("optimizer[0]=1", "--set optimizer[0]: optimizer is not a list, so [0] does not apply"),
    ("optimizer.lr=-1", "--set optimizer.lr = -1: must be in (0, 1]"),
    ("optimizer.lr=fast", '--set optimizer.lr = "fast": must be a number in (0, 1]'),
    ("layers[-1].tau_s=0", "--set layers[1].tau_s = 0: must be > 0"),
    ("training.epochs=2.5", "--set training.epochs = 2.5: must be an integer >= 1"),
    ("loss.type=ttfs", 'loss.n_true = 1: not used by loss type "ttfs"; allowed keys: type, tau_loss, silent_label_scaling '
                       "(to change the type with --set, replace the table: --set 'loss={ type = \"ttfs\" }')"),
    ("layers[1].neurons=3", "--set layers[1].neurons = 3: the last layer needs one neuron per class"),
    ("augment.type='shift'", '--set augment.type = "shift": unknown augmentation; allowed: none, elastic'),
    ("augment.sigma=1", '--set augment.sigma = 1: not used by augmentation "none"; allowed keys: type'),
    ("augment={ type = 'elastic', sigma = 0 }", "--set augment.sigma = 0: must be > 0"),
    ("augment={ type = 'elastic', points = 1 }", "--set augment.points = 1: must be >= 2"),
    # values the model's float32 cannot hold (before: accepted, then inf or 0 inside the kernels)
    ("layers[0].theta=1e39", "--set layers[0].theta = 1e+39: beyond float32, the model's precision (at most "
                             "3.403e+38)"),
    ("layers[0].theta=1e-50", "--set layers[0].theta = 1e-50: rounds to 0 in float32, the model's precision (its "
                              "smallest number: 1.401e-45)"),
    ("optimizer.eps=1e-50", "--set optimizer.eps = 1e-50: rounds to 0 in float32"),
    # a grid finer than the pixels (before: accepted, then a 745 GiB allocation after the run directory was made)
    ("augment={ type = 'elastic', points = 100000 }", "--set augment.points = 100000: must be <= 8, the image's "
                                                      "side in pixels"),
    ("augment={ type = 'elastic', points = 9223372036854775807 }", "augment.points = 9223372036854775807: must be "
                                                                   "<= 8"),
    ("augment={ type = 'elastic', per = 'image' }", '--set augment.per = "image": unknown unit of draws; allowed: '
                                                    "batch, sample"),
]


@pytest.mark.parametrize("override, expected", BAD_OVERRIDES)
def test_bad_overrides(tmp_path: Path, override: str, expected: str) -> None:
    path = write(tmp_path, model_text())
    message = error_of(path, (override,))
    assert message.startswith(f"{path}: "), message
    assert expected in message, message


# --- shapes, parameter counts, round trip -----------------------------------------------------------------------


def test_shipped_models_exist() -> None:
    names = {path.stem for path in MODELS}
    assert {"default", "ttfs", "count", "conv", "emnist", "fashion", "shd", "nmnist"} <= names


def test_conv_shapes_and_parameters() -> None:
    cfg = load_model(next(p for p in MODELS if p.stem == "conv"))
    assert cfg.input.shape == (28, 28, 1)
    assert layer_shapes(cfg) == [(24, 24, 15), (12, 12, 15), (8, 8, 40), (4, 4, 40), (300,), (10,)]
    assert parameter_count(cfg) == [15 * 5 * 5 * 1, 0, 40 * 5 * 5 * 15, 0, 300 * 640, 10 * 300]


EVENT_MODELS = {"shd", "nmnist"}


def test_reference_values() -> None:
    by_name = {path.stem: load_model(path) for path in MODELS if path.stem not in EVENT_MODELS}
    ttfs = by_name["ttfs"]
    assert [layer.neurons for layer in ttfs.layers] == [800, 10]
    assert ttfs.loss.type == "ttfs" and ttfs.loss.tau_loss == 0.005 and ttfs.t_max == 1.0
    assert ttfs.layers[0].init == InitConfig("uniform", 0.0, 1.0)
    emnist = by_name["emnist"]
    assert emnist.input.dataset == "emnist" and emnist.layers[-1].neurons == 47
    fashion = by_name["fashion"]
    assert fashion.input.dataset == "fashion-mnist" and fashion.training.batch_size == 5
    assert fashion.optimizer.lr == 0.0005 and fashion.schedule.min_lr == 0.0001
    conv = by_name["conv"]
    assert conv.training.test_batch_size == 50 and conv.training.batch_size == 20
    assert (conv.loss.n_true, conv.loss.n_false) == (30, 3)
    for cfg in by_name.values():
        assert all(layer.tau_s == 0.13 for layer in cfg.layers if layer.type != "pool")
        assert cfg.optimizer.type == "adam"
    assert by_name["default"].input.dataset == "digits"


@pytest.mark.parametrize("name, channels, classes", [("shd", 700, 20), ("nmnist", 34 * 34 * 2, 10)])
def test_event_models(name: str, channels: int, classes: int) -> None:
    cfg = load_model(next(p for p in MODELS if p.stem == name))
    assert cfg.input.encoding == "events" and math.prod(cfg.input.shape) == channels
    assert cfg.layers[-1].neurons == classes and cfg.loss.type == "count"
    assert cfg.input.max_input_spikes >= 1 and cfg.input.resolution > 0
    assert all(0.005 <= layer.tau_s <= 0.05 for layer in cfg.layers)


def _round_trip(tmp_path: Path, cfg: ModelConfig) -> ModelConfig:
    path = write(tmp_path, to_toml(cfg), "resolved.toml")
    return dataclasses.replace(load_model(path), source=cfg.source)


@pytest.mark.parametrize("model", MODELS, ids=lambda p: p.stem)
def test_round_trip_shipped_models(tmp_path: Path, model: Path) -> None:
    cfg = load_model(model)
    assert _round_trip(tmp_path, cfg) == cfg


def test_round_trip_other_variants(tmp_path: Path) -> None:
    cfg = load_model(write(tmp_path, model_text(CONV_LAYERS)), [
        'loss={ type = "time", t_true = 0.05, t_false = 0.15 }',
        'optimizer={ type = "sgd", lr = 0.1 }',
        'schedule={ type = "step", factor = 0.5, every = 3, min_lr = 1e-5 }',
        'layers[2].init={ distribution = "normal", mean = 0.0, std = 0.3 }',
        "layers[0].delta_theta=0.05",
        'name="with.dots_and-dashes"',
        'augment={ type = "elastic", sigma = 0.5, points = 3, per = "sample" }',
    ])
    assert _round_trip(tmp_path, cfg) == cfg
    ttfs = load_model(write(tmp_path, model_text()), ['loss={ type = "ttfs" }', 'optimizer.type="nadam"'])
    assert _round_trip(tmp_path, ttfs) == ttfs


def test_packaged_models_load_by_name_from_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reference models come with the package: a bare name finds them outside a clone; a file of that name
    in the working directory, or any path, is still read as given."""
    monkeypatch.chdir(tmp_path)
    assert load_model("ttfs").name == "ttfs" and load_model("fashion").layers[0].neurons == 400
    (tmp_path / "ttfs").write_text(model_text(), encoding="utf-8")  # a local file wins over the packaged name
    assert load_model("ttfs").name == "base"
    assert "no such model file" in error_of(tmp_path / "nope")


def test_config_differences_name_each_setting_as_set_would(tmp_path: Path) -> None:
    """What a run's saved configuration differs in from a model file: none after the TOML round trip (the file
    read is not a setting); otherwise each key as `--set` spells it, with both values, in the model file's order;
    a table of another kind (augmentation, init distribution, loss) as the whole table that `--set` would write;
    a different number of layers as such."""
    from snntrain.config.compare import config_differences

    conv = load_model("conv")
    saved = load_model(write(tmp_path, to_toml(conv), "config.toml"))
    assert saved.source != conv.source and config_differences(saved, conv) == []
    sets = ['augment={ type = "none" }', "layers[1].size=3", "simulation.t_max=0.3", "layers[0].init.low=-2.0",
            'layers[2].init={ distribution = "normal", std = 0.5 }', "optimizer.lr=0.001", "training.seed=4"]
    found = config_differences(load_model("conv", sets), conv)
    assert found == [
        "simulation.t_max = 0.3 (reference: 0.2)", "layers[0].init.low = -2.0 (reference: -1.0)",
        "layers[1].size = 3 (reference: 2)",
        'layers[2].init = { distribution = "normal", mean = 0.0, std = 0.5 } '
        '(reference: { distribution = "uniform", low = -1.0, high = 1.0 })',
        "optimizer.lr = 0.001 (reference: 0.003)",
        'augment = { type = "none" } (reference: { type = "elastic", sigma = 1.0, points = 2, per = "batch" })',
        "training.seed = 4 (reference: 0)"]
    # each is a --set that turns the reference into the other configuration
    assert config_differences(load_model("conv", [f.split(" (reference")[0].replace(" = ", "=", 1) for f in found]),
                              load_model("conv", sets)) == []
    ttfs = config_differences(load_model("ttfs"), conv)
    assert "layers: 2 layers (reference: 6)" in ttfs and any(f.startswith('loss = { type = "ttfs"') for f in ttfs)


def test_the_readme_lists_every_model_file_key():
    from snntrain.config import schema

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    table = readme[readme.index("| key | allowed | default | meaning |"):].split("\n\n")[0]
    listed = {key for cell in re.findall(r"^\| (`[^|]+`) \|", table, re.M) for key in re.findall(r"`([^`]+)`", cell)}
    keys = {"name"} | {f"simulation.{k}" for k in schema.SIMULATION} | {f"training.{k}" for k in schema.TRAINING}
    for prefix, variants in [("input", schema.INPUT), ("layers[i]", schema.LAYER), ("loss", schema.LOSS),
                             ("optimizer", schema.OPTIMIZER), ("schedule", schema.SCHEDULE),
                             ("augment", schema.AUGMENT)]:
        keys |= {f"{prefix}.{variants.name}"} | {f"{prefix}.{k}" for t in variants.tables.values() for k in t}
    assert (sorted(keys - listed), sorted(listed - keys)) == ([], [])
