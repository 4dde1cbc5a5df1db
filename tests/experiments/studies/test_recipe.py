"""``medseg reproduce fetal_head`` and ``liver`` with ``--quick``: one tiny run each, and its table."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from medseg.cli import app

runner = CliRunner()


def test_list_names_every_study_of_the_readme():
    result = runner.invoke(app, ["reproduce", "--list"])
    assert result.exit_code == 0
    names = {line.split()[0] for line in result.output.splitlines() if line.strip()}
    assert {"fetal_head", "liver", "lung", "bone", "polyp"} <= names


@pytest.mark.parametrize(("study", "metric"), [("fetal_head", "hc_absdiff_mm"), ("liver", "volume_dice_liver")])
def test_quick_study_writes_its_table(study, metric, tmp_path):
    out = tmp_path / study
    result = runner.invoke(app, ["reproduce", study, "--quick", "--out", str(out), "--set", "train.epochs=1"])
    assert result.exit_code == 0, result.output
    table = (out / "table.md").read_text()
    assert metric in table and "phantoms" in table
    assert (out / "run" / "evaluation" / "test" / "report.html").is_file()
