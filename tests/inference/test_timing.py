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


def test_a_folder_of_2d_images_reports_every_stage(exported_run, hc18_synthetic, tmp_path):
    from medseg.inference.backends import open_predictor
    from medseg.inference.folder import predict_folder

    predictor = open_predictor(exported_run, "onnx", threads=1)
    watch = Stopwatch()
    rows = predict_folder(predictor, hc18_synthetic, tmp_path / "out", progress_bar=False, timing=watch)
    assert rows and all(watch.seconds[name] > 0 for name in ("read", "preprocess", "network", "postprocess"))
    assert watch.seconds["measure"] > 0 and watch.seconds["write"] > 0
    assert sum(watch.seconds.values()) <= watch.total


def test_predict_profile_prints_the_split_and_the_rate(tiny_run, hc18_synthetic, tmp_path):
    from typer.testing import CliRunner

    from medseg.cli import app

    out = tmp_path / "profiled"
    result = CliRunner().invoke(
        app, ["predict", str(tiny_run), str(hc18_synthetic), "--out", str(out), "--profile", "--threads", "1"]
    )
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if line.startswith("profile: "))
    images = len(list((out / "masks").glob("*.png")))
    assert line.startswith(f"profile: {images} images in ") and " images/s): read " in line
    for name in ("preprocess", "network", "postprocess", "measure", "write"):
        assert f" {name} " in line
