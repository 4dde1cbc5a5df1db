import pytest

from medseg.errors import RunDirError
from medseg.training.history import History


def _history(path, epochs: int) -> History:
    history = History(path)
    for epoch in range(1, epochs + 1):
        history.add(level="iteration", phase="train", epoch=epoch, iteration=epoch, loss=0.5)
        history.add(level="epoch", phase="train", epoch=epoch, loss=0.5)
    history.save()
    return history


def test_resume_keeps_the_rows_up_to_the_checkpoint(tmp_path):
    _history(tmp_path / "history.csv", 3)
    resumed = History(tmp_path / "history.csv")
    resumed.load(up_to_epoch=2)
    assert [int(r["epoch"]) for r in resumed.rows] == [1, 1, 2, 2]


@pytest.mark.parametrize(
    ("spoil", "problem"),
    [
        (lambda p: p.write_text("epoch,tra"), "columns"),
        (lambda p: p.unlink(), "cannot read"),
        (lambda p: p.write_text(p.read_text().replace(",2,", ",two,")), "whole-number epoch"),
        (lambda p: p.write_text("\n".join(p.read_text().splitlines()[:3])), "ends before epoch 2"),
    ],
)
def test_resume_refuses_a_damaged_history(tmp_path, spoil, problem):
    path = tmp_path / "history.csv"
    _history(path, 2)
    spoil(path)
    with pytest.raises(RunDirError, match=problem):
        History(path).load(up_to_epoch=2)
