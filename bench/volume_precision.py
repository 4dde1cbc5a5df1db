"""bfloat16 against float32 inference on whole CT volumes, as ``medseg predict`` writes them.

For models that ``medseg check-precision`` cannot score on a held-out split (the ``liver_cascade``
zoo model is trained on every 3D-IRCADb patient there is), this compares what a user gets: each
volume predicted in float32 (``--precision float32``) and as the model runs by default (its
``infer.precision``, e.g. ``auto``; ``--low bfloat16``: every stage in bfloat16), the Dice of each
class between the two label maps, the two class volumes, and the time of each; for
3D-IRCADb patients (a zip inside a patient folder with ``MASKS_DICOM.zip``), each one's Dice against
the reference masks too.

    python bench/volume_precision.py liver_cascade \\
        ../shared/data/3dircadb/3Dircadb1.1/PATIENT_DICOM.zip ../shared/data/3dircadb/3Dircadb1.17/PATIENT_DICOM.zip
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from medseg.data.volumes.nifti import load_nifti
from medseg.measure.qc import dice

ROOT = Path(__file__).resolve().parents[1]
PRECISIONS = ("float32", "low")


def predict(model: str, volume: Path, precision: str | None, out: Path, threads: int) -> tuple[np.ndarray, str]:
    """The ``(Z, Y, X)`` label map ``medseg predict`` writes for ``volume`` (precision None: the model's
    own), and its time line."""
    done = subprocess.run(
        [sys.executable, "-m", "medseg", "predict", model, str(volume), "--out", str(out), "--threads", str(threads)]
        + (["--precision", precision] if precision else []),
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": str(threads)},
    )
    if done.returncode != 0:
        raise SystemExit(f"{volume} ({precision}) failed:\n{done.stdout}\n{done.stderr}")
    timing = re.search(r"\d+ slices in .*", done.stdout + done.stderr)
    (labels,) = sorted((out / "labels").glob("*.nii.gz"))
    return load_nifti(labels, labels=True).array, timing.group(0) if timing else ""


def reference_labels(volume: Path, shape: tuple[int, ...]) -> np.ndarray | None:
    """The ``(Z, Y, X)`` 3D-IRCADb reference labels of ``volume``'s patient (None: not such a patient)."""
    from medseg.data.readers.ircadb import read_ircadb_patient

    if not (volume.parent / "MASKS_DICOM.zip").is_file():
        return None
    _, labels, _ = read_ircadb_patient(volume.parent)
    if labels.shape != shape:
        raise SystemExit(f"{volume}: reference {labels.shape} against prediction {shape}")
    return labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a zoo model's name or a run directory")
    parser.add_argument("volumes", nargs="+", type=Path, help="DICOM zips, DICOM folders or NIfTI files")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--low", choices=("model", "bfloat16"), default="model", help="model: its infer.precision (what users get)"
    )
    args = parser.parse_args()
    from medseg.inference.zoo import zoo_folder

    folder = zoo_folder(args.model) or Path(args.model)
    class_names = json.loads((folder / "model.json").read_text())["config"]["data"]["class_names"]
    low = "model default" if args.low == "model" else "bfloat16"
    print(f"| volume | class | Dice {low} vs float32 | voxels float32 | voxels {low} | Dice float32 | Dice {low} |")
    print("|---|---|---|---|---|---|---|")
    timings = []
    flags = ("float32", None if args.low == "model" else "bfloat16")
    with tempfile.TemporaryDirectory() as work:
        for volume in args.volumes:
            labels = {}
            for precision, flag in zip(PRECISIONS, flags, strict=True):
                labels[precision], timing = predict(
                    args.model, volume, flag, Path(work) / f"{volume.parent.name}_{precision}", args.threads
                )
                timings.append(f"{volume.parent.name} {flag or 'model default'}: {timing}")
            reference = reference_labels(volume, labels["float32"].shape)
            for index, name in enumerate(class_names[1:], start=1):
                a, b = (labels[p] == index for p in PRECISIONS)
                scores = "| - | - |"
                if reference is not None:
                    scores = f"| {dice(a, reference == index):.4f} | {dice(b, reference == index):.4f} |"
                print(f"| {volume.parent.name} | {name} | {dice(a, b):.4f} | {int(a.sum())} | {int(b.sum())} {scores}")
    print("\n" + "\n".join(timings))


if __name__ == "__main__":
    main()
