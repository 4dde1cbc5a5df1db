"""Low-precision inference and 2D prediction throughput of the ``hc18`` zoo model on real HC18 images.

    python -m bench.hc18_inference --data /work/shared/data/hc18 [--threads 2] [--images 80]
        [--limit N] [--work DIR] [--write BENCHMARKS.md]

1. Precision: bfloat16 (PyTorch autocast) and int8 (ONNX Runtime, static QDQ) against float32 on
   the model's validation split (``medseg check-precision``, ``medseg export --int8``): mean
   foreground Dice of each and whether the change is within 0.002.
2. Throughput: ``medseg predict MODEL FOLDER --profile`` over ``--images`` of the card's held-out
   images at 800x540, each backend and precision, with and without the QC passes; images/s of the
   prediction loop (the profile) and of the whole command (start-up and model loading included).

Each command runs in its own process, one after the other; the load average is recorded around each.
With ``--write`` the two sections replace theirs in that page.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.roofline import replace_section

ROOT = Path(__file__).resolve().parents[1]
PRECISION_HEADING = "## Low-precision inference: hc18 on the HC18 validation split"
SPEED_HEADING = "## 2D prediction throughput: hc18 over a folder of HC18 images"
SIZE = (800, 540)  # width, height of the images timed


def held_out_folder(data: Path, folder: Path, count: int) -> list[str]:
    """Links ``count`` of the ``hc18`` card's held-out images of :data:`SIZE` into ``folder``; their names."""
    from PIL import Image

    card = json.loads((ROOT / "src/medseg/zoo/hc18/card.json").read_text())
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for image_id in card["test_ids"]:
        source = data / "training_set" / f"{image_id}.png"
        with Image.open(source) as image:
            if image.size != SIZE:
                continue
        if not (folder / source.name).exists():
            (folder / source.name).symlink_to(source.resolve())  # a relative --data would dangle from folder
        names.append(source.name)
        if len(names) == count:
            break
    return names


def medseg(*args: str) -> tuple[str, float, tuple[float, float], int]:
    """Runs ``python -m medseg ARGS``: its output, wall seconds, the 1-minute load before and after, and
    its exit code."""
    environment = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    before = os.getloadavg()[0]
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "medseg", *args], capture_output=True, text=True, env=environment, cwd=ROOT
    )
    wall = time.perf_counter() - started
    output = done.stdout + done.stderr
    print(f"$ medseg {' '.join(args)}\n{done.stdout.strip()}  [exit {done.returncode}, {wall:.1f} s]", flush=True)
    return output, wall, (before, os.getloadavg()[0]), done.returncode


def _line(output: str, start: str) -> str:
    return next((line.strip() for line in output.splitlines() if line.strip().startswith(start)), "")


def precision_section(data: Path, work: Path, threads: int, limit: int | None) -> tuple[list[str], Path | None]:
    """Runs the bfloat16 check and the int8 export; the section and the int8 model (None if refused)."""
    common = ["--data", str(data), "--threads", str(threads)] + (["--limit", str(limit)] if limit else [])
    int8_path = work / "hc18_int8.onnx"
    runs = {
        "bfloat16": medseg("check-precision", "hc18", "--precision", "bfloat16", *common),
        "int8": medseg("export", "hc18", "--int8", "--out", str(int8_path), *common),
    }
    rows = []
    for name, (output, wall, load, code) in runs.items():
        match = re.search(r"\d+ val images: mean Dice .*?per image \([\d.]+x\)", output, re.S)
        result = " ".join(match.group(0).split()) if match else " ".join(output.split())[-400:]
        if code == 0:
            verdict = "within 0.002" + ("; model written" if name == "int8" else "")
        else:
            verdict = "**over 0.002: refused (exit 2)**" if "OVER" in output else f"failed (exit {code})"
        rows.append(f"| {name} | {result} | {verdict} | {wall:.0f} s | {load[0]:.2f} / {load[1]:.2f} |")
    lines = [
        PRECISION_HEADING,
        "",
        "`hc18` (U-Net 8..256, 224x320 input) predicted in float32 (PyTorch) and in each lower precision on the "
        "validation split made again from its config (split seed 0, by subject; its test images are the card's); "
        "mean foreground (head) Dice against the reference masks. int8: ONNX Runtime static quantisation (QDQ, "
        "per-channel int8 weights, uint8 activations, min-max ranges of 16 training-split images). Network time "
        f"per image, {threads} threads.",
        "",
        "```",
        f"medseg check-precision hc18 {' '.join(common)} --precision bfloat16",
        f"medseg export hc18 --int8 --out {int8_path.name} {' '.join(common)}",
        "```",
        "",
        "| precision | result | verdict | command wall | load before / after |",
        "|---|---|---|---|---|",
        *rows,
    ]
    return lines, int8_path if int8_path.is_file() else None


QC_MODES = {"--no-qc": "off", "": "default", "--qc": "`--qc`"}


def speed_section(data: Path, work: Path, threads: int, count: int, int8: Path | None) -> tuple[list[str], float]:
    """Times ``medseg predict --profile`` per backend; the section and the best ONNX Runtime images/s without QC."""
    folder = work / "images"
    names = held_out_folder(data, folder, count)
    float_onnx = work / "hc18.onnx"
    export = medseg("export", "hc18", "--out", str(float_onnx))[0]
    models = [("PyTorch float32", ["hc18", "--precision", "float32"])]  # hc18's own is auto: bfloat16 where native
    models.append(("PyTorch bfloat16", ["hc18", "--precision", "bfloat16"]))
    models.append(("ONNX Runtime float32", [str(float_onnx)]))
    if int8 is not None:
        models.append(("ONNX Runtime int8", [str(int8)]))
    csv = data / "training_set_pixel_size_and_HC.csv"
    rows, best_onnx = [], 0.0
    for qc, qc_label in QC_MODES.items():
        for label, model in models:
            out = work / f"out_{len(rows)}"
            args = [model[0], str(folder), "--out", str(out), "--pixel-size", str(csv), "--threads", str(threads)]
            args.append("--overwrite")
            output, wall, load, _ = medseg("predict", *args, *model[1:], "--profile", *([qc] if qc else []))
            profile = _line(output, "profile:")
            match = re.search(r"\(([\d.]+) images/s\)", profile)
            rate = float(match.group(1)) if match else float("nan")
            if label.startswith("ONNX") and qc == "--no-qc":
                best_onnx = max(best_onnx, rate)
            split = profile.split("images/s): ", 1)[-1]
            rows.append(
                f"| {label} | {qc_label} | {rate:.1f} | {len(names) / wall:.1f} "
                f"({wall:.1f} s) | {split} | {load[0]:.2f} / {load[1]:.2f} |"
            )
    lines = [
        SPEED_HEADING,
        "",
        f"`medseg predict MODEL FOLDER --profile --threads {threads}` over {len(names)} of the card's held-out "
        f"HC18 images at {SIZE[0]}x{SIZE[1]} (masks, overlays and `measurements.csv` with HC in mm written), one "
        "process per row, one after the other. Loop images/s: the prediction loop (the `--profile` total); "
        "command: the whole process (Python start-up, imports, model loading). QC: `--no-qc` (off), no flag "
        "(the config's `eval.qc`, on for `hc18`: the QC signals without the flipped passes, as the "
        "zoo's `hc18` has no calibrated flag that needs them) and `--qc` (every signal, two more network "
        "passes per image). ONNX models from "
        f"`medseg export hc18 --out hc18.onnx` ({_line(export, str(float_onnx)).split(';')[-1].strip()}) and "
        "`medseg export hc18 --int8 ...` above.",
        "",
        "| backend, precision | QC | loop images/s | command images/s (wall) | time split of the loop | "
        "load before / after |",
        "|---|---|---|---|---|---|",
        *rows,
    ]
    return lines, best_onnx


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the HC18 root (training_set/ and its CSV)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--images", type=int, default=80, help="images of the timed folder")
    parser.add_argument("--limit", type=int, help="validation images of the precision checks (default: all)")
    parser.add_argument("--work", type=Path, help="folder for the exports and outputs (default: a temporary one)")
    parser.add_argument("--write", type=Path, help="replace the two sections of this page")
    parser.add_argument("--only", choices=("precision", "speed"), help="one of the two sections")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="medseg-hc18-bench-"))
    from bench.roofline import bfloat16_kernels
    from medseg.device import cpu_flags, cpu_name

    stamp = (
        f"Measured on {time.strftime('%Y-%m-%d %H:%M %Z')}, {cpu_name()}, {os.cpu_count()} CPU cores "
        f"(bfloat16 by {bfloat16_kernels(cpu_flags())})."
    )
    sections = []
    int8 = work / "hc18_int8.onnx" if (work / "hc18_int8.onnx").is_file() else None
    if args.only != "speed":
        lines, int8 = precision_section(args.data, work, args.threads, args.limit)
        sections.append((PRECISION_HEADING, [*lines, "", stamp]))
    if args.only != "precision":
        lines, best = speed_section(args.data, work, args.threads, args.images, int8)
        verdict = "met" if best >= 20 else "missed"
        target = f"Target >= 20 images/s with ONNX Runtime (QC off, best precision): **{verdict}** ({best:.1f})."
        lines += ["", target, "", stamp]
        sections.append((SPEED_HEADING, lines))
    for heading, lines in sections:
        print("\n".join(lines), "\n")
        if args.write:
            args.write.write_text(replace_section(args.write.read_text(), lines, heading))


if __name__ == "__main__":
    main()
