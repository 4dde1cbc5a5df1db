"""A corpus of bad inputs and careless commands, generated on the fly (no committed binaries).

Every case is a ``medseg`` command line (or, for ``serve`` cases, requests to the web application
of a tiny run) that must end in one clear error or in its correct result: the expected
:class:`~medseg.errors.MedsegError` subclass (or, for ``medseg check``, a list of problems and
exit code 1), a message naming the file or config key; or success, with the warning it must print
and a check of what it wrote. Never a traceback, and nothing changed outside the command's own
output folder. ``tests/test_bad_inputs.py`` asserts it for every case; run

    PYTHONPATH=src python -m tests.bad_inputs

to print the count ("clear errors / cases tried") that README.md quotes.
"""

from __future__ import annotations

import functools
import gzip
import io
import os
import shutil
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import cv2
import nibabel as nib
import numpy as np
import torch

from medseg.errors import ConfigError, DataError, MedsegError, RunDirError


@dataclass
class Bad:
    """One bad input: the command, what must be reported, what may change.

    Three kinds of outcome: an error (``error`` set: exit 2 with that :class:`MedsegError`), a
    ``medseg check`` report (``error`` None: exit 1, problems listed), or success (``ok``: exit 0,
    ``names`` are the warnings that must be printed, ``verify`` checks what was written). A ``serve``
    case sends requests to the web application of the tiny run instead of running a command.
    """

    name: str
    category: str  # one of CATEGORIES
    args: list[str]
    error: type[MedsegError] | None  # None: ``medseg check`` (exit 1, problems listed), or ``ok``
    names: list[str]  # every string must appear in the message (file or key) or, for ``ok``, the output
    output: Path | None = None  # the one folder the command may create or change
    cwd: Path | None = None
    watch: list[Path] = field(default_factory=list)  # more folders that must not change
    ok: bool = False  # the command must succeed (exit 0)
    usage: bool = False  # refused while parsing options (exit 2, "Invalid value", the allowed values listed)
    verify: Callable[[], str | None] | None = None  # after the command: None, or what is wrong with its result
    serve: Callable[[Any], str | None] | None = None  # called with a TestClient: None, or what went wrong


CATEGORIES = (
    "image",
    "mask",
    "CSV",
    "NIfTI",
    "DICOM",
    "config",
    "checkpoint",
    "ONNX",
    "output folder",
    "interruption",
    "CLI",
    "report",
    "serve",
    "model",
)


@dataclass
class Outcome:
    bad: Bad
    clear: bool
    why: str
    message: str


class _Payload:
    def __init__(self, flag: Path) -> None:
        self.flag = flag

    def __reduce__(self):  # noqa: ANN204 - what a hostile pickle carries
        return (os.system, (f"touch {self.flag}",))


def png_bomb(path: Path, side: int = 12000) -> Path:
    """A valid greyscale PNG of ``side`` x ``side`` black pixels in ~140 KB (a decompression bomb)."""
    path.write_bytes(_png_bomb_bytes(side))
    return path


@functools.lru_cache(maxsize=4)
def _png_bomb_bytes(side: int) -> bytes:
    import struct

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    compressor = zlib.compressobj(6)
    row = b"\x00" * (side + 1)  # filter byte + one byte per pixel
    rows = (compressor.compress(row * min(500, side - start)) for start in range(0, side, 500))
    body = b"".join(rows) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def _folder_dataset(root: Path, n: int = 6, size: tuple[int, int] = (32, 40)) -> Path:
    rng = np.random.default_rng(0)
    for i in range(n):
        image = rng.integers(0, 255, size, dtype=np.uint8)
        mask = np.zeros(size, np.uint8)
        mask[8:20, 10:25] = 255
        (root / "images").mkdir(parents=True, exist_ok=True)
        (root / "masks").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "images" / f"case{i}.png"), image)
        cv2.imwrite(str(root / "masks" / f"case{i}.png"), mask)
    return root


def _nifti(path: Path, data: np.ndarray, affine: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data, affine), str(path))
    return path


def _nifti_zooms(path: Path, data: np.ndarray, zooms: tuple[float, float, float]) -> Path:
    """A NIfTI without sform/qform whose voxel size is ``zooms`` as stored (possibly 0 or NaN)."""
    image = nib.Nifti1Image(data, None)
    image.header["pixdim"][1:4] = zooms
    nib.save(image, str(path))
    return path


def _lits(root: Path, volume: np.ndarray | None = None, affine: np.ndarray | None = None) -> Path:
    volume = np.random.default_rng(0).integers(-1000, 1000, (16, 16, 4)).astype(np.int16) if volume is None else volume
    affine = np.diag([0.8, 0.8, 2.5, 1.0]) if affine is None else affine
    _nifti(root / "volume-0.nii.gz", volume, affine)
    _nifti(root / "segmentation-0.nii.gz", np.zeros(volume.shape[:3], np.uint8), affine)
    return root


def build_corpus(root: Path, hc18: Path, run: Path) -> list[Bad]:
    """Writes the bad inputs under ``root`` and returns the commands that must fail clearly.

    Args:
        root: an empty scratch folder.
        hc18: a small synthetic HC18-layout dataset (read only).
        run: a trained run folder (read only).
    """
    root.mkdir(parents=True, exist_ok=True)
    bad: list[Bad] = []
    images = root / "images"
    images.mkdir()
    for name in sorted(p.name for p in (hc18 / "test_set").iterdir())[:2]:
        shutil.copy(hc18 / "test_set" / name, images / name)
    good = _folder_dataset(root / "good")
    tiny = ["data.layout=folder", "data.image_size=[32,32]", "model.params.channels=[4,8]", "train.epochs=1"]

    def train(data: Path, out: Path, *extra: str) -> list[str]:
        return ["train", "demo", "--data", str(data), "--out", str(out), *tiny, *extra]

    def predict(run_dir: Path, out: Path, *extra: str, inputs: Path = images) -> list[str]:
        return ["predict", str(run_dir), str(inputs), "--out", str(out), *extra]

    # --- checkpoints: no code runs, names stay inside the run ---
    flag = root / "pwned"
    for which, command in (("best", "predict"), ("best", "evaluate"), ("last", "train --resume")):
        hostile = root / f"hostile_{command.split()[0]}"
        shutil.copytree(run, hostile)
        buffer = io.BytesIO()
        torch.save({"model": {"name": "unet"}, "state_dict": {}, "x": _Payload(flag)}, buffer)
        (hostile / "checkpoints" / f"{which}.pt").write_bytes(buffer.getvalue())
        if command == "predict":
            args = predict(hostile, root / "p_hostile")
        elif command == "evaluate":
            args = ["evaluate", str(hostile), "--data", str(hc18)]
        else:
            args = ["train", "demo", "--data", str(hc18), "--out", str(hostile), "--resume"]
        bad.append(Bad(f"pickle payload via {command}", "checkpoint", args, RunDirError, [f"{which}.pt", "refused"]))
    bad.append(
        Bad(
            "--checkpoint ../../x",
            "checkpoint",
            predict(run, root / "p1", "--checkpoint", "../../x"),
            RunDirError,
            ["--checkpoint"],
        )
    )
    shutil.copy(run / "checkpoints" / "best.pt", root / "outside.pt")
    bad.append(
        Bad(
            "--checkpoint absolute path outside the run",
            "checkpoint",
            predict(run, root / "p2", "--checkpoint", str(root / "outside.pt")),
            RunDirError,
            ["--checkpoint"],
        )
    )
    bad.append(
        Bad(
            "--checkpoint missing",
            "checkpoint",
            predict(run, root / "p3", "--checkpoint", "epoch_9"),
            RunDirError,
            ["epoch_9.pt"],
        )
    )
    damaged = root / "damaged_run"
    shutil.copytree(run, damaged)
    (damaged / "checkpoints" / "best.pt").write_bytes(b"PK\x03\x04 not a checkpoint")
    bad.append(Bad("damaged checkpoint", "checkpoint", predict(damaged, root / "p4"), RunDirError, ["best.pt"]))
    # train.init_weights: the same loader and checks as every checkpoint, before the run folder exists
    bad.append(
        Bad(
            "train.init_weights missing",
            "checkpoint",
            train(good, root / "t_init1", f"train.init_weights={root / 'no_such.pt'}"),
            RunDirError,
            ["no_such.pt", "not found"],
        )
    )
    bad.append(
        Bad(
            "train.init_weights of another model",
            "checkpoint",
            train(good, root / "t_init2", f"train.init_weights={run}"),
            RunDirError,
            ["best.pt", "another model"],
        )
    )
    bad.append(
        Bad(
            "train.init_weights pickle payload",
            "checkpoint",
            train(good, root / "t_init3", f"train.init_weights={root / 'hostile_predict'}"),
            RunDirError,
            ["best.pt", "refused"],
        )
    )
    bad.append(
        Bad(
            "--split ../../x",
            "CLI",
            ["evaluate", str(run), "--data", str(hc18), "--split", "../../x"],
            ConfigError,
            ["--split"],
        )
    )
    bad.append(
        Bad(
            "--split unknown",
            "CLI",
            ["evaluate", str(run), "--data", str(hc18), "--split", "holdout"],
            RunDirError,
            ["holdout"],
        )
    )

    # --- output folders: never an input, the current folder, a parent, or someone else's files ---
    data_copy = _folder_dataset(root / "data_copy")
    bad.append(
        Bad(
            "train --out DATA --overwrite",
            "output folder",
            train(data_copy, data_copy, "--overwrite"),
            RunDirError,
            ["data_copy", "input"],
        )
    )
    bad.append(
        Bad(
            "cv --out DATA --overwrite",
            "output folder",
            ["cv", "demo", "--data", str(data_copy), "--out", str(data_copy), "--overwrite", *tiny],
            RunDirError,
            ["data_copy"],
        )
    )
    bad.append(
        Bad(
            "search --out DATA --overwrite",
            "output folder",
            [
                "search",
                "demo",
                "--data",
                str(data_copy),
                "--out",
                str(data_copy),
                "--grid",
                "lr=1e-3,1e-2",
                "--overwrite",
                *tiny,
            ],
            RunDirError,
            ["data_copy"],
        )
    )
    work = root / "work" / "sub"
    work.mkdir(parents=True)
    (work / "notes.txt").write_text("mine")
    bad.append(
        Bad(
            "predict --out . --overwrite",
            "output folder",
            predict(run, Path("."), "--overwrite"),
            RunDirError,
            ["current folder"],
            cwd=work,
        )
    )
    bad.append(
        Bad(
            "predict --out .. --overwrite",
            "output folder",
            predict(run, Path(".."), "--overwrite"),
            RunDirError,
            ["current folder"],
            cwd=work,
        )
    )
    bad.append(
        Bad(
            "predict --out PARENT --overwrite",
            "output folder",
            predict(run, root / "work", "--overwrite"),
            RunDirError,
            ["current folder"],
            cwd=work,
        )
    )
    bad.append(
        Bad(
            "demo --out .",
            "output folder",
            ["demo", "--out", ".", "--overwrite"],
            RunDirError,
            ["current folder"],
            cwd=work,
        )
    )
    bad.append(
        Bad("predict --out RUN --overwrite", "output folder", predict(run, run, "--overwrite"), RunDirError, ["input"])
    )
    bad.append(
        Bad(
            "predict --out folder holding the input",
            "output folder",
            predict(run, root, "--overwrite"),
            RunDirError,
            ["contains the input"],
        )
    )
    user = root / "user_folder"
    user.mkdir()
    (user / "thesis.tex").write_text("years of work")
    bad.append(
        Bad(
            "train --overwrite a folder medseg did not write",
            "output folder",
            train(good, user, "--overwrite"),
            RunDirError,
            ["user_folder", "did not write"],
        )
    )
    old_run = root / "old_run"
    shutil.copytree(run, old_run)
    bad.append(
        Bad(
            "train --overwrite with a bad model name keeps the old run",
            "output folder",
            train(good, old_run, "--overwrite", "model.name=nonet"),
            ConfigError,
            ["model.name", "nonet"],
        )
    )
    series = root / "series"
    from medseg.data.phantoms.ct import write_dicom_series

    write_dicom_series(series / "image", np.zeros((3, 8, 8), np.int16), (2.0, 0.8, 0.8))
    bad.append(
        Bad(
            "convert into a folder medseg did not write",
            "output folder",
            ["convert", "dicom", str(series), str(user)],
            RunDirError,
            ["did not write"],
        )
    )
    bad.append(
        Bad(
            "predict --out a training run",
            "output folder",
            predict(run, old_run, "--overwrite"),
            RunDirError,
            ["train output"],
        )
    )
    bad.append(
        Bad(
            "--overwrite with --resume",
            "interruption",
            predict(run, root / "p5", "--overwrite", "--resume"),
            RunDirError,
            ["--resume"],
        )
    )
    bad.append(
        Bad(
            "predict --resume with nothing to resume",
            "interruption",
            predict(run, root / "p6", "--resume"),
            RunDirError,
            ["nothing to resume"],
        )
    )
    bad.append(
        Bad(
            "train --resume with nothing to resume",
            "interruption",
            train(good, root / "r_none", "--resume"),
            RunDirError,
            ["nothing to resume"],
        )
    )

    # --- config values: one line naming the key, the value and what is allowed; no folder created ---
    bad_values = [
        ("train.epochs=0", "train.epochs"),
        ("train.epochs=-1", "train.epochs"),
        ("train.batch_size=0", "train.batch_size"),
        ("train.lr=-1", "train.lr"),
        ("train.lr=.nan", "train.lr"),
        ("train.lr=fast", "train.lr"),
        ("data.image_size=[0,64]", "data.image_size"),
        ("data.image_size=big", "data.image_size"),
        ("data.val_fraction=1.5", "data.val_fraction"),
        ("data.test_fraction=-0.1", "data.test_fraction"),
        ("data.val_fraction=0.6", "data.val_fraction + data.test_fraction", "data.test_fraction=0.5"),
        ("train.device=tpu", "train.device"),
        ("data.normalize=robust", "data.normalize"),
        ("train.monitor=val_iou", "train.monitor"),
        ("model.name=nonet", "model.name"),
        ("train.loss=nope", "train.loss"),
        ("data.layout=nope", "data.layout"),
        ("data.reader={bogus: 1}", "bogus"),
        ("train.lrr=1", "lrr"),
        ("augment.prob=2", "augment.prob"),
        ("train.optimizer=rmsprop", "train.optimizer"),
        ("data.num_classes=1", "data.num_classes"),
        ("data.class_names=[a,b,c]", "data.class_names"),
        ("train.max_minutes=-5", "train.max_minutes"),
        ("data.channels=0", "data.channels"),
        ("data.max_pixels=0", "data.max_pixels"),
        ("train.scheduler=sometimes", "train.scheduler"),
        ("train.threads=0", "train.threads"),
        ("eval.hausdorff_percentile=150", "eval.hausdorff_percentile"),
        ("augment.color=-0.1", "augment.color"),
        ("augment.grid_distortion=1.5", "augment.grid_distortion"),
        ("train.num_workers=-1", "train.num_workers"),
    ]
    for item in bad_values:
        override, key, *more = item
        out = root / f"cfg_{len(bad)}"
        bad.append(Bad(f"config {override}", "config", train(good, out, override, *more), ConfigError, [key]))
    broken_yaml = root / "broken.yaml"
    broken_yaml.write_text("train: {epochs: 2\n")
    bad.append(
        Bad(
            "invalid YAML",
            "config",
            ["train", str(broken_yaml), "--data", str(good), "--out", str(root / "y1")],
            ConfigError,
            ["broken.yaml"],
        )
    )
    bad.append(
        Bad(
            "missing config file",
            "config",
            ["train", str(root / "nope.yaml"), "--data", str(good), "--out", str(root / "y2")],
            ConfigError,
            ["nope.yaml"],
        )
    )

    # --- data at the boundary ---
    def data_case(name: str, category: str, folder: Path, names: list[str], *extra: str) -> None:
        bad.append(Bad(name, category, train(folder, root / f"d_{len(bad)}", *extra), DataError, names))

    rgb = _folder_dataset(root / "rgb_mask")
    colour = np.zeros((32, 40, 3), np.uint8)
    colour[8:20, 10:25, 2] = 255  # red in OpenCV's BGR order
    cv2.imwrite(str(rgb / "masks" / "case2.png"), colour)
    data_case("RGB mask, red on black", "mask", rgb, ["case2.png", "colour mask"])
    data_case(
        "colour not in the declared palette",
        "mask",
        rgb,
        ["case2.png", "palette"],
        "data.reader={palette: {1: [0, 255, 0]}}",
    )
    for value in ("nan", "inf", "-0.2", "0"):
        hc = root / f"hc18_{value}"
        shutil.copytree(hc18, hc)
        csv_path = hc / "training_set_pixel_size_and_HC.csv"
        lines = csv_path.read_text().splitlines()
        cells = lines[3].split(",")
        lines[3] = ",".join([cells[0], value, *cells[2:]])
        csv_path.write_text("\n".join(lines) + "\n")
        bad.append(
            Bad(
                f"HC18 pixel size {value}",
                "CSV",
                ["train", "demo", "--data", str(hc), "--out", str(root / f"d_hc_{value}")],
                DataError,
                ["training_set_pixel_size_and_HC.csv", "line 4"],
            )
        )
    bomb = _folder_dataset(root / "bomb")
    png_bomb(bomb / "images" / "case1.png")
    data_case("12000x12000 PNG bomb in the training data", "image", bomb, ["case1.png", "exceeds"])
    bomb_images = root / "bomb_images"
    bomb_images.mkdir()
    png_bomb(bomb_images / "big.png")
    bad.append(
        Bad(
            "12000x12000 PNG bomb to predict",
            "image",
            predict(run, root / "p_bomb", inputs=bomb_images),
            DataError,
            ["big.png", "exceeds"],
        )
    )
    corrupt = _folder_dataset(root / "corrupt")
    (corrupt / "images" / "case3.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(200))
    data_case("corrupt PNG", "image", corrupt, ["case3.png"])
    empty = _folder_dataset(root / "empty_file")
    (empty / "masks" / "case0.png").write_bytes(b"")
    data_case("empty mask file", "mask", empty, ["case0.png", "empty"])
    sizes = _folder_dataset(root / "sizes")
    cv2.imwrite(str(sizes / "masks" / "case1.png"), np.zeros((10, 10), np.uint8))
    data_case("mask of another size", "mask", sizes, ["case1.png", "differs"])
    labels = _folder_dataset(root / "labels")
    cv2.imwrite(str(labels / "masks" / "case4.png"), np.full((32, 40), 5, np.uint8))
    data_case("mask label beyond the classes", "mask", labels, ["case4.png", "out of range"])
    no_masks = _folder_dataset(root / "no_masks")
    shutil.rmtree(no_masks / "masks")
    data_case("no masks folder", "mask", no_masks, ["masks"])
    data_case("data folder missing", "image", root / "not_there", ["not_there"])
    no_annotation = root / "hc18_no_annotation"
    shutil.copytree(hc18, no_annotation)
    next((no_annotation / "training_set").glob("*_Annotation.png")).unlink()
    bad.append(
        Bad(
            "HC18 annotation missing",
            "mask",
            ["train", "demo", "--data", str(no_annotation), "--out", str(root / "d_ann")],
            DataError,
            ["_Annotation.png"],
        )
    )
    pixel_csv = root / "sizes.csv"
    pixel_csv.write_text("filename,pixel size(mm)\nother.png,0.1\n")
    bad.append(
        Bad(
            "pixel-size CSV without a row",
            "CSV",
            predict(run, root / "p7", "--pixel-size", str(pixel_csv)),
            DataError,
            ["sizes.csv", "no row"],
        )
    )
    nan_csv = root / "nan_sizes.csv"
    nan_csv.write_text("filename,pixel size(mm)\n" + "".join(f"{p.name},nan\n" for p in sorted(images.iterdir())))
    bad.append(
        Bad(
            "pixel-size CSV with nan",
            "CSV",
            predict(run, root / "p8", "--pixel-size", str(nan_csv)),
            DataError,
            ["nan_sizes.csv", "finite"],
        )
    )
    no_images = root / "no_images"
    no_images.mkdir()
    (no_images / "readme.txt").write_text("nothing")
    bad.append(
        Bad(
            "predict a folder without images",
            "image",
            predict(run, root / "p9", inputs=no_images),
            DataError,
            ["no_images"],
        )
    )
    nifti_cases = {
        "truncated NIfTI": lambda d: (d / "volume-0.nii.gz").write_bytes((d / "volume-0.nii.gz").read_bytes()[:300]),
        "2D NIfTI": lambda d: _nifti(d / "volume-0.nii.gz", np.zeros((16, 16), np.int16), np.eye(4)),
        "NIfTI voxel size 0": lambda d: _nifti_zooms(
            d / "volume-0.nii.gz", np.zeros((16, 16, 4), np.int16), (0.8, 0.0, 2.5)
        ),
        "NIfTI voxel size nan": lambda d: _nifti_zooms(
            d / "volume-0.nii.gz", np.zeros((16, 16, 4), np.int16), (0.8, np.nan, 2.5)
        ),
        "NIfTI not gzip": lambda d: (d / "volume-0.nii.gz").write_bytes(gzip.compress(b"not a nifti header" * 30)),
    }
    for name, spoil in nifti_cases.items():
        folder = _lits(root / name.replace(" ", "_"))
        spoil(folder)
        data_case(name, "NIfTI", folder, ["volume-0.nii.gz"], "data.layout=nifti")
    flat = root / "dicom_flat"
    write_dicom_series(flat / "image", np.zeros((3, 8, 8), np.int16), (2.0, 0.0, 0.8))
    data_case("DICOM pixel spacing 0", "DICOM", flat, ["dicom_flat", "spacing"], "data.layout=dicom")
    msd = root / "msd_json"
    msd.mkdir()
    (msd / "dataset.json").write_text("{training: oops")
    data_case("MSD dataset.json not JSON", "NIfTI", msd, ["dataset.json"], "data.layout=msd")

    # --- medseg check: every problem at once ---
    many = _folder_dataset(root / "many_problems")
    cv2.imwrite(str(many / "masks" / "case0.png"), colour)
    (many / "images" / "case1.png").write_bytes(b"junk")
    cv2.imwrite(str(many / "masks" / "case2.png"), np.zeros((5, 5), np.uint8))
    bad.append(
        Bad(
            "check lists every problem",
            "mask",
            ["check", str(many), "--layout", "folder"],
            None,
            ["case0.png", "case1.png", "case2.png", "3 problems"],
        )
    )
    bad.append(Bad("check a bomb", "image", ["check", str(bomb), "--layout", "folder"], None, ["case1.png", "exceeds"]))
    bad.append(
        Bad(
            "check nan pixel size",
            "CSV",
            ["check", str(root / "hc18_nan"), "--layout", "hc18"],
            None,
            ["line 4", "finite"],
        )
    )
    from .bad_inputs_numbers import build_number_cases

    bad += build_number_cases(root / "numbers", hc18, run)
    from .bad_inputs_harm import build_harm_cases  # it imports Bad from here

    bad += build_harm_cases(root, hc18, run)
    return bad


def _snapshot(folders: list[Path], skip: Path | None) -> dict[str, tuple[int, int, int]]:
    state = {}
    for folder in folders:
        if not folder.exists():
            continue
        for path in [folder, *folder.rglob("*")]:
            if skip is not None and (path == skip or skip in path.parents):
                continue
            info = path.lstat()
            state[str(path)] = (info.st_size, info.st_mtime_ns if path.is_file() else 0, info.st_mode)
    return state


@contextmanager
def _cwd(path: Path | None) -> Iterator[None]:
    before = Path.cwd()
    if path is not None:
        os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def run_case(bad: Bad, watch: list[Path], client: Any = None) -> Outcome:
    """Runs one bad command through the CLI (or, for a ``serve`` case, through ``client``) and judges it."""
    skip = None if bad.output is None else bad.output.resolve()
    folders = [p.resolve() for p in watch + bad.watch]
    before = _snapshot(folders, skip)
    outcome = _serve_case(bad, client) if bad.serve is not None else _command_case(bad)
    if outcome.clear and bad.verify is not None:
        try:
            problem = bad.verify()
        except Exception as exc:  # noqa: BLE001 - a result that cannot even be read back is wrong
            problem = f"result unreadable: {exc!r}"
        if problem:
            outcome = Outcome(bad, False, f"wrong result: {problem}", outcome.message)
    after = _snapshot(folders, skip)
    if outcome.clear and before != after:
        changed = sorted(set(before.items()) ^ set(after.items()))[:3]
        return Outcome(bad, False, f"files outside the output changed: {changed}", outcome.message)
    return outcome


def _serve_case(bad: Bad, client: Any) -> Outcome:
    try:
        problem = bad.serve(client)
        health = client.get("/healthz").status_code
    except Exception as exc:  # noqa: BLE001 - an exception escaping the app is a crash
        return Outcome(bad, False, f"traceback or crash: {exc!r}", "")
    if problem:
        return Outcome(bad, False, problem, problem)
    if health != 200:
        return Outcome(bad, False, f"server down after the case (healthz {health})", "")
    return Outcome(bad, True, "", "")


def _command_case(bad: Bad) -> Outcome:
    from typer.testing import CliRunner

    import medseg.cli as cli
    from medseg.cli import base

    caught: list[BaseException] = []
    original = base.report_error  # every command's fail(error) prints through it

    def record(error: Exception) -> None:
        caught.append(error)
        original(error)

    # a case must never start a server: reaching uvicorn is a failure, not a hang
    started = mock.patch("uvicorn.run", side_effect=RuntimeError("medseg serve started a server"))
    with _cwd(bad.cwd), mock.patch.object(base, "report_error", record), started:
        result = CliRunner().invoke(cli.app, bad.args)
    text = result.output
    message = str(caught[0]) if caught else text
    if "Traceback" in text or (result.exception is not None and not isinstance(result.exception, SystemExit)):
        return Outcome(bad, False, f"traceback or crash: {result.exception!r}", text)
    if bad.ok:
        if result.exit_code != 0:
            return Outcome(bad, False, f"exit code {result.exit_code}, expected success", text)
        message = text
    elif bad.usage:
        if result.exit_code != 2 or "Invalid value" not in text or caught:
            return Outcome(bad, False, f"exit code {result.exit_code}, expected a usage error", text)
        message = " ".join(text.split())
    elif bad.error is None:
        if result.exit_code != 1:
            return Outcome(bad, False, f"check exited {result.exit_code}, expected 1", text)
    else:
        if result.exit_code != 2 or not caught:
            return Outcome(bad, False, f"exit code {result.exit_code} without a medseg error", text)
        if not isinstance(caught[0], bad.error):
            return Outcome(bad, False, f"{type(caught[0]).__name__}, expected {bad.error.__name__}", message)
        if "\n" in message.strip():
            return Outcome(bad, False, "message spans several lines", message)
    missing = [name for name in bad.names if name not in message]
    if missing:
        return Outcome(bad, False, f"message does not name {missing}", message)
    return Outcome(bad, True, "", message)


def serve_client(run: Path) -> Any:
    """A FastAPI TestClient of the web application serving ``run`` (uploads capped at 2 MB)."""
    from fastapi.testclient import TestClient

    from medseg.inference.backends import open_predictor
    from medseg.serve import create_app

    app = create_app(open_predictor(run, "torch", "best"), max_upload_mb=2.0, name="tiny")
    return TestClient(app, raise_server_exceptions=True)


def run_corpus(root: Path, hc18: Path, run: Path) -> list[Outcome]:
    """Builds the corpus under ``root`` and runs every case."""
    corpus = build_corpus(root, hc18, run)
    client = serve_client(run) if any(bad.serve is not None for bad in corpus) else None
    return [run_case(bad, [root, hc18, run], client) for bad in corpus]


def main() -> None:
    """Generates data, trains a tiny run, runs the corpus and prints the count."""
    import tempfile

    from medseg.config import load_config
    from medseg.data.phantoms.fetal_head import write_fetal_head_dataset
    from medseg.experiments.train import train_run

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch)
        hc18 = write_fetal_head_dataset(base / "hc18", n_subjects=12, shape=(96, 128), seed=1)
        overrides = ["data.image_size=[48,64]", "model.params.channels=[4,8,16]", "train.epochs=1", "train.threads=1"]
        train_run(load_config("demo", overrides), hc18, base / "run")
        outcomes = run_corpus(base / "corpus", hc18, base / "run")
    categories = sorted({o.bad.category for o in outcomes})
    for category in categories:
        mine = [o for o in outcomes if o.bad.category == category]
        print(f"{category:14s} {sum(o.clear for o in mine)}/{len(mine)}")
    print(", ".join(f"{c} {sum(o.bad.category == c for o in outcomes)}" for c in CATEGORIES))
    for outcome in outcomes:
        if not outcome.clear:
            print(f"NOT CLEAR: {outcome.bad.name}: {outcome.why}")
    print(f"clear errors / cases tried: {sum(o.clear for o in outcomes)}/{len(outcomes)}")


if __name__ == "__main__":
    main()
