"""The reader registry: ``@READERS.register("layout")`` on a reader, :func:`read_dataset` and
:func:`check_dataset` to read a layout with every case checked.

A reader module imports :data:`READERS` from here (never from the package ``__init__``), and its
layout has one line in ``READER_MODULES`` (:mod:`medseg.data.readers.table`): :data:`READERS` knows
every layout from that table and imports a reader's module the first time the layout is read.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from medseg.data.case import Case
from medseg.data.checks import case_guard, check_case, collect_problems
from medseg.data.io import pixel_limit
from medseg.data.readers.table import READER_MODULES
from medseg.errors import ConfigError, DataError, OptionError
from medseg.registry import Registry

READERS: Registry = Registry("reader", lazy=READER_MODULES)


def read_dataset(
    layout: str, root: str | Path, max_pixels: int | None = None, max_label: int | None = None, **kwargs: Any
) -> list[Case]:
    """Reads the dataset at ``root`` with the reader registered for ``layout``; every case is checked
    (:func:`medseg.data.checks.check_case`).

    Args:
        max_pixels: refuse images larger than this before decoding (None: the default limit).
        max_label: highest allowed mask label (None: any).
        kwargs: reader options (``data.reader`` in a config).

    Raises:
        ConfigError: unknown layout or reader options.
        DataError: missing, unreadable or inconsistent files (names the file).
    """
    try:
        reader = READERS.get(layout)
    except KeyError as exc:
        raise ConfigError(f"data.layout: {exc.args[0]}") from None
    signature = inspect.signature(reader)
    try:
        signature.bind(Path(root), **kwargs)
    except TypeError:
        known = [
            n for n in list(signature.parameters)[1:] if signature.parameters[n].kind != inspect.Parameter.VAR_KEYWORD
        ]
        unknown = sorted(set(kwargs) - set(known)) if known else sorted(kwargs)
        raise ConfigError(
            f"data.reader: option {unknown[0] if unknown else sorted(kwargs)!r} is not one of the {layout!r} "
            f"reader's ({', '.join(known) or 'none'})"
        ) from None
    root = Path(root)
    if not root.exists():
        raise DataError(root, "dataset folder not found")
    with pixel_limit(max_pixels):
        try:
            cases = reader(root, **kwargs)
        except (ValueError, TypeError) as exc:  # readers' own argument checks
            raise OptionError(f"data.reader ({layout}): {exc}") from None
    checked = []
    for case in cases:
        with case_guard():
            check_case(case, max_label)
            checked.append(case)
    return checked


def check_dataset(
    layout: str, root: str | Path, max_pixels: int | None = None, max_label: int | None = None, **options: Any
) -> tuple[list[Case], list[DataError]]:
    """Reads every case of a dataset and checks it, collecting every problem.

    Args:
        layout: reader name; root: the dataset folder; options: reader options.
        max_pixels: image size limit (see :func:`medseg.data.io.read_image`).
        max_label: highest allowed mask label (``data.num_classes - 1``), None: any.

    Returns:
        The cases that passed and the problems found (empty when the dataset is sound).

    Raises:
        ConfigError: unknown layout or reader options.
    """
    with collect_problems() as problems:
        cases: list[Case] = []
        with case_guard():
            cases = read_dataset(layout, root, max_pixels=max_pixels, max_label=max_label, **options)
    if not cases and not problems:
        problems.append(DataError(root, f"no cases found for layout {layout!r}"))
    return cases, problems
