"""``history.csv``: one row per iteration and per epoch, train and val, rewritten atomically."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from medseg.io import atomic_write_text

COLUMNS = ["level", "phase", "epoch", "iteration", "loss", "pixel_accuracy", "dice", "lr", "seconds"]


class History:
    """Rows of training history; ``level`` is ``iteration`` or ``epoch``, ``phase`` ``train`` or ``val``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.rows: list[dict[str, Any]] = []

    def add(self, **row: Any) -> None:
        self.rows.append({key: row.get(key, "") for key in COLUMNS})

    def epochs(self, phase: str) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["level"] == "epoch" and r["phase"] == phase]

    def load(self, up_to_epoch: int) -> None:
        """Reads an existing file, keeping rows of epochs ``<= up_to_epoch`` (resume)."""
        if not self.path.is_file():
            return
        with self.path.open(newline="") as handle:
            self.rows = [r for r in csv.DictReader(handle) if int(r["epoch"]) <= up_to_epoch]

    def save(self) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write_text(self.path, buffer.getvalue())
