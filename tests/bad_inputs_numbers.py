"""Bad inputs that gave a wrong number without a word, a traceback or a misleading error.

Each case ends in one clear error naming the file or key, or in its correct result (checked by a
small callable). :func:`build_number_cases` is called by :func:`tests.bad_inputs.build_corpus`.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import nibabel as nib
import numpy as np
import torch
import yaml

from medseg.errors import ConfigError, DataError, ExportError, MedsegError, RunDirError

from .bad_inputs import Bad, _folder_dataset, _lits, _nifti, _nifti_zooms, png_bomb


def dicom_image(path: Path, pixels: np.ndarray, spacing: tuple[str, str] | None = ("0.1", "0.1"), **extra: Any) -> Path:
    """A planar single-frame DICOM image (no patient position), e.g. an ultrasound frame."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "US"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    if spacing is not None:
        ds.PixelSpacing = list(spacing)
    for key, value in extra.items():
        setattr(ds, key, value)
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(str(path), enforce_file_format=True)
    return path


def _patch(path: Path, old: bytes, new: bytes) -> Path:
    data = path.read_bytes()
    assert old in data and len(old) == len(new)
    path.write_bytes(data.replace(old, new))
    return path


def _zip_series(path: Path, series: Path, flag: int = 0, bad_crc: bool = False) -> Path:
    """A zip of a DICOM series; ``flag`` sets general-purpose bits (1: encrypted), ``bad_crc`` spoils the CRCs."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for file in sorted(series.iterdir()):
            archive.write(file, file.name)
    data = bytearray(path.read_bytes())
    for signature, flag_at, crc_at in ((b"PK\x03\x04", 6, 14), (b"PK\x01\x02", 8, 16)):
        start = data.find(signature)
        while start >= 0:
            if flag:
                data[start + flag_at] |= flag
            if bad_crc:
                data[start + crc_at] ^= 0xFF
            start = data.find(signature, start + 4)
    path.write_bytes(bytes(data))
    return path


def _nifti_sform(path: Path, data: np.ndarray, affine: np.ndarray) -> Path:
    """A NIfTI whose sform is ``affine`` as given (nibabel cannot store a singular one as qform)."""
    image = nib.Nifti1Image(data, None)
    image.set_sform(affine, code=1)
    nib.save(image, str(path))
    return path


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def build_number_cases(root: Path, hc18: Path, run: Path) -> list[Bad]:
    """Writes the inputs under ``root`` and returns the cases (see the module docstring).

    Args:
        root: a scratch folder (created).
        hc18: a small synthetic HC18-layout dataset (read only).
        run: a trained run folder of a 2-class grey model (read only).
    """
    from medseg.data.phantoms.ct import write_dicom_series

    root.mkdir(parents=True, exist_ok=True)
    bad: list[Bad] = []
    test_images = sorted((hc18 / "test_set").glob("*.png"))
    images = root / "images"
    images.mkdir()
    for path in test_images[:2]:
        shutil.copy(path, images / path.name)
    tiny = ["data.layout=folder", "data.image_size=[32,32]", "model.params.channels=[4,8]", "train.epochs=1"]
    good = _folder_dataset(root / "good")

    def out(tag: str) -> Path:
        return root / f"out_{len(bad)}_{tag}"

    def train(data: Path, target: Path, *extra: str) -> list[str]:
        return ["train", "demo", "--data", str(data), "--out", str(target), *tiny, *extra]

    def predict(inputs: Path, target: Path, *extra: str, run_dir: Path = run) -> list[str]:
        return ["predict", str(run_dir), str(inputs), "--out", str(target), *extra]

    def add(name: str, category: str, args: list[str], error: type[MedsegError] | None, names: list[str], **kw: Any):
        bad.append(Bad(name, category, args, error, names, **kw))

    def folder_of(name: str, files: dict[str, Callable[[Path], Any]]) -> Path:
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for file_name, write in files.items():
            write(folder / file_name)
        return folder

    def png(array: np.ndarray) -> Callable[[Path], Any]:
        return lambda path: cv2.imwrite(str(path), array)

    grey = np.random.default_rng(1).integers(0, 255, (48, 64), dtype=np.uint8)

    # ------------------------------------------------------------------ image
    same_stem = folder_of("same_stem", {"a.png": png(grey), "a.jpg": png(grey)})
    add("a.png and a.jpg to predict", "image", predict(same_stem, out("p")), DataError, ["a.jpg", "a.png", "same name"])
    same_train = _folder_dataset(root / "same_stem_train")
    cv2.imwrite(str(same_train / "images" / "case1.jpg"), grey[:32, :40])
    add("case1.png and case1.jpg in training images", "image", train(same_train, out("t")), DataError, ["case1"])
    add(
        "check case1.png and case1.jpg",
        "image",
        ["check", str(same_train), "--layout", "folder"],
        None,
        ["case1", "same name"],
    )
    webp = root / "webp"
    webp.mkdir()
    ok, encoded = cv2.imencode(".webp", grey)
    for k in range(2):
        (webp / f"frame{k}.webp").write_bytes(encoded.tobytes())
    add("folder of WebP images", "image", predict(webp, out("p")), DataError, ["webp", "PNG"])
    gif = folder_of("gif", {"frame.gif": lambda p: p.write_bytes(b"GIF89a" + bytes(30))})
    add("folder of GIF images", "image", predict(gif, out("p")), DataError, ["gif"])
    long_name = root / "long_name"
    long_name.mkdir()
    cv2.imwrite(str(long_name / ("x" * 251 + ".png")), grey)
    add("file name of 255 bytes", "image", predict(long_name, out("p")), DataError, ["file name", "bytes"])
    not_utf8 = root / "not_utf8"
    not_utf8.mkdir()
    (not_utf8 / os.fsdecode(b"scan_\xff.png")).write_bytes(cv2.imencode(".png", grey)[1].tobytes())
    add("file name not UTF-8", "image", predict(not_utf8, out("p")), DataError, ["UTF-8"])
    empty_image = folder_of("empty_image", {"a.png": lambda p: p.write_bytes(b"")})
    add("empty image to predict", "image", predict(empty_image, out("p")), DataError, ["a.png", "empty"])
    truncated_jpeg = folder_of(
        "truncated_jpeg", {"a.jpg": lambda p: p.write_bytes(cv2.imencode(".jpg", grey)[1].tobytes()[:200])}
    )
    add("truncated JPEG to predict", "image", predict(truncated_jpeg, out("p")), DataError, ["a.jpg"])
    junk_png = folder_of("junk_png", {"a.png": lambda p: p.write_bytes(b"this is not a picture" * 20)})
    add("text file named .png to predict", "image", predict(junk_png, out("p")), DataError, ["a.png"])
    bomb = root / "bomb_tiff"
    bomb.mkdir()
    png_bomb(bomb / "big.png", side=9000)
    add("9000x9000 PNG over data.max_pixels", "image", predict(bomb, out("p")), DataError, ["big.png", "exceeds"])
    nan_tiff = root / "nan_tiff"
    nan_tiff.mkdir()
    import tifffile

    float_image = np.ones((48, 64), np.float32)
    float_image[3, 4] = np.nan
    tifffile.imwrite(nan_tiff / "a.tif", float_image)
    add("float TIFF holding NaN to predict", "image", predict(nan_tiff, out("p")), DataError, ["a.tif", "NaN"])
    one_pixel = folder_of("one_pixel", {"a.png": png(np.zeros((1, 1), np.uint8))})
    add("1x1 image to predict", "image", predict(one_pixel, out("p")), DataError, ["a.png", "1x1"])
    train_nan = _folder_dataset(root / "train_nan_tiff")
    tifffile.imwrite(train_nan / "images" / "case0.tif", np.full((32, 40), np.nan, np.float32))
    (train_nan / "images" / "case0.png").unlink()
    add("float TIFF holding NaN in training data", "image", train(train_nan, out("t")), DataError, ["case0.tif"])
    grey16 = folder_of("grey16", {"a.png": png(grey.astype(np.uint16) * 250)})
    target16 = out("p")
    add(
        "16-bit PNG predicted at its size",
        "image",
        predict(grey16, target16),
        None,
        ["1 images"],
        ok=True,
        output=target16,
        verify=lambda t=target16: (
            None
            if cv2.imread(str(t / "masks" / "a.png"), cv2.IMREAD_UNCHANGED).shape == (48, 64)
            else "mask size differs from the image"
        ),
    )

    # ------------------------------------------------------------------ mask
    def mask_dataset(name: str, value: int, extra: Callable[[Path], None] | None = None) -> Path:
        folder = _folder_dataset(root / name)
        for path in (folder / "masks").iterdir():
            mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            cv2.imwrite(str(path), np.where(mask > 0, value, 0).astype(np.uint8))
        if extra is not None:
            extra(folder)
        return folder

    def foreground_of(folder: Path, **options: Any) -> Callable[[], str | None]:
        def verify() -> str | None:
            from medseg.data.readers import READERS

            cases = READERS.get("folder")(folder, **options)
            empty = [c.id for c in cases if c.mask is None or int(c.mask.max()) != 1]
            return f"masks read without foreground: {empty}" if empty else None

        return verify

    for value in (100, 60, 21):
        folder = mask_dataset(f"mask_{value}", value)
        add(
            f"mask foreground {value} read as foreground",
            "mask",
            ["check", str(folder), "--layout", "folder"],
            None,
            ["0 problems"],
            ok=True,
            verify=foreground_of(folder),
        )
    folder = mask_dataset("mask_1", 1)
    add(
        "0/1 mask read as foreground",
        "mask",
        ["check", str(folder), "--layout", "folder"],
        None,
        ["0 problems"],
        ok=True,
        verify=foreground_of(folder),
    )

    def alpha_mask(folder: Path) -> None:
        mask = np.zeros((32, 40, 4), np.uint8)
        mask[8:20, 10:25, 3] = 255
        cv2.imwrite(str(folder / "masks" / "case3.png"), mask)

    alpha = mask_dataset("mask_alpha", 255, alpha_mask)
    add("mask foreground only in alpha (train)", "mask", train(alpha, out("t")), DataError, ["case3.png", "alpha"])
    add("mask foreground only in alpha (check)", "mask", ["check", str(alpha), "--layout", "folder"], None, ["alpha"])

    def transparent_black(folder: Path) -> None:
        mask = np.zeros((32, 40, 4), np.uint8)
        mask[8:20, 10:25] = 255
        mask[..., 3] = 255
        cv2.imwrite(str(folder / "masks" / "case3.png"), mask)

    opaque = mask_dataset("mask_opaque_rgba", 255, transparent_black)
    add(
        "opaque RGBA mask read by its grey values",
        "mask",
        ["check", str(opaque), "--layout", "folder"],
        None,
        ["0 problems"],
        ok=True,
        verify=foreground_of(opaque),
    )

    def two_masks(folder: Path) -> None:
        shutil.copy(folder / "masks" / "case2.png", folder / "masks" / "case2.jpg")

    twice = mask_dataset("mask_twice", 255, two_masks)
    add("case2.png and case2.jpg masks", "mask", train(twice, out("t")), DataError, ["case2", "two masks"])
    mask16 = _folder_dataset(root / "mask16")
    for path in (mask16 / "masks").iterdir():
        mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        cv2.imwrite(str(path), (mask > 0).astype(np.uint16) * 65535)
    add(
        "16-bit 0/65535 mask read as foreground",
        "mask",
        ["check", str(mask16), "--layout", "folder"],
        None,
        ["0 problems"],
        ok=True,
        verify=foreground_of(mask16),
    )
    mask_junk = _folder_dataset(root / "mask_junk")
    (mask_junk / "masks" / "case1.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    add("mask file truncated", "mask", train(mask_junk, out("t")), DataError, ["case1.png"])
    mask_missing = _folder_dataset(root / "mask_missing")
    (mask_missing / "masks" / "case5.png").unlink()
    add("mask missing for one image", "mask", train(mask_missing, out("t")), DataError, ["case5"])
    mask_labels = mask_dataset("mask_labels_3", 3)
    add(
        "label 3 with data.num_classes=2 (check --classes)",
        "mask",
        ["check", str(mask_labels), "--layout", "folder", "--classes", "2"],
        None,
        ["out of range"],
    )
    big_mask = _folder_dataset(root / "mask_bomb")
    png_bomb(big_mask / "masks" / "case0.png", side=9000)
    add("mask PNG bomb", "mask", train(big_mask, out("t")), DataError, ["case0.png", "exceeds"])

    # ------------------------------------------------------------------ CSV
    def sizes_csv(name: str, text: str | bytes) -> Path:
        path = root / name
        path.write_bytes(text.encode() if isinstance(text, str) else text)
        return path

    names = [p.name for p in sorted(images.iterdir())]
    header = "filename,pixel size(mm)\n"
    duplicate = sizes_csv("dup.csv", header + f"{names[0]},0.1\n{names[1]},0.1\n{names[0]},0.2\n")
    add(
        "duplicate rows in the pixel-size CSV",
        "CSV",
        predict(images, out("p"), "--pixel-size", str(duplicate)),
        DataError,
        ["dup.csv", "line 4", names[0], "line 2"],
    )
    utf16 = sizes_csv("utf16.csv", (header + f"{names[0]},0.1\n{names[1]},0.1\n").encode("utf-16"))
    add(
        "pixel-size CSV in UTF-16",
        "CSV",
        predict(images, out("p"), "--pixel-size", str(utf16)),
        DataError,
        ["utf16.csv", "UTF-8"],
    )
    latin = sizes_csv("latin.csv", (header + f"{names[0]},0.1\n{names[1]},0.1\nb\xe9b\xe9.png,0.1\n").encode("latin-1"))
    add(
        "pixel-size CSV in Latin-1",
        "CSV",
        predict(images, out("p"), "--pixel-size", str(latin)),
        DataError,
        ["latin.csv", "UTF-8"],
    )
    bom = sizes_csv("bom.csv", "\ufeff" + header + f"{names[0]},0.1\n{names[1]},0.1\n")
    target = out("p")
    add(
        "pixel-size CSV with a byte-order mark",
        "CSV",
        predict(images, target, "--pixel-size", str(bom)),
        None,
        ["2 images"],
        ok=True,
        output=target,
        verify=lambda t=target: (
            None
            if all(float(r["pixel_size_mm"]) == 0.1 for r in _csv_rows(t / "measurements.csv"))
            else "pixel sizes not read from the CSV"
        ),
    )
    semicolons = sizes_csv("semi.csv", "filename;pixel size(mm)\n" + f"{names[0]};0.1\n{names[1]};0.1\n")
    add(
        "pixel-size CSV with semicolons",
        "CSV",
        predict(images, out("p"), "--pixel-size", str(semicolons)),
        DataError,
        ["semi.csv", "line 2"],
    )
    huge = sizes_csv("huge.csv", header + f"{names[0]},1e400\n{names[1]},0.1\n")
    add(
        "pixel size 1e400",
        "CSV",
        predict(images, out("p"), "--pixel-size", str(huge)),
        DataError,
        ["huge.csv", "line 2", "finite"],
    )
    negative = sizes_csv("negative.csv", header + f"{names[0]},-0.1\n{names[1]},0.1\n")
    add(
        "pixel size -0.1",
        "CSV",
        predict(images, out("p"), "--pixel-size", str(negative)),
        DataError,
        ["negative.csv", "line 2"],
    )
    add(
        "pixel-size CSV missing",
        "CSV",
        predict(images, out("p"), "--pixel-size", str(root / "absent.csv")),
        DataError,
        ["absent.csv", "not found"],
    )
    add(
        "pixel-size CSV is a folder",
        "CSV",
        predict(images, out("p"), "--pixel-size", str(images)),
        DataError,
        [str(images.name)],
    )
    header_only = sizes_csv("header_only.csv", header)
    add(
        "pixel-size CSV with a header only",
        "CSV",
        predict(images, out("p"), "--pixel-size", str(header_only)),
        DataError,
        ["header_only.csv"],
    )
    binary = sizes_csv("binary.csv", os.urandom(64) + b"\0\0\xff")
    add(
        "pixel-size CSV of binary junk",
        "CSV",
        predict(images, out("p"), "--pixel-size", str(binary)),
        DataError,
        ["binary.csv"],
    )
    hc_dup = root / "hc18_dup"
    shutil.copytree(hc18, hc_dup)
    table = hc_dup / "training_set_pixel_size_and_HC.csv"
    lines = table.read_text().splitlines()
    table.write_text("\n".join([*lines, lines[2]]) + "\n")
    add(
        "HC18 training CSV with a duplicate row",
        "CSV",
        ["train", "demo", "--data", str(hc_dup), "--out", str(out("t"))],
        DataError,
        ["training_set_pixel_size_and_HC.csv", f"line {len(lines) + 1}"],
    )
    hc_latin = root / "hc18_latin"
    shutil.copytree(hc18, hc_latin)
    table = hc_latin / "training_set_pixel_size_and_HC.csv"
    table.write_bytes(table.read_bytes() + "caf\xe9.png,0.1,100\n".encode("latin-1"))
    add(
        "HC18 CSV not UTF-8 (train)",
        "CSV",
        ["train", "demo", "--data", str(hc_latin), "--out", str(out("t"))],
        DataError,
        ["training_set_pixel_size_and_HC.csv", "UTF-8"],
    )
    add(
        "HC18 CSV not UTF-8 (check)",
        "CSV",
        ["check", str(hc_latin), "--layout", "hc18"],
        None,
        ["training_set_pixel_size_and_HC.csv", "UTF-8"],
    )
    folder_csv = _folder_dataset(root / "folder_csv")
    (folder_csv / "pixel_size.csv").write_text(header + "case0.png,0.2\ncase0.png,0.3\n")
    add(
        "folder pixel_size.csv with a duplicate row",
        "CSV",
        train(folder_csv, out("t")),
        DataError,
        ["pixel_size.csv", "line 3"],
    )
    hc_neg_hc = root / "hc18_neg_hc"
    shutil.copytree(hc18, hc_neg_hc)
    table = hc_neg_hc / "training_set_pixel_size_and_HC.csv"
    lines = table.read_text().splitlines()
    cells = lines[2].split(",")
    lines[2] = ",".join([*cells[:2], "-180"])
    table.write_text("\n".join(lines) + "\n")
    add(
        "HC18 head circumference -180",
        "CSV",
        ["check", str(hc_neg_hc), "--layout", "hc18"],
        None,
        ["line 3", "head circumference"],
    )

    # ------------------------------------------------------------------ NIfTI
    volume = np.zeros((16, 16, 4), np.int16)
    volume[4:12, 4:12] = 300

    def nifti_folder(name: str, write: Callable[[Path], Any]) -> Path:
        folder = root / name
        folder.mkdir()
        write(folder / "scan.nii.gz")
        return folder

    def predict_nifti(name: str, names_: list[str], write: Callable[[Path], Any], check_too: bool = False) -> None:
        folder = nifti_folder(name.replace(" ", "_"), write)
        add(
            f"{name} (predict)", "NIfTI", predict(folder / "scan.nii.gz", out("p")), DataError, ["scan.nii.gz", *names_]
        )

    sheared = np.diag([0.8, 0.8, 2.5, 1.0])
    sheared[0, 2] = 1.5
    predict_nifti("NIfTI pixdim 0", ["voxel size"], lambda p: _nifti_zooms(p, volume, (0.8, 0.0, 2.5)))
    predict_nifti("NIfTI pixdim nan", ["voxel size"], lambda p: _nifti_zooms(p, volume, (0.8, np.nan, 2.5)))
    predict_nifti("NIfTI pixdim negative", ["voxel size"], lambda p: _nifti_zooms(p, volume, (0.8, -0.8, 2.5)))
    predict_nifti("NIfTI sheared affine", ["shear"], lambda p: _nifti(p, volume, sheared))
    nan_affine = np.diag([0.8, 0.8, 2.5, 1.0])
    nan_affine[0, 3] = np.nan
    predict_nifti("NIfTI affine with NaN", ["affine"], lambda p: _nifti(p, volume, nan_affine))
    singular = np.diag([0.8, 0.8, 0.0, 1.0])
    predict_nifti("NIfTI singular affine", ["affine"], lambda p: _nifti_sform(p, volume, singular))
    predict_nifti("NIfTI empty file", ["empty"], lambda p: p.write_bytes(b""))
    predict_nifti("NIfTI 2D", ["3D"], lambda p: _nifti(p, np.zeros((16, 16), np.int16), np.eye(4)))
    predict_nifti(
        "NIfTI 4D with 3 time points", ["3D"], lambda p: _nifti(p, np.zeros((16, 16, 4, 3), np.int16), np.eye(4))
    )
    predict_nifti("NIfTI NaN voxels", ["NaN"], lambda p: _nifti(p, np.full((16, 16, 4), np.nan, np.float32), np.eye(4)))
    predict_nifti("NIfTI not gzip", ["NIfTI"], lambda p: p.write_bytes(b"\x1f\x8b" + os.urandom(300)))
    # training and check read the same geometry checks
    for name, affine in (("sheared", sheared), ("singular", singular)):
        folder = _lits(root / f"lits_{name}")
        for file in folder.iterdir():
            _nifti_sform(file, np.asanyarray(nib.load(str(file)).dataobj), affine)
        add(
            f"NIfTI {name} affine (train)",
            "NIfTI",
            train(folder, out("t"), "data.layout=nifti"),
            DataError,
            ["volume-0.nii.gz"],
        )
        add(
            f"NIfTI {name} affine (check)",
            "NIfTI",
            ["check", str(folder), "--layout", "nifti"],
            None,
            ["volume-0.nii.gz"],
        )
    folder = _lits(root / "lits_pixdim0")
    _nifti_zooms(folder / "volume-0.nii.gz", np.zeros((16, 16, 4), np.int16), (0.8, 0.0, 2.5))
    add("NIfTI pixdim 0 (check)", "NIfTI", ["check", str(folder), "--layout", "nifti"], None, ["volume-0.nii.gz"])

    def volume_matches(target: Path, affine: np.ndarray) -> Callable[[], str | None]:
        def verify() -> str | None:
            row = _csv_rows(target / "volumes.csv")[0]
            voxel = float(row["spacing_z_mm"]) * float(row["spacing_y_mm"]) * float(row["spacing_x_mm"])
            expected = abs(float(np.linalg.det(affine[:3, :3])))
            if not math.isclose(voxel, expected, rel_tol=1e-4):
                return f"voxel volume {voxel:.4f} mm3, the affine's determinant gives {expected:.4f}"
            labels = nib.load(str(target / "labels" / "scan.nii.gz"))
            if not np.allclose(labels.affine, affine, atol=1e-4):
                return "labels written with another affine"
            return None

        return verify

    rotation = np.eye(4)
    angle = math.radians(30)
    rotation[:2, :2] = [[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]]
    for name, affine in (
        ("oblique (rotated) NIfTI", rotation @ np.diag([0.8, 0.7, 2.5, 1.0])),
        ("left-right flipped NIfTI", np.diag([-0.8, 0.8, 2.5, 1.0])),
        ("NIfTI with anisotropic voxels", np.diag([0.5, 0.9, 5.0, 1.0])),
    ):
        folder = nifti_folder(
            name.replace(" ", "_").replace("(", "").replace(")", ""), lambda p, a=affine: _nifti(p, volume, a)
        )
        target = out("p")
        add(
            f"{name}: voxel volume from the affine",
            "NIfTI",
            predict(folder / "scan.nii.gz", target),
            None,
            ["1 volume"],
            ok=True,
            output=target,
            verify=volume_matches(target, affine),
        )

    # ------------------------------------------------------------------ DICOM
    pixels = (grey.astype(np.uint16) * 4)[:48, :64]
    neg = dicom_image(root / "dicom_neg" / "us.dcm", pixels, ("-0.1", "-0.1"))
    add(
        "DICOM PixelSpacing negative (predict)",
        "DICOM",
        predict(neg.parent, out("p")),
        DataError,
        ["us.dcm", "spacing"],
    )
    zero = dicom_image(root / "dicom_zero" / "us.dcm", pixels, ("0", "0.1"))
    add("DICOM PixelSpacing 0 (predict)", "DICOM", predict(zero.parent, out("p")), DataError, ["us.dcm", "spacing"])
    three = dicom_image(root / "dicom_three" / "us.dcm", pixels, None)
    three_ds = three.read_bytes()
    dicom_image(three, pixels, None, PixelSpacing=["0.1", "0.1", "0.1"])
    add(
        "DICOM PixelSpacing of three values",
        "DICOM",
        predict(three.parent, out("p")),
        DataError,
        ["us.dcm", "PixelSpacing"],
    )
    del three_ds
    slope = dicom_image(root / "dicom_slope" / "us.dcm", pixels, RescaleSlope="9.9", RescaleIntercept="0")
    _patch(slope, b"9.9 ", b"abc ")
    add("DICOM RescaleSlope 'abc'", "DICOM", predict(slope.parent, out("p")), DataError, ["us.dcm", "RescaleSlope"])
    nan_slope = dicom_image(root / "dicom_nan_slope" / "us.dcm", pixels, RescaleSlope="9.9", RescaleIntercept="0")
    _patch(nan_slope, b"9.9 ", b"nan ")
    add("DICOM RescaleSlope 'nan'", "DICOM", predict(nan_slope.parent, out("p")), DataError, ["us.dcm", "RescaleSlope"])
    junk = root / "dicom_junk"
    junk.mkdir()
    (junk / "us.dcm").write_bytes(b"\0" * 128 + b"DICM" + os.urandom(100))
    add("junk .dcm to predict", "DICOM", predict(junk, out("p")), DataError, ["us.dcm"])
    good_dcm = dicom_image(root / "dicom_good" / "us.dcm", pixels, ("0.15", "0.15"))
    target = out("p")
    add(
        "DICOM ultrasound frame measured with its PixelSpacing",
        "DICOM",
        predict(good_dcm.parent, target),
        None,
        ["1 images"],
        ok=True,
        output=target,
        verify=lambda t=target: (
            None
            if math.isclose(float(_csv_rows(t / "measurements.csv")[0]["pixel_size_mm"]), 0.15)
            else "pixel size not taken from PixelSpacing"
        ),
    )
    series = write_dicom_series(root / "ct_series", np.zeros((3, 8, 8), np.int16), (2.0, 0.8, 0.8))
    orient = root / "ct_zero_orientation"
    shutil.copytree(series, orient)
    import pydicom

    for path in orient.iterdir():
        ds = pydicom.dcmread(path)
        ds.ImageOrientationPatient = [0, 0, 0, 0, 0, 0]
        ds.save_as(path)
    add(
        "DICOM zero ImageOrientationPatient", "DICOM", predict(orient, out("p")), DataError, ["ImageOrientationPatient"]
    )
    add(
        "DICOM zero ImageOrientationPatient (train)",
        "DICOM",
        train(root / "ct_zero_orientation_train", out("t"), "data.layout=dicom"),
        DataError,
        ["not"],
    )
    (root / "ct_zero_orientation_train").mkdir()
    shutil.copytree(orient, root / "ct_zero_orientation_train" / "image")
    bad[-1] = Bad(bad[-1].name, "DICOM", bad[-1].args, DataError, ["ImageOrientationPatient"])
    negative_series = root / "ct_negative_spacing"
    shutil.copytree(series, negative_series)
    for path in negative_series.iterdir():
        ds = pydicom.dcmread(path)
        ds.PixelSpacing = ["-0.8", "-0.8"]
        ds.save_as(path)
    add("DICOM series PixelSpacing negative", "DICOM", predict(negative_series, out("p")), DataError, ["spacing"])
    encrypted = _zip_series(root / "encrypted.zip", series, flag=1)
    add(
        "DICOM zip with an encrypted member",
        "DICOM",
        predict(encrypted, out("p")),
        DataError,
        ["encrypted.zip", "encrypted"],
    )
    bad_crc = _zip_series(root / "bad_crc.zip", series, bad_crc=True)
    add("DICOM zip with a bad CRC", "DICOM", predict(bad_crc, out("p")), DataError, ["bad_crc.zip"])
    not_zip = root / "not_really.zip"
    not_zip.write_bytes(b"PK\x03\x04" + os.urandom(60))
    add("damaged zip", "DICOM", predict(not_zip, out("p")), DataError, ["not_really.zip"])
    empty_series = root / "empty_series"
    empty_series.mkdir()
    (empty_series / "notes.txt").write_text("no images here")
    add("series folder without DICOM", "DICOM", predict(empty_series, out("p")), DataError, ["empty_series"])

    # ------------------------------------------------------------------ config
    config_cases = [
        ("data.split_seed=-1", "data.split_seed"),
        ("data.split_seed=1.5", "data.split_seed"),
        ("train.seed=-3", "train.seed"),
        ("infer.overlap=1.5", "infer.overlap"),
        ("infer.overlap=-0.1", "infer.overlap"),
        ("infer.overlap=.nan", "infer.overlap"),
        ("infer.batch_size=0", "infer.batch_size"),
        ("infer.window=[0,8]", "infer.window"),
        ("data.crop=[1,2,3]", "data.crop"),
        ("data.window=[40,0]", "data.window"),
        ("data.window=[.nan,400]", "data.window"),
        ("data.median_filter=2", "data.median_filter"),
        ("data.clahe_clip=0", "data.clahe_clip"),
        ("data.equalize=sometimes", "data.equalize"),
        ("data.crop_foreground=.nan", "data.crop_foreground"),
        ("train.momentum=1", "train.momentum"),
        ("train.weight_decay=-1", "train.weight_decay"),
        ("train.val_every=0", "train.val_every"),
        ("train.early_stopping_patience=0", "train.early_stopping_patience"),
        ("train.grad_clip_norm=0", "train.grad_clip_norm"),
        ("train.progressive_resize=[[4,[16,24]],[2,[24,32]]]", "train.progressive_resize"),
        ("train.progressive_resize=[[4,[16,0]]]", "train.progressive_resize"),
        ("train.progressive_resize=[[4,16]]", "train.progressive_resize"),
        ("train.iterations_per_epoch=0", "train.iterations_per_epoch"),
        ("train.deep_supervision=quadratic", "train.deep_supervision"),
        ("train.device=cuda:x", "train.device"),
        ("augment.rotate_deg=.nan", "augment.rotate_deg"),
        ("augment.scale=.inf", "augment.scale"),
        ("augment.noise=-1", "augment.noise"),
        ("postprocess.ellipse_keep=0.2", "postprocess.ellipse_keep"),
        ("eval.qc_share=0", "eval.qc_share"),
        ("model.out_channels=3", "model.out_channels"),
        ("data.keep_aspect=maybe", "data.keep_aspect"),
        ("train.epochs=1.5", "train.epochs"),
        ("data.image_size=[32]", "data.image_size"),
    ]
    for override, key in config_cases:
        add(f"config {override}", "config", train(good, out("c"), override), ConfigError, [key])
    if not torch.cuda.is_available():
        add(
            "train.device=cuda without CUDA",
            "config",
            train(good, out("c"), "train.device=cuda"),
            ConfigError,
            ["train.device", "CUDA"],
        )
    for name, text, key in (
        ("config top level a list", "- 1\n- 2\n", "mapping"),
        ("config section not a mapping", "train: 5\n", "train"),
        ("config unknown section", "trian: {epochs: 1}\n", "trian"),
        ("config of binary junk", "\0\1\2\3", "config_"),
        ("config with a tab indent", "train:\n\tepochs: 1\n", "config_"),
    ):
        path = root / f"config_{len(bad)}.yaml"
        path.write_text(text)
        add(name, "config", ["train", str(path), "--data", str(good), "--out", str(out("c"))], ConfigError, [key])
    latin_yaml = root / "config_latin.yaml"
    latin_yaml.write_bytes("name: caf\xe9\n".encode("latin-1"))
    add(
        "config not UTF-8",
        "config",
        ["train", str(latin_yaml), "--data", str(good), "--out", str(out("c"))],
        ConfigError,
        ["config_latin.yaml", "UTF-8"],
    )
    for override, key in (("train", "train"), ("epochs=1", "epochs=1"), ("train.epochs.x=1", "epochs")):
        add(f"override {override!r}", "config", train(good, out("c"), override), ConfigError, [key])

    # ------------------------------------------------------------------ checkpoint
    def spoiled_run(name: str, spoil: Callable[[Path], Any]) -> Path:
        copy = root / name
        shutil.copytree(run, copy, ignore=shutil.ignore_patterns("tensorboard", "evaluation*"))
        spoil(copy)
        return copy

    def with_checkpoint(change: Callable[[dict], Any]) -> Callable[[Path], Any]:
        def spoil(copy: Path) -> None:
            path = copy / "checkpoints" / "best.pt"
            state = torch.load(path, map_location="cpu", weights_only=True)
            change(state)
            torch.save(state, path)

        return spoil

    def wider(state: dict) -> None:
        key = next(k for k, v in state["state_dict"].items() if v.ndim == 4)
        tensor = state["state_dict"][key]
        state["state_dict"][key] = torch.zeros((tensor.shape[0] * 2, *tensor.shape[1:]))

    disagree = spoiled_run("ckpt_layers", with_checkpoint(wider))
    add(
        "checkpoint layers disagree with its config (predict)",
        "checkpoint",
        predict(images, out("p"), run_dir=disagree),
        RunDirError,
        ["best.pt"],
    )
    add(
        "checkpoint layers disagree with its config (evaluate)",
        "checkpoint",
        ["evaluate", str(disagree), "--data", str(hc18)],
        RunDirError,
        ["best.pt"],
    )
    add(
        "checkpoint layers disagree with its config (export)",
        "checkpoint",
        ["export", str(disagree), "--out", str(out("e") / "m.onnx")],
        RunDirError,
        ["best.pt"],
    )
    empty_ckpt = spoiled_run("ckpt_empty", lambda c: (c / "checkpoints" / "best.pt").write_bytes(b""))
    add("checkpoint empty file", "checkpoint", predict(images, out("p"), run_dir=empty_ckpt), RunDirError, ["best.pt"])
    cut = spoiled_run(
        "ckpt_cut",
        lambda c: (c / "checkpoints" / "best.pt").write_bytes((run / "checkpoints" / "best.pt").read_bytes()[:3000]),
    )
    add("checkpoint cut short", "checkpoint", predict(images, out("p"), run_dir=cut), RunDirError, ["best.pt"])

    def folder_checkpoint(copy: Path) -> None:
        (copy / "checkpoints" / "best.pt").unlink()
        (copy / "checkpoints" / "best.pt").mkdir()

    add(
        "checkpoint is a folder",
        "checkpoint",
        predict(images, out("p"), run_dir=spoiled_run("ckpt_dir", folder_checkpoint)),
        RunDirError,
        ["best.pt"],
    )
    no_state = spoiled_run("ckpt_no_state", with_checkpoint(lambda s: s.pop("state_dict")))
    add(
        "checkpoint without weights",
        "checkpoint",
        predict(images, out("p"), run_dir=no_state),
        RunDirError,
        ["best.pt"],
    )

    add(
        "data.crop larger than the images (train)",
        "config",
        train(hc18, out("t"), "data.layout=hc18", "data.crop=[60,60,0,0]"),
        DataError,
        ["_HC.png", "data.crop=[60, 60, 0, 0]", "96x128"],
    )

    def crop_config(copy: Path) -> None:  # the run's settings: config.yaml and the copy inside best.pt
        config = yaml.safe_load((copy / "config.yaml").read_text())
        config["data"]["crop"] = [60, 60, 0, 0]
        (copy / "config.yaml").write_text(yaml.safe_dump(config))
        with_checkpoint(lambda state: state["config"]["data"].update(crop=[60, 60, 0, 0]))(copy)

    cropping = spoiled_run("crop_too_large", crop_config)
    add(
        "data.crop of the model larger than the image (predict)",
        "config",
        predict(images, out("p"), run_dir=cropping),
        DataError,
        ["_HC.png", "data.crop"],
    )

    # ------------------------------------------------------------------ ONNX
    exported = root / "exported"
    exported.mkdir()
    onnx_ok = _export(run, exported / "model.onnx")
    if onnx_ok:

        def onnx_copy(name: str, spoil: Callable[[Path], Any]) -> Path:
            folder = root / name
            shutil.copytree(exported, folder)
            spoil(folder)
            return folder / "model.onnx"

        def settings(change: Callable[[dict], Any]) -> Callable[[Path], Any]:
            def spoil(folder: Path) -> None:
                path = folder / "model.json"
                data = json.loads(path.read_text())
                change(data)
                path.write_text(json.dumps(data))

            return spoil

        junk_onnx = onnx_copy("onnx_junk", lambda f: (f / "model.onnx").write_bytes(b"not a model" * 10))
        add("ONNX file of junk", "ONNX", predict(images, out("p"), run_dir=junk_onnx), ExportError, ["model.onnx"])
        empty_onnx = onnx_copy("onnx_empty", lambda f: (f / "model.onnx").write_bytes(b""))
        add("ONNX empty file", "ONNX", predict(images, out("p"), run_dir=empty_onnx), ExportError, ["model.onnx"])
        bad_json = onnx_copy(
            "onnx_bad_json", lambda f: [p.write_text("{oops") for p in f.iterdir() if p.suffix == ".json"]
        )
        add("ONNX settings not JSON", "ONNX", predict(images, out("p"), run_dir=bad_json), ExportError, [".json"])
        list_json = onnx_copy(
            "onnx_list_json", lambda f: [p.write_text("[1, 2]") for p in f.iterdir() if p.suffix == ".json"]
        )
        add("ONNX settings JSON a list", "ONNX", predict(images, out("p"), run_dir=list_json), ExportError, [".json"])
        three = onnx_copy("onnx_lies_channels", settings(lambda d: d["config"]["data"].update(channels=3)))
        add(
            "ONNX settings lie about input channels",
            "ONNX",
            predict(images, out("p"), run_dir=three),
            ExportError,
            ["model.json", "data.channels=3", "takes 1"],
        )
        classes = {"num_classes": 3, "class_names": ["background", "head", "brain"]}
        more = onnx_copy("onnx_lies_classes", settings(lambda d: d["config"]["data"].update(classes)))
        add(
            "ONNX settings lie about classes",
            "ONNX",
            predict(images, out("p"), run_dir=more),
            ExportError,
            ["model.json", "3 classes"],
        )
        add(
            "serve an ONNX model with --scales",
            "ONNX",
            ["serve", str(exported / "model.onnx"), "--scales", "1,1.2"],
            ConfigError,
            ["multi-scale", "PyTorch"],
        )
    add(
        "--backend onnx for a run never exported",
        "ONNX",
        predict(images, out("p"), "--backend", "onnx"),
        MedsegError,
        ["onnx"],
    )
    add(
        "--backend tensorflow",
        "ONNX",
        predict(images, out("p"), "--backend", "tensorflow"),
        None,
        ["tensorflow", "'auto', 'onnx', 'torch'"],
        usage=True,
    )

    # ------------------------------------------------------------------ output folder
    locked = root / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    if not os.access(locked, os.W_OK):  # root ignores permissions
        add(
            "predict into a read-only folder",
            "output folder",
            predict(images, locked / "p"),
            RunDirError,
            ["locked", "writ"],
        )
        add(
            "train into a read-only folder", "output folder", train(good, locked / "t"), RunDirError, ["locked", "writ"]
        )
    a_file = root / "a_file.txt"
    a_file.write_text("not a folder")
    add("--out below a file (predict)", "output folder", predict(images, a_file / "p"), RunDirError, ["a_file.txt"])
    add("--out below a file (train)", "output folder", train(good, a_file / "t"), RunDirError, ["a_file.txt"])
    add("--out is a file", "output folder", predict(images, a_file), RunDirError, ["a_file.txt"])

    # ------------------------------------------------------------------ interruption
    resumed = root / "resumed"
    shutil.copytree(_predict_once(run, images, root / "first"), resumed)
    progress = resumed / ".progress"
    rows = sorted(progress.iterdir())
    rows[0].write_text(rows[0].read_text()[: len(rows[0].read_text()) // 2])
    rows[1].write_text("[1, 2, 3]")
    add(
        "predict --resume after progress files were cut short",
        "interruption",
        predict(images, resumed, "--resume"),
        None,
        ["2 images"],
        ok=True,
        output=resumed,
        verify=lambda: (
            None
            if len(_csv_rows(resumed / "measurements.csv")) == 2
            and all(r["filename"] for r in _csv_rows(resumed / "measurements.csv"))
            else "measurements.csv lacks the images whose progress was cut"
        ),
    )
    cut_run = spoiled_run(
        "resume_cut",
        lambda c: (c / "checkpoints" / "last.pt").write_bytes((run / "checkpoints" / "last.pt").read_bytes()[:2000]),
    )
    add(
        "train --resume from a last.pt cut short",
        "interruption",
        ["train", "demo", "--data", str(hc18), "--out", str(cut_run), "--resume"],
        RunDirError,
        ["last.pt"],
    )
    no_last = spoiled_run("resume_no_last", lambda c: (c / "checkpoints" / "last.pt").unlink())
    add(
        "train --resume without last.pt",
        "interruption",
        ["train", "demo", "--data", str(hc18), "--out", str(no_last), "--resume"],
        RunDirError,
        ["last.pt"],
    )
    history_cut = spoiled_run("resume_history", lambda c: (c / "history.csv").write_text("epoch,tra"))
    add(
        "train --resume with history.csv cut short",
        "interruption",
        ["train", "demo", "--data", str(hc18), "--out", str(history_cut), "--resume"],
        RunDirError,
        ["history.csv"],
    )

    # ------------------------------------------------------------------ CLI
    for port in ("70000", "-1"):
        add(f"serve --port {port}", "CLI", ["serve", str(run), "--port", port], ConfigError, ["--port"])
    for value in ("nan", "-1", "0", "inf"):
        add(
            f"serve --max-upload-mb {value}",
            "CLI",
            ["serve", str(run), "--max-upload-mb", value],
            ConfigError,
            ["--max-upload-mb"],
        )
    add("serve --threads 0", "CLI", ["serve", str(run), "--threads", "0"], ConfigError, ["--threads"])
    add("serve --scales 0,1", "CLI", ["serve", str(run), "--scales", "0,1"], ConfigError, ["--scales"])
    for value in ("nan", "1.5", "0"):
        add(
            f"evaluate --qc-share {value}",
            "CLI",
            ["evaluate", str(run), "--data", str(hc18), "--qc", "--qc-share", value],
            ConfigError,
            ["--qc-share"],
        )
    add(
        "evaluate --scales abc",
        "CLI",
        ["evaluate", str(run), "--data", str(hc18), "--scales", "abc"],
        ConfigError,
        ["--scales"],
    )
    add(
        "evaluate --checkpoint worst",
        "CLI",
        ["evaluate", str(run), "--data", str(hc18), "--checkpoint", "worst"],
        RunDirError,
        ["worst"],
    )
    for option, value in (("--batch-size", "0"), ("--threads", "0"), ("--batch-size", "-2")):
        add(f"predict {option} {value}", "CLI", predict(images, out("p"), option, value), ConfigError, [option])
    add("check --layout nope", "CLI", ["check", str(good), "--layout", "nope"], None, ["nope", "'hc18'"], usage=True)
    add(
        "check --option without =",
        "CLI",
        ["check", str(good), "--layout", "folder", "--option", "color"],
        ConfigError,
        ["color"],
    )
    add(
        "check --classes 1",
        "CLI",
        ["check", str(good), "--layout", "folder", "--classes", "1"],
        ConfigError,
        ["--classes"],
    )
    add(
        "check --max-pixels 0",
        "CLI",
        ["check", str(good), "--layout", "folder", "--max-pixels", "0"],
        ConfigError,
        ["--max-pixels"],
    )
    add("predict a missing input", "CLI", predict(root / "nowhere", out("p")), DataError, ["nowhere"])
    add(
        "predict with a missing run", "CLI", predict(images, out("p"), run_dir=root / "no_run"), RunDirError, ["no_run"]
    )

    # ------------------------------------------------------------------ report
    def split_shape(copy: Path) -> None:
        (copy / "split.json").write_text(json.dumps(["a", "b"]))

    def split_names(copy: Path) -> None:
        (copy / "split.json").write_text(json.dumps({"train": "all", "val": 3, "test": None}))

    for name, spoil in (("a list", split_shape), ("wrong types", split_names)):
        copy = spoiled_run(f"split_{name.replace(' ', '_')}", spoil)
        add(
            f"split.json of {name} (evaluate)",
            "report",
            ["evaluate", str(copy), "--data", str(hc18)],
            RunDirError,
            ["split.json"],
        )
        add(
            f"split.json of {name} (report)",
            "report",
            ["report", str(copy), "--out", str(out("r") / "r.html")],
            RunDirError,
            ["split.json"],
        )
    evaluated = root / "evaluated"
    shutil.copytree(run, evaluated, ignore=shutil.ignore_patterns("tensorboard"))
    metrics = evaluated / "evaluation" / "test"
    metrics.mkdir(parents=True, exist_ok=True)
    (metrics / "metrics.json").write_text(json.dumps({"dice": "high", "iou": [1, 2], "n": {"x": 1}}))
    add(
        "metrics.json with wrong types (report)",
        "report",
        ["report", str(evaluated), "--out", str(out("r") / "r.html")],
        RunDirError,
        ["metrics.json"],
    )
    add(
        "metrics.json with wrong types (compare)",
        "report",
        ["compare", str(evaluated), str(run), "--out", str(out("r") / "c.html")],
        RunDirError,
        ["metrics.json"],
    )
    list_metrics = root / "evaluated_list"
    shutil.copytree(evaluated, list_metrics)
    (list_metrics / "evaluation" / "test" / "metrics.json").write_text("[1, 2]")
    add(
        "metrics.json a list (report)",
        "report",
        ["report", str(list_metrics), "--out", str(out("r") / "r.html")],
        RunDirError,
        ["metrics.json"],
    )
    history = spoiled_run("history_junk", lambda c: (c / "history.csv").write_bytes(b"\xff\xfe\0junk"))
    add(
        "history.csv of junk (report)",
        "report",
        ["report", str(history), "--out", str(out("r") / "r.html")],
        RunDirError,
        ["history.csv"],
    )
    run_json = spoiled_run("run_json_junk", lambda c: (c / "run.json").write_text("{"))
    add(
        "run.json not JSON (report)",
        "report",
        ["report", str(run_json), "--out", str(out("r") / "r.html")],
        RunDirError,
        ["run.json"],
    )

    # ------------------------------------------------------------------ serve
    bad += _serve_cases(root, pixels, volume, sheared)
    return bad


def _export(run: Path, target: Path) -> bool:
    try:
        from medseg.inference.export import export_onnx

        export_onnx(run, target)
    except (ImportError, MedsegError):
        return False
    return target.is_file()


def _predict_once(run: Path, images: Path, out: Path) -> Path:
    """A finished prediction into ``out`` whose per-image progress rows are put back, as if interrupted."""
    from medseg.experiments.predict import predict_run
    from medseg.experiments.rundir import read_marker, write_marker

    predict_run(run, images, out)
    progress = out / ".progress"
    progress.mkdir()
    for row in _csv_rows(out / "measurements.csv"):
        (progress / f"{row['filename']}.json").write_text(json.dumps([row]))
    (out / "measurements.csv").unlink()
    marker = read_marker(out) or {}
    write_marker(
        out, marker.get("kind", "predict"), False, {k: v for k, v in marker.items() if k not in ("kind", "complete")}
    )
    return out


def _serve_cases(root: Path, pixels: np.ndarray, volume: np.ndarray, sheared: np.ndarray) -> list[Bad]:
    def upload(name: str, data: bytes, status: int, words: list[str], **form: str) -> Callable[[Any], str | None]:
        def send(client: Any) -> str | None:
            answer = client.post("/api/predict", files={"file": (name, data)}, data=form)
            if answer.status_code != status:
                return f"HTTP {answer.status_code}, expected {status}: {answer.text[:200]}"
            detail = answer.json().get("detail", "") if status >= 400 else json.dumps(answer.json())
            missing = [w for w in words if w not in detail]
            return f"answer does not name {missing}: {detail[:200]}" if missing else None

        return send

    def dicom_bytes(spacing: tuple[str, str] | None, **extra: Any) -> bytes:
        path = dicom_image(root / "serve_tmp.dcm", pixels, spacing, **extra)
        data = path.read_bytes()
        path.unlink()
        return data

    def nifti_bytes(data: np.ndarray, affine: np.ndarray | None, zooms: tuple[float, ...] | None = None) -> bytes:
        image = nib.Nifti1Image(data, affine)
        if zooms is not None:
            image.header["pixdim"][1:4] = zooms
        return image.to_bytes()

    good_png = cv2.imencode(".png", (pixels // 4).astype(np.uint8))[1].tobytes()
    slope_abc = dicom_bytes(("0.1", "0.1"), RescaleSlope="9.9", RescaleIntercept="0").replace(b"9.9 ", b"abc ")
    cases = [
        ("DICOM upload with a negative PixelSpacing", "us.dcm", dicom_bytes(("-0.1", "-0.1")), 400, ["spacing"], {}),
        ("DICOM upload with PixelSpacing 0", "us.dcm", dicom_bytes(("0", "0")), 400, ["spacing"], {}),
        ("DICOM upload with RescaleSlope 'abc'", "us.dcm", slope_abc, 400, ["RescaleSlope"], {}),
        ("pixel_size_mm nan", "a.png", good_png, 400, ["pixel_size_mm"], {"pixel_size_mm": "nan"}),
        ("pixel_size_mm -1", "a.png", good_png, 400, ["pixel_size_mm"], {"pixel_size_mm": "-1"}),
        ("pixel_size_mm inf", "a.png", good_png, 400, ["pixel_size_mm"], {"pixel_size_mm": "inf"}),
        ("pixel_size_mm abc", "a.png", good_png, 400, ["pixel_size_mm"], {"pixel_size_mm": "abc"}),
        ("empty upload", "a.png", b"", 400, [], {}),
        ("junk named .png", "a.png", b"junk" * 50, 400, [], {}),
        ("WebP upload", "a.webp", cv2.imencode(".webp", pixels.astype(np.uint8))[1].tobytes(), 400, [], {}),
        ("NIfTI upload with pixdim 0", "v.nii", nifti_bytes(volume, None, (0.8, 0.0, 2.5)), 400, ["voxel size"], {}),
        ("NIfTI upload with a sheared affine", "v.nii", nifti_bytes(volume, sheared), 400, ["shear"], {}),
        ("NIfTI upload truncated", "v.nii", nifti_bytes(volume, np.eye(4))[:400], 400, [], {}),
        ("PNG bomb upload", "big.png", _bomb_bytes(), 413, [], {}),
    ]
    bad = [
        Bad(f"serve: {name}", "serve", [], None, [], serve=upload(file, data, status, words, **form))
        for name, file, data, status, words, form in cases
    ]
    bad.append(
        Bad(
            "serve: a good PNG with its pixel size measured in mm",
            "serve",
            [],
            None,
            [],
            serve=upload("a.png", good_png, 200, ['"units": "mm"'], pixel_size_mm="0.2"),
        )
    )

    def no_file(client: Any) -> str | None:
        answer = client.post("/api/predict", data={"pixel_size_mm": "0.1"})
        return None if answer.status_code == 400 else f"HTTP {answer.status_code}, expected 400"

    bad.append(Bad("serve: no file in the form", "serve", [], None, [], serve=no_file))
    return bad


def _bomb_bytes() -> bytes:
    from .bad_inputs import _png_bomb_bytes

    return _png_bomb_bytes(9000)
