"""The stopwatch of volume prediction: stages add their time only inside a running stopwatch."""

from __future__ import annotations

import time

from medseg.inference.timing import STAGES, Stopwatch, stage


def test_stages_add_to_the_running_stopwatch_only():
    with stage("network"):  # no stopwatch running: the block just runs
        pass
    watch = Stopwatch()
    with watch.running():
        with stage("network"):
            time.sleep(0.02)
        with stage("network"):
            time.sleep(0.01)
        with stage("read"):
            pass
        time.sleep(0.01)  # in no stage: "other"
    with stage("network"):
        time.sleep(0.01)  # after the block: not counted
    assert 0.03 <= watch.seconds["network"] < watch.total
    assert set(STAGES) <= set(watch.seconds) and watch.seconds["qc"] == 0
    line = watch.summary()
    shown = lambda s: f"{s:.1f} s" if s >= 1 else f"{1000 * s:.0f} ms"  # noqa: E731
    assert line.startswith(f"{shown(watch.total)}: ") and f"network {shown(watch.seconds['network'])}" in line
    assert "other " in line
    assert "qc" not in line  # stages that did not run are left out


def test_stage_times_an_exception_and_lets_it_through():
    watch = Stopwatch()
    try:
        with watch.running(), stage("write"):
            raise OSError("disk full")
    except OSError:
        pass
    assert watch.seconds["write"] > 0 and watch.total >= watch.seconds["write"]
