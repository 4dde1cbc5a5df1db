"""Generic file writing: atomic writes, CSV tables, strict JSON.

Nothing here knows a file format beyond text and CSV: images (PNG, JPEG, TIFF) are read and written
by :mod:`medseg.data.io`, NIfTI and DICOM volumes by :mod:`medseg.data.volumes`. Progress messages
go through :func:`medseg.logs.log`.
"""

from __future__ import annotations

import csv
import io
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np


def current_umask() -> int:
    """The process's file-creation mask (read from ``/proc`` where possible, so nothing changes it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Writes ``data`` to ``path`` so that readers never see a half-written file.

    The file gets the mode a plain ``open`` would give it (``0o666`` less the umask), not the
    ``0o600`` of a temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """Text variant of :func:`atomic_write_bytes` (UTF-8)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def write_table(path: str | Path, rows: list[dict[str, Any]]) -> None:
    """Writes dict rows as CSV (floats with 6 significant digits), atomically.

    The columns are those of the first row, then any other row's new ones (empty where a row lacks one).
    """
    buffer = io.StringIO()
    if rows:
        fieldnames = list(dict.fromkeys(key for row in rows for key in row))
        writer = csv.DictWriter(buffer, fieldnames=fieldnames, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float | np.floating) else v) for k, v in row.items()})
    atomic_write_text(path, buffer.getvalue())


def json_safe(value: Any) -> Any:
    """``value`` with NaN and infinities replaced by ``None`` (strict JSON)."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
