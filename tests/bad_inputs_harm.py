"""Bad inputs that once did harm: names from models as paths, single files over inputs, --overwrite
over a user's files, and small files that hang or exhaust (see tests/bad_inputs.py for the framework).

Every case must end in one clear error with nothing changed outside the command's output.
"""

from __future__ import annotations

import gzip
import json
import shutil
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import torch

from medseg.errors import ConfigError, DataError, RunDirError

from .bad_inputs import Bad

HOSTILE_CLASS_NAMES = ("../../x_tumour", "/tmp/medseg_harm/x_tumour", "a\\..\\tumour", "tumour\x00.csv", "t" * 200)


def _hostile_checkpoint(run: Path, copy: Path, class_name: str) -> Path:
    """A copy of ``run`` whose checkpoint config names the class ``class_name``."""
    shutil.copytree(run, copy)
    for which in ("best", "last"):
        path = copy / "checkpoints" / f"{which}.pt"
        if path.is_file():
            state = torch.load(path, map_location="cpu", weights_only=True)
            state["config"]["data"]["class_names"] = ["background", class_name]
            torch.save(state, path)
    return copy


def _hostile_export(folder: Path, run: Path, class_name: str) -> Path:
    """An exported model (``model.onnx`` + ``model.json``) whose settings name the class ``class_name``."""
    from medseg.config import load_config
    from medseg.inference.onnx_backend import FORMAT

    folder.mkdir(parents=True)
    config = load_config(run / "config.yaml").to_dict()
    config["data"]["class_names"] = ["background", class_name]
    settings = {"format": FORMAT, "version": 1, "onnx_file": "model.onnx", "config": config}
    (folder / "model.json").write_text(json.dumps(settings))
    (folder / "model.onnx").write_bytes(b"not used: the settings are refused first")
    return folder / "model.onnx"


def _fake_output(folder: Path, kind: str, complete: bool, entries: dict[str, str]) -> Path:
    """A folder as medseg leaves it (marker included), holding ``entries`` (name -> text)."""
    folder.mkdir(parents=True)
    for name, text in entries.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    marker = {"kind": kind, "complete": complete, "medseg": "0", "info": {}, "entries": []}
    if complete:
        marker["entries"] = sorted({name.split("/")[0] for name in entries})
    (folder / ".medseg.json").write_text(json.dumps(marker))
    return folder


def _nifti_header_bomb(path: Path, shape: tuple[int, int, int] = (2048, 2048, 512)) -> Path:
    """A tiny ``.nii.gz`` whose header declares ``shape`` int16 voxels (8 GiB for the default)."""
    header = nib.Nifti1Header()
    header.set_data_shape(shape)
    header.set_data_dtype(np.int16)
    header["pixdim"][1:4] = (0.8, 0.8, 2.5)
    header.set_qform(np.diag([0.8, 0.8, 2.5, 1.0]), code=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(header.binaryblock + b"\x00" * 4 + b"\x00" * 4096))
    return path


def build_harm_cases(root: Path, hc18: Path, run: Path) -> list[Bad]:
    """Writes the harmful inputs under ``root`` (an existing scratch folder) and returns the cases.

    Args:
        root: scratch folder of the corpus.
        hc18: a small synthetic HC18-layout dataset (read only).
        run: a trained run folder (read only; trained on ``hc18``).
    """
    harm = root / "harm"
    harm.mkdir()
    images = harm / "images"
    images.mkdir()
    for name in sorted(p.name for p in (hc18 / "test_set").iterdir() if p.suffix == ".png")[:1]:
        shutil.copy(hc18 / "test_set" / name, images / name)
    bad: list[Bad] = []

    def predict(source: Path, out: Path, *extra: str, inputs: Path = images) -> list[str]:
        return ["predict", str(source), str(inputs), "--out", str(out), *extra]

    # --- names from models never become paths ---
    for index, name in enumerate(HOSTILE_CLASS_NAMES):
        hostile = _hostile_checkpoint(run, harm / f"run_class_{index}", name)
        bad.append(
            Bad(
                f"checkpoint class name {name[:20]!r}",
                "model",
                predict(hostile, harm / f"p_class_{index}"),
                ConfigError,
                ["best.pt", "data.class_names"],
            )
        )
    for index, name in enumerate(HOSTILE_CLASS_NAMES[:2]):
        onnx = _hostile_export(harm / f"export_class_{index}", run, name)
        bad.append(
            Bad(
                f"model.json class name {name[:20]!r}",
                "model",
                predict(onnx, harm / f"p_json_{index}", "--backend", "onnx"),
                ConfigError,
                ["model.json", "data.class_names"],
            )
        )

    # --- output folders: ~, staging folders beside them ---
    tilde_cwd = harm / "tilde_cwd"
    (tilde_cwd / "~").mkdir(parents=True)
    (tilde_cwd / "~" / "notes.txt").write_text("mine")
    bad.append(
        Bad(
            "predict --out '~' --overwrite",
            "output folder",
            predict(run, Path("~"), "--overwrite"),
            RunDirError,
            ["home folder"],
            cwd=tilde_cwd,
        )
    )
    done = _fake_output(harm / "p_done", "predict", True, {"measurements.csv": "image\n"})
    old = harm / ".p_done.medseg-old"
    old.mkdir()
    (old / "thesis.tex").write_text("years of work")
    bad.append(
        Bad(
            "--overwrite beside a user's .medseg-old folder",
            "output folder",
            predict(run, done, "--overwrite"),
            RunDirError,
            [".p_done.medseg-old", "not written by medseg"],
            output=done,
        )
    )
    done2 = _fake_output(harm / "p_done2", "predict", True, {"measurements.csv": "image\n"})
    _fake_output(harm / ".p_done2.medseg-new", "predict", False, {"masks/a.png": "x", "thesis.tex": "mine"})
    bad.append(
        Bad(
            "--overwrite with a user's file in the .medseg-new folder",
            "output folder",
            predict(run, done2, "--overwrite"),
            RunDirError,
            ["thesis.tex", "did not write"],
            output=done2,
        )
    )

    # --- interruption: a killed predict leaves an incomplete folder; the user saved a file into it ---
    killed = _fake_output(
        harm / "p_killed", "predict", False, {"masks/case.png": "x", "measurements.csv": "", "my_notes.txt": "mine"}
    )
    bad.append(
        Bad(
            "killed predict, user file, --overwrite",
            "interruption",
            predict(run, killed, "--overwrite"),
            RunDirError,
            ["my_notes.txt", "interrupted"],
            output=killed,
        )
    )
    killed_run = _fake_output(harm / "t_killed", "train", False, {"checkpoints/last.pt": "x", "draft.docx": "mine"})
    bad.append(
        Bad(
            "killed train, user file, --overwrite",
            "interruption",
            ["train", "demo", "--data", str(hc18), "--out", str(killed_run), "--overwrite", "train.epochs=1"],
            RunDirError,
            ["draft.docx", "interrupted"],
            output=killed_run,
        )
    )

    # --- single files: export, compare, report never over an input or a file medseg did not write ---
    bad.append(
        Bad(
            "export --out RUN/split.onnx",
            "report",
            ["export", str(run), "--out", str(run / "split.onnx")],
            RunDirError,
            ["split.json", "did not write"],
        )
    )
    bad.append(
        Bad(
            "export --out DATA/x.onnx",
            "report",
            ["export", str(run), "--out", str(hc18 / "x.onnx")],
            RunDirError,
            ["x.onnx", "dataset"],
        )
    )
    bad.append(
        Bad(
            "export --out x.pt",
            "report",
            ["export", str(run), "--out", str(harm / "x.pt")],
            RunDirError,
            ["x.pt", ".onnx"],
        )
    )
    bad.append(
        Bad(
            "export --out RUN/checkpoints/best.onnx",
            "report",
            ["export", str(run), "--out", str(run / "checkpoints" / "best.onnx")],
            RunDirError,
            ["top level"],
        )
    )
    pixel_csv = "training_set_pixel_size_and_HC"
    bad.append(
        Bad(
            "compare --out DATA/<pixel-size CSV>.html",
            "report",
            ["compare", str(run), "--out", str(hc18 / f"{pixel_csv}.html")],
            RunDirError,
            ["dataset"],
        )
    )
    bad.append(
        Bad(
            "compare --out RUN/history",
            "report",
            ["compare", str(run), "--out", str(run / "history")],
            RunDirError,
            ["history", ".html"],
        )
    )
    mine = harm / "mine"
    mine.mkdir()
    (mine / "table.csv").write_text("my,numbers\n")
    bad.append(
        Bad(
            "compare --out over a user's .csv",
            "report",
            ["compare", str(run), "--out", str(mine / "table.html")],
            RunDirError,
            ["table.csv", "did not write"],
        )
    )
    bad.append(
        Bad(
            "report --out RUN/checkpoints/best.pt",
            "report",
            ["report", str(run), "--out", str(run / "checkpoints" / "best.pt")],
            RunDirError,
            [".html"],
        )
    )
    (mine / "page.html").write_text("<p>mine</p>")
    bad.append(
        Bad(
            "report --out over a user's .html",
            "report",
            ["report", str(run), "--out", str(mine / "page.html")],
            RunDirError,
            ["page.html", "did not write"],
        )
    )

    # --- small files that hang or exhaust ---
    laughs = harm / "laughs.yaml"
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{k}: &a{k} [{', '.join([f'*a{k - 1}'] * 9)}]" for k in range(1, 9)]
    laughs.write_text("\n".join(lines) + "\n")
    bad.append(
        Bad(
            "YAML billion laughs",
            "config",
            ["train", str(laughs), "--data", str(hc18), "--out", str(harm / "t_laughs")],
            ConfigError,
            ["laughs.yaml", "aliases"],
        )
    )
    recursive = harm / "recursive.yaml"
    recursive.write_text("train: &t {epochs: 1, again: *t}\n")
    bad.append(
        Bad(
            "YAML recursive alias",
            "config",
            ["train", str(recursive), "--data", str(hc18), "--out", str(harm / "t_recursive")],
            ConfigError,
            ["recursive.yaml", "itself"],
        )
    )
    flow = ["&a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    flow += [f"&a{k} [{', '.join([f'*a{k - 1}'] * 9)}]" for k in range(1, 9)]
    bad.append(
        Bad(
            "override with YAML aliases",
            "config",
            [
                "train",
                "demo",
                "--data",
                str(hc18),
                "--out",
                str(harm / "t_override"),
                f"data.reader=[{', '.join(flow)}]",
            ],
            ConfigError,
            ["aliases"],
        )
    )

    from medseg.data.phantoms.ct import write_dicom_series

    zip_bomb = harm / "zip_bomb" / "series.zip"
    zip_bomb.parent.mkdir()
    with zipfile.ZipFile(zip_bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("series/slice0.dcm", b"\x00" * (48 * 2**20))
    bad.append(
        Bad(
            "zip member 48 MB from 48 KB",
            "DICOM",
            predict(run, harm / "p_zip", inputs=zip_bomb),
            DataError,
            ["slice0.dcm", "MAX_ZIP_RATIO"],
        )
    )
    huge = harm / "dicom_huge"
    write_dicom_series(huge / "image", np.zeros((2, 8, 8), np.int16), (2.0, 0.8, 0.8))
    import pydicom

    for path in sorted((huge / "image").iterdir()):
        ds = pydicom.dcmread(path)
        ds.Rows, ds.Columns = 7200, 7200
        ds.save_as(path)
    bad.append(
        Bad(
            "DICOM declaring 7200x7200 pixels",
            "DICOM",
            predict(run, harm / "p_dicom", inputs=huge / "image"),
            DataError,
            ["7200x7200", "data.max_pixels"],
        )
    )
    nifti = _nifti_header_bomb(harm / "nifti_bomb" / "volume-0.nii.gz")
    bad.append(
        Bad(
            "NIfTI header declaring 8 GiB, predict",
            "NIfTI",
            predict(run, harm / "p_nifti", inputs=nifti),
            DataError,
            ["volume-0.nii.gz", "data.max_voxels"],
        )
    )
    _nifti_header_bomb(harm / "nifti_bomb" / "segmentation-0.nii.gz")
    bad.append(
        Bad(
            "NIfTI header declaring 8 GiB, train",
            "NIfTI",
            ["train", "demo", "--data", str(nifti.parent), "--out", str(harm / "t_nifti"), "data.layout=nifti"],
            DataError,
            ["volume-0.nii.gz", "data.max_voxels"],
        )
    )
    bad.append(
        Bad(
            "NIfTI header declaring 8 GiB, check",
            "NIfTI",
            ["check", str(nifti.parent), "--layout", "nifti"],
            None,
            ["volume-0.nii.gz", "data.max_voxels"],
        )
    )
    return bad
