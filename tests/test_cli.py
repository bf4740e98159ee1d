"""The `snntrain` command line: help of every command, `--version`, `show`, and one-line errors."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from snntrain import __version__
from snntrain.cli import main

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "models" / "default.toml"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_main_help_lists_commands() -> None:
    code, out, _ = run("--help")
    assert code == 0
    for name in main.commands:
        assert name in out
    flat = " ".join(out.split())
    for model in ("default", "ttfs", "fashion", "conv"):  # the shipped model names, and where the SPEC is
        assert re.search(rf"\b{model}\b", flat.split("Shipped models", 1)[1])
    assert flat.rstrip().endswith("SPEC.md")


def test_the_spec_is_installed_with_the_package() -> None:
    """The packaged SPEC.md (what `--help` points to) is the project's SPEC: the copy beside the checkout when
    there is one (this project keeps it in ../shared), else at least the document it must be."""
    from snntrain.cli import SPEC_PATH

    text = SPEC_PATH.read_text(encoding="utf-8")
    assert text.startswith("# snntrain") and "## " in text
    shared = Path(__file__).resolve().parents[2] / "shared" / "SPEC.md"
    if shared.exists():
        assert text == shared.read_text(encoding="utf-8"), "snntrain/SPEC.md differs from ../shared/SPEC.md: copy it"


@pytest.mark.parametrize("name", sorted(main.commands))
def test_command_help(name: str) -> None:
    code, out, _ = run(name, "--help")
    assert code == 0, out
    assert f"Usage: main {name}" in out or f"Usage: snntrain {name}" in out


def test_the_command_line_and_its_help_do_not_load_numba() -> None:
    """`snntrain --help`, every command's help and `show` start without numba, which takes half a second to
    import (the CLI imported the backends for their device names, and with them every kernel)."""
    code = ("import sys\nfrom click.testing import CliRunner\nfrom snntrain.cli import main\n"
            "for args in [['--help'], *([name, '--help'] for name in main.commands), ['show', '--model', 'default']]:\n"
            "    assert CliRunner().invoke(main, args).exit_code == 0, args\n"
            "print('numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False"]


def test_version() -> None:
    code, out, _ = run("--version")
    assert code == 0
    assert out.strip() == f"snntrain, version {__version__}"


def test_show_default_model() -> None:
    code, out, err = run("show", "--model", str(DEFAULT))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["model", "default"]
    assert f"source      {DEFAULT}" in lines
    assert "dataset     digits (8x8x1, 10 classes)" in lines
    assert "t_max       0.2 s" in lines
    layer_rows = [line.split() for line in lines if line.startswith("  ") and line.split()[0].isdigit()]
    assert [row[:4] for row in layer_rows] == [["0", "dense", "128", "128"], ["1", "dense", "10", "10"]]
    assert [row[-1] for row in layer_rows] == ["8,192", "1,280"]
    assert "parameters  9,472" in lines
    assert "loss        count: n_true 15, n_false 3, silent_label_scaling 0.0" in lines
    assert any(line.startswith("optimizer   adam: lr 0.01") for line in lines)
    assert any(line.startswith("training    epochs 30, batch_size 20") for line in lines)


def test_show_event_model() -> None:
    code, out, err = run("show", "--model", str(DEFAULT.parent / "nmnist.toml"), "--set", "input.resolution=0.005")
    assert code == 0, err
    lines = out.splitlines()
    assert "dataset     nmnist (34x34x2, 10 classes)" in lines
    assert "encoding    events, resolution 0.005 s, max_input_spikes 8" in lines


def test_show_applies_overrides() -> None:
    code, out, err = run("show", "--model", str(DEFAULT), "--set", "layers[0].neurons=64",
                         "--set", 'layers[0].init={ distribution = "normal", mean = 0, std = 0.5 }')
    assert code == 0, err
    row = next(line.split() for line in out.splitlines() if line.strip().startswith("0 "))
    assert row[2] == "64" and "N(0," in row and row[-1] == "4,096"


def test_show_bad_model_is_one_line_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(DEFAULT.read_text().replace("tau_s = 0.130", "tau_s = -0.1", 1))
    code, out, err = run("show", "--model", str(bad))
    assert code == 2
    assert out == ""
    assert err == f"error: {bad}: layers[0].tau_s = -0.1: must be > 0\n"
    assert "Traceback" not in err


@pytest.mark.parametrize("args, expected", [
    (("--model", "does/not/exist.toml"), "error: does/not/exist.toml: no such model file (or name a packaged one: "
                                         "conv, conv-small, count, default, emnist, fashion, fashion-small, nmnist, "
                                         "shd, ttfs)\n"),
    # control characters in what the user typed are escaped: the error stays one line
    (("--model", "models/a\nb.toml"), "error: models/a\\nb.toml: no such model file"),
    (("--model", str(DEFAULT), "--set", "optimizer.lr"), "expected KEY=VALUE"),
    (("--model", str(DEFAULT), "--set", "optimizer.lr=-1"), "--set optimizer.lr = -1: must be in (0, 1]"),
])
def test_show_errors(args: tuple[str, ...], expected: str) -> None:
    code, _, err = run("show", *args)
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1
    assert expected in err
    assert "Traceback" not in err


@pytest.mark.parametrize("command", [("show",), ("train", "--runs-dir"), ("bench", "--runs-dir"),
                                     ("eval", "--weights", "w.h5", "--data-dir")])
def test_empty_model_name_is_one_line_exit_2(command: tuple[str, ...], tmp_path: Path) -> None:
    """(Before: ".: is a directory, not a model file", as the empty name became the current folder.)"""
    code, out, err = run(*command, *((str(tmp_path),) if len(command) > 1 else ()), "--model", "")
    assert code == 2 and out == "", err
    assert err.startswith("error: the model file name is empty; name a model file or a packaged model (conv, ")
    assert err.count("\n") == 1


@pytest.mark.parametrize("args, name", [
    (("eval", ""), "'[RUN_DIR]'"), (("train", "--resume", ""), "'--resume'"),
    (("export", "", "-o", "x.nir"), "'RUN_DIR'"), (("import", "", "-o", "x.toml"), "'NIR_FILE'"),
    (("train", "--model", "default", "--runs-dir", ""), "'--runs-dir'"), (("eval", "--data-dir", "", "x"), "'--data-dir'"),
])
def test_empty_paths_are_usage_errors(args: tuple[str, ...], name: str) -> None:
    """(Before: click read '' as the current folder: "." is not a run directory, runs written into it.)"""
    result = CliRunner().invoke(main, list(args), prog_name="snntrain")
    assert result.exit_code == 2 and result.stdout == "", result.output
    assert result.stderr == f"error: Invalid value for {name}: is empty; give a path (see 'snntrain {args[0]} -h')\n"


def test_running_out_of_memory_is_one_line(monkeypatch) -> None:
    """An allocation no check foresaw: one line, exit 1 (before: a MemoryError traceback)."""
    import numpy as np

    import snntrain.cli.show as show

    monkeypatch.setattr(show, "load_model", lambda *args: np.empty((2**40, 2**10)))  # 8 TiB
    result = CliRunner().invoke(main, ["show", "--model", "default"])
    assert result.exit_code == 1 and result.stderr.startswith("error: out of memory: Unable to allocate 8")
    assert result.stderr.endswith("shape (1099511627776, 1024) and data type float64\n"), result.output


def test_show_requires_model() -> None:
    code, _, err = run("show")
    assert code == 2
    assert "--model" in err


@pytest.mark.parametrize("args, message", [
    (("eval", "x", "--device", "gpu"), "error: Invalid value for '--device': 'gpu' is not one of 'auto', 'cpu', "
                                       "'cuda'. (see 'snntrain eval -h')"),
    (("train", "--bogus"), "error: No such option '--bogus'. (see 'snntrain train -h')"),
    (("nope",), "error: No such command 'nope'. (see 'snntrain -h')"),
])
def test_click_usage_errors_are_one_line_exit_2(args, message) -> None:
    """What click itself refuses (before: a Usage line, a Try line, a blank line and the error)."""
    result = CliRunner().invoke(main, list(args), prog_name="snntrain")
    assert result.exit_code == 2 and result.stderr == message + "\n" and result.stdout == "", result.output
