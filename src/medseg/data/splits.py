"""Subject-grouped, seeded train/val/test and k-fold splits, saved with each run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from medseg.data.case import Case
from medseg.errors import DataError, RunDirError
from medseg.io import atomic_write_text

Split = dict[str, list[str]]


def _groups(cases: list[Case]) -> list[str]:
    return sorted({case.group for case in cases})


def split_cases(cases: list[Case], val_fraction: float = 0.1, test_fraction: float = 0.1, seed: int = 0) -> Split:
    """Assigns whole groups (subjects, patients, video sequences) to train, val and test.

    Fractions count groups, not images. Each non-zero fraction gets at least one group.
    Training-only cases (:attr:`Case.training_only`) of validation and test groups are left out.

    Returns:
        ``{"train": [case ids], "val": [...], "test": [...]}``.

    Raises:
        DataError: too few groups to give every requested subset one.
    """
    if not 0 <= val_fraction < 1 or not 0 <= test_fraction < 1 or val_fraction + test_fraction >= 1:
        raise ValueError("val_fraction and test_fraction must be in [0, 1) and sum below 1")
    groups = _groups(cases)
    order = np.random.default_rng(seed).permutation(len(groups))
    shuffled = [groups[i] for i in order]
    n_test = max(1, round(test_fraction * len(groups))) if test_fraction > 0 else 0
    n_val = max(1, round(val_fraction * len(groups))) if val_fraction > 0 else 0
    if n_test + n_val >= len(groups):
        raise DataError(
            cases[0].source.parent if cases and cases[0].source else ".",
            f"only {len(groups)} subjects: too few for a train/val/test split",
        )
    assignment = {g: "test" for g in shuffled[:n_test]}
    assignment.update({g: "val" for g in shuffled[n_test : n_test + n_val]})
    split: Split = {"train": [], "val": [], "test": []}
    for case in cases:
        subset = assignment.get(case.group, "train")
        if subset == "train" or not case.training_only:
            split[subset].append(case.id)
    return split


def kfold_splits(cases: list[Case], folds: int, test_fraction: float = 0.0, seed: int = 0) -> list[Split]:
    """Grouped k-fold: an optional fixed test set, the rest cut into ``folds`` validation folds.

    Returns:
        One split per fold; fold ``k`` validates on the k-th group block and trains on the others.
        Training-only cases (:attr:`Case.training_only`) appear in ``train`` only.
    """
    if folds < 2:
        raise ValueError(f"folds must be at least 2, got {folds}")
    groups = _groups(cases)
    order = np.random.default_rng(seed).permutation(len(groups))
    shuffled = [groups[i] for i in order]
    n_test = round(test_fraction * len(groups)) if test_fraction > 0 else 0
    test_groups, rest = set(shuffled[:n_test]), shuffled[n_test:]
    if len(rest) < folds:
        raise DataError(".", f"only {len(rest)} subjects for {folds} folds")
    blocks = [set(block.tolist()) for block in np.array_split(np.array(rest, dtype=object), folds)]
    splits = []
    for k in range(folds):
        split: Split = {"train": [], "val": [], "test": []}
        for case in cases:
            if case.training_only and (case.group in test_groups or case.group in blocks[k]):
                continue
            if case.group in test_groups:
                split["test"].append(case.id)
            elif case.group in blocks[k]:
                split["val"].append(case.id)
            else:
                split["train"].append(case.id)
        splits.append(split)
    return splits


def select(cases: list[Case], ids: list[str]) -> list[Case]:
    """The cases with the given ids, in ``ids`` order.

    Raises:
        DataError: an id is not in ``cases`` (the data changed since the split was made).
    """
    by_id = {case.id: case for case in cases}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise DataError(".", f"{len(missing)} case(s) of the saved split are missing from the data, e.g. {missing[0]}")
    return [by_id[i] for i in ids]


def save_split(split: Split, path: str | Path) -> None:
    atomic_write_text(path, json.dumps(split, indent=1))


def load_split(path: str | Path) -> Split:
    """The split saved at ``path``.

    Raises:
        DataError: the file is missing.
        RunDirError: it is not JSON, or not a mapping of split names to lists of case ids.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "split file not found")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunDirError(f"{path}: not readable as JSON ({exc})") from None
    return check_split(data, path)


def check_split(data: object, path: str | Path) -> Split:
    """``data`` when it has the shape of a split, ``{"train": ["id", ...], ...}``.

    Raises:
        RunDirError: naming ``path`` and the first entry of the wrong kind.
    """
    if not isinstance(data, dict):
        raise RunDirError(f"{path}: expected a mapping of split names to case ids, found a {type(data).__name__}")
    for name, ids in data.items():
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            found = type(ids).__name__ if not isinstance(ids, list) else "a list with non-text ids"
            raise RunDirError(f"{path}: split {name!r} must be a list of case ids (text), found {found}")
    return data
