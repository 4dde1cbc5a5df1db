"""Messages and progress: python logging for lines, a progress bar only on a terminal.

Every progress message goes through the ``medseg`` logger (:func:`log`), to standard
error by default; ``medseg --quiet`` / ``--verbose`` set its level (:func:`set_verbosity`) and
:func:`log_to_file` copies the lines into a file (a run's ``train.log``). :func:`progress` draws a
tqdm bar when standard error is a terminal and, when it is redirected to a file, writes a plain
line every :data:`PLAIN_INTERVAL_S` seconds instead of a bar's carriage returns.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

LOGGER = logging.getLogger("medseg")
PLAIN_INTERVAL_S = 30.0  # seconds between progress lines in a redirected log
FILE_FORMAT = "%(asctime)s %(message)s"


class _StderrHandler(logging.StreamHandler):
    """Writes to ``sys.stderr`` as it is when a line is written (redirected or captured streams included)."""

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:  # logging.StreamHandler sets it; the property ignores it
        pass


if not LOGGER.handlers:
    _console = _StderrHandler()
    _console.setFormatter(logging.Formatter("%(message)s"))
    LOGGER.addHandler(_console)
    LOGGER.setLevel(logging.INFO)
    LOGGER.propagate = False


def log(message: str, level: int = logging.INFO) -> None:
    """A progress message through the ``medseg`` logger (standard error unless :func:`set_verbosity` quiets it)."""
    LOGGER.log(level, message)


def set_verbosity(quiet: bool = False, verbose: bool = False) -> int:
    """Sets the ``medseg`` logger's level: WARNING with ``quiet`` (no progress either), DEBUG with
    ``verbose``, INFO otherwise; returns the level."""
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    LOGGER.setLevel(level)
    return level


def interactive() -> bool:
    """True when progress bars are drawn: standard error is a terminal and info lines are shown."""
    return LOGGER.isEnabledFor(logging.INFO) and sys.stderr.isatty()


@contextmanager
def log_to_file(path: str | Path) -> Iterator[Path]:
    """Copies every ``medseg`` log line into ``path`` (appended, with a time stamp) inside the block.

    The file gets the same lines as the console (and ``--verbose`` debug lines only when asked).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, mode="a", encoding="utf-8")
    handler.setFormatter(logging.Formatter(FILE_FORMAT, datefmt="%Y-%m-%d %H:%M:%S"))
    LOGGER.addHandler(handler)
    try:
        yield path
    finally:
        LOGGER.removeHandler(handler)
        handler.close()


class _PlainProgress:
    """tqdm's ``update`` / ``set_postfix`` / ``close`` as log lines, at most one per :data:`PLAIN_INTERVAL_S`."""

    def __init__(self, iterable: Iterable | None, total: int | None, desc: str, unit: str, initial: int) -> None:
        self.iterable, self.total, self.desc, self.unit = iterable, total, desc, unit
        self.n, self.postfix = initial, ""
        self.started = self.last = time.perf_counter()
        self.printed = False

    def __iter__(self) -> Iterator:
        for item in self.iterable or ():
            yield item
            self.update(1)
        self.close()

    def __enter__(self) -> _PlainProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _line(self) -> str:
        of = f"/{self.total}" if self.total else ""
        postfix = f"  {self.postfix}" if self.postfix else ""
        return f"{self.desc}: {self.n}{of} {self.unit}  ({time.perf_counter() - self.started:.0f} s){postfix}"

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.perf_counter()
        if now - self.last >= PLAIN_INTERVAL_S and (self.total is None or self.n < self.total):
            self.last, self.printed = now, True
            LOGGER.info(self._line())

    def set_postfix(self, **values: Any) -> None:
        self.postfix = "  ".join(f"{k} {v}" for k, v in values.items())

    def close(self) -> None:
        if self.printed:  # a task long enough for progress lines also says when it finished
            self.printed = False
            LOGGER.info(self._line())


def progress(
    iterable: Iterable | None = None,
    total: int | None = None,
    desc: str = "",
    unit: str = "it",
    initial: int = 0,
    enabled: bool = True,
    leave: bool = False,
) -> Any:
    """A progress bar (tqdm) on a terminal, periodic plain log lines otherwise, nothing with ``--quiet``.

    Args:
        iterable: what to iterate over (or None and call ``update``).
        total, desc, unit, initial, leave: as for tqdm.
        enabled: False shows nothing (e.g. on other ranks of a distributed run).

    Returns:
        An object with tqdm's ``update``, ``set_postfix``, ``close``, iteration and ``with`` support.
    """
    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    if enabled and interactive():
        return tqdm(iterable, total=total, desc=desc, unit=unit, initial=initial, leave=leave)
    if not enabled or not LOGGER.isEnabledFor(logging.INFO):
        return tqdm(iterable, total=total, disable=True)
    return _PlainProgress(iterable, total, desc, unit, initial)
