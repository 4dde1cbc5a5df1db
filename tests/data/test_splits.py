import numpy as np
import pytest

from medseg.data.case import Case
from medseg.data.splits import kfold_splits, load_split, save_split, select, split_cases
from medseg.errors import DataError, RunDirError


def _cases(n_groups=20, per_group=2):
    image = np.zeros((2, 2))
    return [Case(f"{g:03d}_{k}", image, None, {"group": f"{g:03d}"}) for g in range(n_groups) for k in range(per_group)]


def test_split_keeps_groups_together_and_is_seeded():
    cases = _cases()
    split = split_cases(cases, 0.1, 0.2, seed=3)
    assert split == split_cases(cases, 0.1, 0.2, seed=3)
    assert split != split_cases(cases, 0.1, 0.2, seed=4)
    groups = {name: {i.split("_")[0] for i in ids} for name, ids in split.items()}
    assert not groups["train"] & groups["val"] and not groups["train"] & groups["test"]
    assert len(groups["test"]) == 4 and len(groups["val"]) == 2
    assert sum(len(v) for v in split.values()) == len(cases)


def test_kfold_covers_every_group_once():
    cases = _cases()
    folds = kfold_splits(cases, 4, seed=0)
    val_ids = [i for fold in folds for i in fold["val"]]
    assert sorted(val_ids) == sorted(c.id for c in cases)


def test_too_few_groups():
    with pytest.raises(DataError, match="too few"):
        split_cases(_cases(n_groups=2), 0.3, 0.3)


def test_save_load_and_select(tmp_path):
    cases = _cases()
    split = split_cases(cases)
    save_split(split, tmp_path / "split.json")
    assert load_split(tmp_path / "split.json") == split
    assert [c.id for c in select(cases, split["test"])] == split["test"]
    with pytest.raises(DataError, match="missing"):
        select(cases, ["nope"])


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("[1, 2]", "found a list"),
        ('{"train": "all"}', "'train' must be a list"),
        ('{"val": [1]}', "non-text"),
        ("{", "JSON"),
    ],
)
def test_load_split_refuses_other_shapes(tmp_path, content, problem):
    (tmp_path / "split.json").write_text(content)
    with pytest.raises(RunDirError, match=problem) as error:
        load_split(tmp_path / "split.json")
    assert "split.json" in str(error.value)
