"""Data checks at the boundary: every case of a dataset read and checked, every problem reported.

Readers raise :class:`~medseg.errors.DataError` naming the file; inside :func:`collect_problems`
(:func:`medseg.data.readers.check_dataset`: ``medseg check``, and ``medseg train`` before it
creates its run folder) each reader's per-case :func:`case_guard` records the error and skips that
case instead, so one pass lists every problem. :func:`check_case` adds the checks every reader
shares (spacing, sizes, labels).
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from medseg.data.case import Case
from medseg.errors import DataError

_PROBLEMS: contextvars.ContextVar[list[DataError] | None] = contextvars.ContextVar("problems", default=None)


@contextlib.contextmanager
def collect_problems() -> Iterator[list[DataError]]:
    """Within the block, :func:`case_guard` records data errors in the yielded list instead of raising."""
    problems: list[DataError] = []
    token = _PROBLEMS.set(problems)
    try:
        yield problems
    finally:
        _PROBLEMS.reset(token)


@contextlib.contextmanager
def case_guard() -> Iterator[None]:
    """Wraps the reading of one case (or one volume) in a reader: see the module docstring."""
    try:
        yield
    except DataError as error:
        problems = _PROBLEMS.get()
        if problems is None:
            raise
        problems.append(error)


def check_spacing(spacing: Any, where: str | Path) -> tuple[float, ...]:
    """``spacing`` as floats, each finite and positive.

    Raises:
        DataError: a missing, non-numeric, non-finite, zero or negative spacing.
    """
    try:
        values = tuple(float(v) for v in spacing)
    except (TypeError, ValueError):
        raise DataError(where, f"pixel spacing {spacing!r} is not a list of numbers") from None
    if not values or not all(math.isfinite(v) and v > 0 for v in values):
        raise DataError(where, f"pixel spacing {values} must be finite and positive")
    return values


def check_affine(affine: Any, where: str | Path, stored_zooms: Any = None) -> np.ndarray:
    """A voxel-to-mm affine that gives true sizes: finite, invertible, axes at right angles, and (when
    given) the header's stored voxel sizes finite and positive. The same check for ``train``,
    ``predict``, ``serve`` and ``check``.

    Raises:
        DataError: a NaN, singular or sheared affine, or a zero, negative or NaN stored voxel size.
    """
    if stored_zooms is not None:
        try:
            check_spacing(stored_zooms, where)
        except DataError as error:
            raise DataError(where, f"voxel size in the header: {error.problem}") from None
    matrix = np.asarray(affine, dtype=np.float64)
    if matrix.shape != (4, 4) or not np.isfinite(matrix).all():
        raise DataError(where, "affine holds NaN or infinite values: fix the header's sform/qform")
    axes = matrix[:3, :3]
    norms = np.linalg.norm(axes, axis=0)
    if not (norms > 0).all() or abs(np.linalg.det(axes)) <= 1e-12 * float(np.prod(norms)):
        raise DataError(where, "affine is singular (a voxel axis of length 0): fix the header's sform/qform")
    cosines = (axes / norms).T @ (axes / norms)
    off = float(np.abs(cosines - np.eye(3)).max())
    if off > 1e-3:
        raise DataError(
            where,
            f"affine has shear (voxel axes {90 - math.degrees(math.acos(min(1.0, off))):.1f} degrees off a right "
            "angle, e.g. gantry tilt): volumes and distances would be wrong; resample to an orthogonal grid first",
        )
    return matrix


def check_case(case: Case, max_label: int | None = None) -> None:
    """The checks every reader's cases pass: a 2D image with data, a finite positive spacing, a mask
    of the image's size with labels up to ``max_label``.

    Raises:
        DataError: naming the case's file.
    """
    where = case.source or case.id
    image = case.image
    if image.ndim not in (2, 3) or image.shape[0] == 0 or image.shape[1] == 0:
        raise DataError(where, f"image of shape {image.shape} is not a 2D grey or multi-channel image")
    if np.issubdtype(image.dtype, np.floating) and not np.isfinite(image).all():
        raise DataError(where, "image holds NaN or infinite values")
    if case.meta.get("spacing_mm", (1.0, 1.0)) is not None:  # None: the dataset publishes no spacing
        check_spacing(case.meta["spacing_mm"], where)
    if case.mask is None:
        return
    if case.mask.shape != image.shape[:2]:
        raise DataError(where, f"mask of shape {case.mask.shape} differs from the image's {image.shape[:2]}")
    if max_label is not None and case.mask.size and int(case.mask.max()) > max_label:
        raise DataError(
            where,
            f"mask label {int(case.mask.max())} out of range: "
            f"data.num_classes is {max_label + 1} (labels 0..{max_label})",
        )


def summarize_problems(problems: list[DataError], root: str | Path, layout: str) -> DataError:
    """One error for a list of problems: the first, and how many more ``medseg check`` would list."""
    first = problems[0]
    if len(problems) == 1:
        return first
    return DataError(
        first.path, f"{first.problem} (and {len(problems) - 1} more problems: medseg check {root} --layout {layout})"
    )
