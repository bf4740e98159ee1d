"""The `snntrain` command line: one click group; each command lives in its own module."""
from __future__ import annotations

import sys
from typing import Any, NoReturn

import click

from snntrain import __version__
from snntrain.config.load import PACKAGED_MODELS, packaged_models
from snntrain.errors import SnntrainError

SPEC_PATH = PACKAGED_MODELS.parent / "SPEC.md"


# click >= 8.2 raises this for a bare command group; older click printed the help itself
_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


def one_line(message: str) -> str:
    """`message` with its control characters escaped (a newline as \\n): an error names what the user typed,
    which may hold any of them, and must still be one line."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in message)


class _Group(click.Group):
    """Turns every SnntrainError into one line on stderr and its exit code, and Ctrl-C into a one-line message;
    click's own usage errors (an unknown option, a value not among the choices) are one line too, exit 2."""

    def main(self, *args: Any, **kwargs: Any) -> NoReturn:  # type: ignore[override]
        """Run the command line as click does, and exit; click's own errors end in one line on stderr."""
        kwargs["standalone_mode"] = False  # click then raises what it would print in several lines
        try:
            code = super().main(*args, **kwargs)
        except _NO_ARGS_IS_HELP as err:  # a bare `snntrain`: the help, as click shows it
            err.show()
            sys.exit(err.exit_code)
        except click.UsageError as err:
            command = err.ctx.command_path if err.ctx is not None else "snntrain"
            click.echo(f"error: {one_line(err.format_message())} (see '{command} -h')", err=True)
            sys.exit(err.exit_code)
        except click.ClickException as err:
            click.echo(f"error: {one_line(err.format_message())}", err=True)
            sys.exit(err.exit_code)
        except click.Abort:
            click.echo("interrupted", err=True)
            sys.exit(130)
        sys.exit(code if isinstance(code, int) else 0)  # --help and --version give 0

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except SnntrainError as err:
            click.echo(f"error: {one_line(str(err))}", err=True)
            sys.exit(err.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except MemoryError as err:
            # what no check foresaw (numpy names the allocation: "Unable to allocate 146. TiB for an array with
            # shape ..."); the outputs written so far are whole, as after any other error
            click.echo(f"error: out of memory: {one_line(str(err) or 'an allocation failed')}", err=True)
            sys.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]},
             epilog=f"Shipped models (a name works wherever a model file does, e.g. --model ttfs): "
                    f"{', '.join(packaged_models())}. The neuron model, equations and losses: {SPEC_PATH}")
@click.version_option(__version__, prog_name="snntrain")
def main() -> None:
    """Train spiking neural networks with exact, event-based gradients (BATS)."""


def _register() -> None:
    # Imported after `main` exists: each command module imports `main` from this package to register itself.
    from snntrain.cli import commands  # noqa: F401


_register()
