"""What every command module shares: the console, the one-line error exit, option checks.

A command module imports these from here (never from the package ``__init__``, which imports the
command modules to register them).
"""

from __future__ import annotations

import shutil
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from medseg.cli.tables import summary_table

# Wide enough for the tables when output goes to a file or pipe (rich would assume 80 columns).
console = Console(width=shutil.get_terminal_size((140, 24)).columns)


def fail(error: Exception) -> NoReturn:
    """Prints ``error`` as one ``error:`` line on stderr and exits with code 2.

    Every command ends this way on a :class:`medseg.errors.MedsegError`.
    """
    report_error(error)
    raise typer.Exit(2)


def report_error(error: Exception) -> None:
    """The ``error:`` line of :func:`fail`, on stderr."""
    # soft_wrap: a message naming a long path must stay one line, not be folded at 80 columns
    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {escape(str(error))}", highlight=False)


def warn(message: str) -> None:
    """A ``warning:`` line on stderr (the command goes on)."""
    Console(stderr=True, soft_wrap=True).print(f"[bold yellow]warning:[/] {escape(message)}", highlight=False)


def check_option(name: str, given: float | None, ok: bool, allowed: str) -> None:
    """Raises a ConfigError naming the option, its value and what it may be, unless ``ok`` (or not given)."""
    from medseg.errors import ConfigError

    if given is not None and not ok:
        raise ConfigError(f"{name} {given!r}: must be {allowed}")


def parse_scales(text: str) -> tuple[float, ...]:
    """``"1,1.1,1.2"`` -> ``(1.0, 1.1, 1.2)``.

    Raises:
        ConfigError: not a comma-separated list of positive numbers.
    """
    from medseg.errors import ConfigError

    try:
        scales = tuple(float(v) for v in text.split(","))
    except ValueError:
        scales = ()
    if not scales or any(not s > 0 or s == float("inf") for s in scales):
        raise ConfigError(f"--scales {text!r}: give positive numbers separated by commas, e.g. 1,1.1,1.2")
    return scales


def print_summary(title: str, summary: dict[str, dict[str, float]], prefix: str = "") -> None:
    """Prints the headline metrics of an evaluation summary (:func:`medseg.cli.tables.summary_table`)."""
    console.print(summary_table(title, summary, prefix))
