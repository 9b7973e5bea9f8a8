"""`keel …`: thin commands over the library; errors become one line and an exit code."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from keel.errors import KeelError, exit_code

app = typer.Typer(
    name="keel",
    help="keel: from a spec to a trained, evaluated, reported model.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err_console = Console(stderr=True, highlight=False)


def fail(error: KeelError) -> NoReturn:
    """Print ``error`` as one red line on stderr and exit with its code."""
    err_console.print(f"[bold red]error:[/] {escape(str(error))}", soft_wrap=True)
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


def main() -> None:
    """Entry point of the `keel` script."""
    try:
        app()
    except SystemExit as stop:
        sys.exit(stop.code)
