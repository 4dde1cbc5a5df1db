"""Pixel-size tables: ``filename,pixel size(mm)[,head circumference(mm)]`` CSV files.

The HC18 challenge published its pixel sizes this way; the folder and bone scan readers and
``medseg predict --pixel-size-csv`` take the same format for any 2D images.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from medseg.errors import DataError


def read_pixel_size_csv(path: Path) -> dict[str, dict[str, float]]:
    """Rows keyed by file name: ``{"pixel_size": .., "hc_mm": ..}`` (``hc_mm`` when the third column is filled).

    Raises:
        DataError: no file, an empty file, a malformed line or a pixel size (or HC) that is not finite and positive.
    """
    if not path.is_file():
        raise DataError(path, "pixel size CSV not found")
    rows: dict[str, dict[str, float]] = {}
    lines: dict[str, int] = {}
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(path, f"not UTF-8 text (byte {exc.start}): save the CSV as UTF-8") from None
    except OSError as exc:
        raise DataError(path, f"cannot be read ({exc.strerror or exc})") from None
    if "\0" in text:
        raise DataError(path, "not a text CSV (it holds NUL bytes)")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        raise DataError(path, "CSV is empty")
    for line_no, row in enumerate(reader, start=2):
        if not row or not row[0].strip():
            continue
        try:
            entry = {"pixel_size": float(row[1])}
            if len(row) > 2 and row[2].strip():
                entry["hc_mm"] = float(row[2])
        except (IndexError, ValueError):
            raise DataError(path, f"line {line_no}: expected filename,pixel size[,HC], got {row}") from None
        if not (math.isfinite(entry["pixel_size"]) and entry["pixel_size"] > 0):
            raise DataError(path, f"line {line_no}: pixel size must be finite and positive, got {row[1]}")
        if "hc_mm" in entry and not (math.isfinite(entry["hc_mm"]) and entry["hc_mm"] > 0):
            raise DataError(path, f"line {line_no}: head circumference must be finite and positive, got {row[2]}")
        name = row[0].strip()
        if name in rows:
            raise DataError(path, f"line {line_no}: {name} is already given on line {lines[name]}; keep one row")
        rows[name], lines[name] = entry, line_no
    if not rows:
        raise DataError(path, "no rows after the header: give filename,pixel size(mm) for each image")
    return rows


def read_pixel_sizes(path: Path) -> dict[str, float]:
    """``{filename: pixel size in mm}`` of a pixel-size CSV (see :func:`read_pixel_size_csv`)."""
    return {name: row["pixel_size"] for name, row in read_pixel_size_csv(path).items()}
