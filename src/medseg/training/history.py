"""``history.csv``: one row per iteration and per epoch, train and val, rewritten atomically."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from medseg.errors import RunDirError
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
        """Reads the file written with the checkpoint being resumed, keeping rows of epochs ``<= up_to_epoch``.

        Raises:
            RunDirError: the file is missing, damaged, or ends before epoch ``up_to_epoch`` (the
                checkpoint is written after the history, so a whole run always has that epoch).
        """
        fix = "restore it from a copy of the run, or train again without --resume"
        try:
            with self.path.open(newline="") as handle:
                reader = csv.DictReader(handle)
                rows = list(reader)
                header = reader.fieldnames or []
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise RunDirError(f"{self.path}: cannot read the training history ({exc}); {fix}") from None
        if header != COLUMNS:
            raise RunDirError(f"{self.path}: columns {header} are not {COLUMNS}; {fix}")
        try:
            kept = [r for r in rows if int(r["epoch"]) <= up_to_epoch]
        except (TypeError, ValueError):
            raise RunDirError(f"{self.path}: a row without a whole-number epoch; {fix}") from None
        if not any(r["level"] == "epoch" and r["phase"] == "train" and int(r["epoch"]) == up_to_epoch for r in kept):
            raise RunDirError(f"{self.path}: ends before epoch {up_to_epoch} of checkpoints/last.pt; {fix}")
        self.rows = kept

    def save(self) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write_text(self.path, buffer.getvalue())
