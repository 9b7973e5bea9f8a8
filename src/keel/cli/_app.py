"""`keel …`: thin commands over the library; errors become one line and an exit code.

Every error line goes through :func:`fail`: a KeelError from a command, and a flag or argument
click refuses (a value past a flag's range, an unknown option), so each is ``error: …`` on one
line, with control characters a quoted value holds written escaped (:func:`keel.errors.one_line`).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from keel.errors import KeelError, UserError, exit_code, one_line

app = typer.Typer(
    name="keel",
    help="keel: from a spec to a trained, evaluated, reported model.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err_console = Console(stderr=True, highlight=False)


def _show(error: KeelError) -> None:
    """``error`` as one red line on stderr, control characters escaped."""
    err_console.print(f"[bold red]error:[/] {escape(one_line(str(error)))}", soft_wrap=True)


def fail(error: KeelError) -> NoReturn:
    """Print ``error`` as one red line on stderr and exit with its code."""
    _show(error)
    raise typer.Exit(exit_code(error))


def _guard(fn: Callable[[], Any]) -> Any:
    """Run a command; a KeelError becomes one red line on stderr and its exit code."""
    try:
        return fn()
    except KeelError as error:
        fail(error)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        raise typer.Exit(130) from None


# Each module registers its commands on `app`; the order here is the order of the help panels.
for _module in ("_run", "_validate", "_data", "_registry", "_serve"):
    importlib.import_module(f"keel.cli.{_module}")


@app.command(rich_help_panel="Train and evaluate")
def version() -> None:
    """Print keel's version."""
    from keel import __version__

    print(__version__)


def _click_error(name: str) -> type[Exception]:
    """click's exception class ``name``, wherever this typer takes click from (it vendors it
    from 0.2x on, so ``import click`` may name other classes)."""
    return next(c for c in typer.BadParameter.__mro__ if c.__name__ == name)


_USAGE_ERROR = _click_error("UsageError")
_CLICK_ERROR = _click_error("ClickException")


def main() -> None:
    """Entry point of the `keel` script."""
    try:
        code = typer.main.get_command(app).main(standalone_mode=False)
    except _USAGE_ERROR as error:
        if type(error).__name__ == "NoArgsIsHelpError":  # `keel data`: the help is shown
            sys.exit(2)
        ctx = getattr(error, "ctx", None)
        command = ctx.command_path if ctx is not None else "keel"
        message = error.format_message().rstrip(".")  # type: ignore[attr-defined]
        _show(UserError(f"{message}; see `{command} --help`"))
        sys.exit(2)
    except _CLICK_ERROR as error:
        error.show()  # type: ignore[attr-defined]
        sys.exit(error.exit_code)  # type: ignore[attr-defined]
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(1)
    except SystemExit as stop:
        sys.exit(stop.code)
    sys.exit(code if isinstance(code, int) else 0)
