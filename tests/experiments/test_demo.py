"""``medseg demo`` (at a tiny size): the run, its evaluation and the report the README promises."""

from __future__ import annotations

from medseg.experiments.demo import run_demo

from ..conftest import TINY


def test_demo_writes_the_evaluation_report(tmp_path):
    run_dir, n_test, summary = run_demo(tmp_path / "demo", epochs=1, n_subjects=8, overrides=tuple(TINY))
    report = run_dir / "evaluation" / "test" / "report.html"
    assert n_test > 0 and "dice_head" in summary
    assert report.is_file() and "<html" in report.read_text()[:500].lower()
