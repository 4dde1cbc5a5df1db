"""``medseg reproduce bone``: U-Net++ per view and label scheme on whole-body bone scans, the Bone Scan Index.

For each label scheme (4 segments: background, bone, normal uptake, hotspot; 3 segments: normal
uptake merged into bone) and each view (anterior, posterior) one model per network (U-Net++, the
study's, against U-Net and Attention U-Net; recipe ``bone_scan_unet_plus_plus``) is trained on
the same patient split and scored on the test patients by F1 (= Dice) and IoU per class. The test
patients' masks then give the Bone Scan Index (hotspot area as a share of the skeleton area, per
view and their mean; :mod:`medseg.measure.bone_scan_index`) beside the reference masks' BSI.

``DATA`` is a folder in the ``bone_scan`` layout. No public bone scan set with masks exists here:
without ``--data`` the study runs on generated phantoms, and every table says so.

Written into ``OUT``: ``table.md``/``table.csv`` (F1 and IoU per class, view, scheme, network),
``bsi.csv`` (per test patient, scheme and network: predicted and reference BSI per view),
``study.json``; one run folder per model in ``scheme<S>/<view>/<network>``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from medseg.config import Config, load_config
from medseg.data.loading import load_cases
from medseg.data.readers.bone_scan import CLASS_NAMES, VIEWS
from medseg.data.splits import select, split_cases
from medseg.experiments.evaluate import evaluate_cases
from medseg.experiments.reproduce import StudyRequest, refuse_selection, register_study
from medseg.experiments.rundir import OutputDir
from medseg.experiments.train import train_run
from medseg.inference import Predictor
from medseg.io import atomic_write_text, json_safe, write_table
from medseg.logs import log
from medseg.measure.bone_scan_index import patient_bone_scan_index
from medseg.run_folder import RunFolder

RECIPE = "bone_scan_unet_plus_plus"
NETWORKS = {"unet_plus_plus": "U-Net++", "unet": "U-Net", "attention_unet": "Attention U-Net"}
SCHEMES = (4, 3)
PHANTOM_NOTE = "Bone scans here are synthetic phantoms (no public bone scan set with masks): not clinical results."
QUICK = [
    "data.image_size=[128,48]",
    "model.params.channels=[8,16,32]",
    "train.epochs=12",
    "train.batch_size=2",
    "train.lr=3e-3",
]


def _phantoms(out: Path, quick: bool) -> Path:
    from medseg.data.phantoms import write_bone_scan_dataset

    if quick:
        return write_bone_scan_dataset(out / "phantom_data", n_patients=10, shape=(128, 48), seed=0)
    return write_bone_scan_dataset(out / "phantom_data", n_patients=20, shape=(256, 96), seed=0)


def run_config(base: Config, network: str, view: str, scheme: int) -> Config:
    """The recipe for one network, view and label scheme."""
    data = dataclasses.replace(
        base.data,
        reader={**base.data.reader, "view": view, "scheme": scheme},
        num_classes=scheme,
        class_names=list(CLASS_NAMES[scheme]),
    )
    return dataclasses.replace(base, data=data, model=dataclasses.replace(base.model, name=network))


def _finished(run_dir: Path) -> bool:
    info = RunFolder(run_dir).run_info
    return info.is_file() and "result" in json.loads(info.read_text())


def _score_row(network: str, view: str, scheme: int, summary: dict[str, dict[str, float]]) -> dict[str, Any]:
    row: dict[str, Any] = {"scheme": scheme, "view": view, "network": NETWORKS[network]}
    for name in CLASS_NAMES[scheme][1:]:
        row[f"f1_{name}"] = summary.get(f"dice_{name}", {}).get("mean", math.nan)
        row[f"iou_{name}"] = summary.get(f"iou_{name}", {}).get("mean", math.nan)
    return row


@register_study("bone", "bone scans: U-Net++ per view and label scheme vs U-Net, Attention U-Net; Bone Scan Index")
def run_bone(request: StudyRequest) -> Path:
    """Runs the study (module docstring) and returns the path of ``table.md``."""
    refuse_selection(request, "bone")
    output = OutputDir.plan(request.out, "study", [request.data], request.overwrite, request.resume)
    with output.prepare():
        _run(output.work, request)
    return output.path / "table.md"


def _run(out: Path, request: StudyRequest) -> Path:
    started = time.monotonic()
    phantom = request.data is None
    data = _phantoms(out, request.quick) if phantom else request.data
    base = load_config(RECIPE, (QUICK if request.quick else []) + ["train.threads=1", "train.tensorboard=false"])
    rows, bsi_rows = [], []
    for scheme in SCHEMES:
        masks: dict[str, dict[str, dict[str, np.ndarray]]] = {}  # network -> patient -> view -> labels
        references: dict[str, dict[str, np.ndarray]] = {}
        for view in VIEWS:
            cases = load_cases(run_config(base, "unet", view, scheme), data)
            split = split_cases(cases, base.data.val_fraction, base.data.test_fraction, base.data.split_seed)
            test = select(cases, split["test"])
            for case in test:
                references.setdefault(case.group, {})[view] = case.mask
            for network in NETWORKS:
                config = run_config(base, network, view, scheme)
                run_dir = out / f"scheme{scheme}" / view / network
                if not (request.resume and _finished(run_dir)):
                    log(f"scheme {scheme}, {view}, {NETWORKS[network]}")
                    train_run(config, data, run_dir, overwrite=True, cases=cases, split=split)
                predictor = Predictor.from_run(run_dir, "best")
                _, summary = evaluate_cases(predictor, test, RunFolder(run_dir).evaluation("test").root, False)
                rows.append(_score_row(network, view, scheme, summary))
                for case in test:
                    masks.setdefault(network, {}).setdefault(case.group, {})[view] = predictor.predict(case.image).mask
        for patient, views in sorted(references.items()):
            reference = patient_bone_scan_index(views, scheme)
            for network, by_patient in masks.items():
                predicted = patient_bone_scan_index(by_patient[patient], scheme)
                row = {"patient": patient, "scheme": scheme, "network": NETWORKS[network]}
                for key in reference:
                    row[f"{key.removesuffix('_percent')}_ref_percent"] = reference[key]
                    row[f"{key.removesuffix('_percent')}_pred_percent"] = predicted[key]
                bsi_rows.append(row)
    write_table(out / "table.csv", rows)
    write_table(out / "bsi.csv", bsi_rows)
    table = out / "table.md"
    atomic_write_text(table, _markdown(rows, bsi_rows, data, phantom, request.quick))
    info = {
        "study": "bone",
        "data": str(Path(data).resolve()),
        "phantoms": phantom,
        "quick": request.quick,
        "minutes": (time.monotonic() - started) / 60,
    }
    atomic_write_text(out / "study.json", json.dumps(json_safe(info), indent=1))
    return table


def _markdown(rows: list[dict], bsi_rows: list[dict], data: Path, phantom: bool, quick: bool) -> str:
    lines = ["# Bone scan study: U-Net++ per view and label scheme" + (" (--quick)" if quick else ""), ""]
    lines += [PHANTOM_NOTE if phantom else f"Data: `{data}`.", "", "Test patients' mean F1 (= Dice) / IoU per class:"]
    for scheme in SCHEMES:
        names = CLASS_NAMES[scheme][1:]
        lines += ["", f"**{scheme} segments**", "", "| view | network | " + " | ".join(names) + " |"]
        lines.append("|---|---|" + "---|" * len(names))
        for row in (r for r in rows if r["scheme"] == scheme):
            cells = [f"{row[f'f1_{n}']:.3f} / {row[f'iou_{n}']:.3f}" for n in names]
            lines.append(f"| {row['view']} | {row['network']} | " + " | ".join(cells) + " |")
    lines += ["", "Bone Scan Index (hotspot area / skeleton area, %), mean of the views, test patients:", ""]
    lines += ["| patient | scheme | network | reference | predicted |", "|---|---|---|---|---|"]
    for row in bsi_rows:
        lines.append(
            f"| {row['patient']} | {row['scheme']} | {row['network']} | {row['bsi_mean_ref_percent']:.2f} "
            f"| {row['bsi_mean_pred_percent']:.2f} |"
        )
    if phantom:
        lines += ["", PHANTOM_NOTE]
    return "\n".join(lines) + "\n"
