"""The benchmark runs end to end (toy sizes) and writes every section with its targets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_bench_quick_writes_every_section(tmp_path):
    out = tmp_path / "BENCHMARKS.md"
    subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--threads", "1", "--out", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=600,
    )
    page = out.read_text()
    for heading in (
        "Time to an accurate model",
        "Training throughput",
        "Data pipeline",
        "Inference latency",
        "Roofline",
        "Cost growth",
        "Targets",
    ):
        assert f"## {heading}" in page
    targets = page.split("## Targets")[1]
    assert targets.count("| met") + targets.count("| missed") == 5
    assert "| mobile_unet | " in page and "| attention_unet | 32 | " in page


def test_gpu_section_runs_at_toy_sizes_on_a_cpu():
    from bench import gpu

    lines, worst = gpu.section(size=32, batch=2, steps=1, workers=(0,), cases=4, device="cpu", tiny=True)
    assert worst > 0 and sum(line.startswith("| ") for line in lines) == 1 + len(gpu.MODELS)
    assert all(f"| {name} |" in "\n".join(lines) for name in gpu.MODELS)


def test_parallel_study_runner_on_phantoms(tmp_path):
    out = tmp_path / "study"
    subprocess.run(
        [
            sys.executable,
            "bench/polyp_parallel.py",
            "--out",
            str(out),
            "--runs",
            "cvc_from_kvasir/mobile_unet",
            "kvasir/mobile_unet",
            "cvc/unet",
            "--workers",
            "0",
            "--device",
            "cpu",
            "--set",
            "train.epochs=1",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=600,
    )
    table = (out / "table.md").read_text()
    assert table.count("| measured |") == 3  # cvc_from_kvasir waited for the Kvasir run it starts from
    assert (out / "logs" / "kvasir_mobile_unet.log").is_file()


def _inference_ablation(
    run: Path, data: Path, *options: str, table: str = "inference_val.csv"
) -> dict[str, dict[str, str]]:
    """Runs bench/polyp_inference_ablation.py on ``run``; its rows by inference name."""
    import csv

    subprocess.run(
        [sys.executable, "bench/polyp_inference_ablation.py", str(run), "--data", str(data), *options],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=600,
    )
    with (run / table).open() as handle:
        return {row["inference"]: row for row in csv.DictReader(handle)}


def test_polyp_inference_ablation_scores_flips_thresholds_and_averaged_weights(tmp_path):
    out = tmp_path / "study"
    command = [sys.executable, "-m", "medseg", "reproduce", "polyp", "--quick", "--out", str(out)]
    only = ["--only", "kvasir/mobile_unet", "--only", "cvc/mobile_unet"]
    subprocess.run([*command, *only], cwd=ROOT, check=True, capture_output=True, timeout=600)
    run, data = out / "kvasir" / "mobile_unet", out / "phantoms" / "kvasir-seg"
    rows = _inference_ablation(run, data, "--variants", "flip TTA", "--thresholds", "0.3,0.5")
    assert set(rows) == {"flip TTA", "flip TTA, foreground >= 0.3", "flip TTA, foreground >= 0.5"}
    # Two classes: the argmax is the 0.5 threshold.
    assert abs(float(rows["flip TTA"]["dice"]) - float(rows["flip TTA, foreground >= 0.5"]["dice"])) < 1e-3
    assert all(0 <= float(row["dice"]) <= 1 for row in rows.values())

    # Four flips, and the best checkpoint's weights averaged with itself: the same model as the best alone.
    best = run / "checkpoints" / "best.pt"
    averaged = _inference_ablation(run, data, "--variants", "flip TTA,four flips", "--average", str(best))
    suffix = ", weights of 2 checkpoints averaged"
    assert set(averaged) == set(rows) | {"flip TTA" + suffix, "four flips" + suffix}  # earlier rows kept
    assert averaged["flip TTA, foreground >= 0.3"] == rows["flip TTA, foreground >= 0.3"]
    assert averaged["flip TTA" + suffix]["averaged_with"] == str(best)  # which average: a row per checkpoint list
    assert abs(float(averaged["flip TTA" + suffix]["dice"]) - float(rows["flip TTA"]["dice"])) < 1e-6
    assert 0 <= float(averaged["four flips" + suffix]["dice"]) <= 1

    # The Kvasir model on the CVC run's validation sequences: its own table, the Kvasir one kept.
    kvasir_table = (run / "inference_val.csv").read_text()
    cvc_run = out / "cvc" / "mobile_unet"
    table = "inference_val_of_cvc.csv"
    other = _inference_ablation(
        run, out / "phantoms" / "cvc-clinicdb", "--variants", "flip TTA", "--images-of", str(cvc_run), table=table
    )
    assert int(other["flip TTA"]["images"]) == len(json.loads((cvc_run / "split.json").read_text())["val"])
    assert (run / "inference_val.csv").read_text() == kvasir_table


def test_time_to_accuracy_reads_the_first_validation_at_the_target(tmp_path):
    from bench.time_to_accuracy import Run, first_reaching, table, validations

    history = tmp_path / "history.csv"
    history.write_text(
        "level,phase,epoch,iteration,loss,pixel_accuracy,dice,lr,seconds\n"
        "iteration,train,1,1,1.0,0.5,,0.01,\n"
        "epoch,val,1,10,0.5,0.9,0.90,0.01,60\n"
        "epoch,val,2,20,0.4,0.9,0.95,0.01,120\n"
        "epoch,val,3,30,0.3,0.9,0.94,0.01,180\n"
    )
    slow = Run("float32", "hc18_unet", [], validations=validations(history))
    bf16 = ["train.cpu_bf16=true"]
    fast = Run("bfloat16", "hc18_unet", bf16, bf16, validations=[(1, 40.0, 0.951)])
    assert slow.validations[1] == (2, 120.0, 0.95) and first_reaching(slow, 0.95) == (2, 120.0)
    assert first_reaching(slow, 0.99) is None
    rows = [line for line in table([slow, fast], 0.95, 1, "cmd") if line.startswith(("| float32", "| bfloat16"))]
    assert "2.0 min (epoch 2) | 1.00x" in rows[0] and "0.7 min (epoch 1) | 3.00x" in rows[1]
    heading = table([slow, fast], 0.95, 1, "cmd", "--tta --scales 0.9,1,1.1")[2]
    assert "(evaluated with --tta --scales 0.9,1,1.1)" in heading


def test_predict_seconds_reads_the_commands_own_time_split():
    from bench.predict_seconds import Job, section, split_of

    folder = "28 images -> out/masks\nprofile: 28 images in 0.9 s (31.1 images/s): read 14 ms, network 762 ms\n"
    volume = "  volume 1/1: p.zip\n  3Dircadb1.1: 129 slices in 5.4 s: read 957 ms, network 2.4 s\n1 volume(s) -> out\n"
    assert split_of(folder) == "28 images in 0.9 s (31.1 images/s): read 14 ms, network 762 ms"
    assert split_of(volume) == "129 slices in 5.4 s: read 957 ms, network 2.4 s"
    assert split_of("nothing timed") == ""
    jobs = [Job("zip", 15.0, [], [9.0, 8.4], "129 slices in 5.4 s"), Job("crops", 3.0, [], [4.5, 4.3])]
    rows = section(jobs, 2, 2, "cmd", (0.1, 0.2))[-2:]
    assert rows[0] == "| zip | 9.0 / 8.4 | 8.7 | 15 s: met | 129 slices in 5.4 s |"
    assert rows[1] == "| crops | 4.5 / 4.3 | 4.4 | 3 s: missed | - |"


def test_hc_calibration_is_fitted_without_the_image_it_corrects():
    from bench.hc18_error_agreement import calibrated_absdiff

    reference = np.array([100.0, 200.0, 300.0, 400.0])
    # every measurement 2% short: a scale fitted on the other three removes it exactly
    assert calibrated_absdiff(reference * 0.98, reference, "scale") < 1e-9
    assert calibrated_absdiff(reference * 0.98 - 1.0, reference, "line") < 1e-9
    # noise is not removable: leaving the image out makes the correction fit it worse, not better
    noisy = reference + np.array([1.0, -1.0, 1.0, -1.0])
    assert calibrated_absdiff(noisy, reference, "line") > np.abs(noisy - reference).mean()
    with pytest.raises(ValueError, match="spline"):
        calibrated_absdiff(noisy, reference, "spline")
