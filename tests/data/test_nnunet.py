"""nnU-Net v2 raw datasets: export medseg cases, import them back, import 3D NIfTI datasets."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from medseg.data.converters.nnunet import export_nnunet
from medseg.data.readers import read_dataset
from medseg.data.readers.nnunet import read_nnunet_dataset
from medseg.errors import DataError


def test_rgb_round_trip(kvasir_root, nnunet_root):
    original = read_dataset("kvasir", kvasir_root)
    info = json.loads((nnunet_root / "dataset.json").read_text())
    assert info["channel_names"] == {"0": "R", "1": "G", "2": "B"}
    assert info["labels"] == {"background": 0, "polyp": 1}
    assert info["numTraining"] == 6 and info["file_ending"] == ".png"
    assert len(list((nnunet_root / "imagesTr").glob("*_0000.png"))) == 6
    back = read_dataset("nnunet", nnunet_root)
    assert [c.id for c in back] == sorted(c.id for c in original)
    by_id = {c.id: c for c in original}
    for case in back:
        np.testing.assert_array_equal(case.image, by_id[case.id].image)
        np.testing.assert_array_equal(case.mask, by_id[case.id].mask)
        assert case.group == by_id[case.id].group and case.meta["class_names"] == ["background", "polyp"]


def test_ct_slices_round_trip_as_nifti(tmp_path, lits_root):
    cases = read_dataset("nifti", lits_root, volumes=[1], stride=3)
    unlabelled = read_dataset("nifti", lits_root, volumes=[2], stride=6, require_masks=False)
    unlabelled = [type(c)(c.id, c.image, None, c.meta, c.source) for c in unlabelled]
    out = export_nnunet(cases + unlabelled, tmp_path / "Dataset502_Liver", ["background", "liver", "tumour"])
    info = json.loads((out / "dataset.json").read_text())
    assert info["file_ending"] == ".nii.gz" and info["numTraining"] == len(cases)
    assert len(list((out / "imagesTs").iterdir())) == len(unlabelled)
    back = read_nnunet_dataset(out)
    assert [c.id for c in back] == sorted(c.id for c in cases)
    by_id = {c.id: c for c in cases}
    for case in back:
        np.testing.assert_array_equal(case.image, by_id[case.id].image)
        np.testing.assert_array_equal(case.mask, by_id[case.id].mask)
        assert case.spacing_mm == pytest.approx(by_id[case.id].spacing_mm)
        assert case.group == "volume-1"
        # The one-slice file keeps the slice's place in its volume.
        assert case.meta["slice_position_mm"] == pytest.approx(by_id[case.id].meta["slice_position_mm"])
    test = read_nnunet_dataset(out, subset="test")
    assert len(test) == len(unlabelled) and test[0].mask is None


def test_imports_a_3d_nifti_dataset(tmp_path, msd_root):
    root = tmp_path / "Dataset003_Liver"
    for index in range(2):
        (root / "imagesTr").mkdir(parents=True, exist_ok=True)
        (root / "labelsTr").mkdir(parents=True, exist_ok=True)
        shutil.copy(
            msd_root / "imagesTr" / f"liver_{index}.nii.gz", root / "imagesTr" / f"liver_{index:03d}_0000.nii.gz"
        )
        shutil.copy(msd_root / "labelsTr" / f"liver_{index}.nii.gz", root / "labelsTr" / f"liver_{index:03d}.nii.gz")
    dataset = {"channel_names": {"0": "CT"}, "labels": {"background": 0, "liver": 1, "tumour": 2}}
    (root / "dataset.json").write_text(json.dumps({**dataset, "numTraining": 2, "file_ending": ".nii.gz"}))
    cases = read_dataset("nnunet", root, empty_fraction=0.0)
    msd = read_dataset("msd", msd_root, empty_fraction=0.0)
    assert len(cases) == len(msd) and cases[0].id == "liver_000_z" + msd[0].id.split("_z")[1]
    np.testing.assert_array_equal(cases[0].image, msd[0].image)
    assert {c.group for c in cases} == {"liver_000", "liver_001"}


def test_dataset_json_errors(tmp_path):
    with pytest.raises(DataError, match="dataset.json not found"):
        read_nnunet_dataset(tmp_path)
    (tmp_path / "dataset.json").write_text(json.dumps({"channel_names": {"0": "CT"}, "labels": {"background": 0}}))
    with pytest.raises(DataError, match="file_ending"):
        read_nnunet_dataset(tmp_path)
    info = {"channel_names": {"0": "CT"}, "labels": {"background": 0, "whole": [1, 2]}, "file_ending": ".png"}
    (tmp_path / "dataset.json").write_text(json.dumps(info))
    with pytest.raises(DataError, match="region-based"):
        read_nnunet_dataset(tmp_path)


def test_export_argument_errors(kvasir_root, tmp_path):
    cases = read_dataset("kvasir", kvasir_root, limit=2)
    with pytest.raises(ValueError, match="background"):
        export_nnunet(cases, tmp_path / "a", {"polyp": 1})
    with pytest.raises(ValueError, match="not in labels"):
        export_nnunet(cases, tmp_path / "b", ["background"])
    with pytest.raises(ValueError, match="no cases"):
        export_nnunet([], tmp_path / "c", ["background", "polyp"])


def test_cli_convert_to_nnunet(bone_root, tmp_path):
    from medseg.cli import app

    out = tmp_path / "Dataset600_Bone"
    args = ["convert", "nnunet", str(bone_root), str(out), "--layout", "bone_scan", "--option", "view=anterior"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    info = json.loads((out / "dataset.json").read_text())
    assert info["labels"] == {"background": 0, "bone": 1, "normal_uptake": 2, "hotspot": 3}
    back = read_dataset("nnunet", out)
    assert len(back) == 4 and back[0].image.dtype == np.uint16 and back[0].group == "P000"
    bad = CliRunner().invoke(app, ["convert", "nnunet", str(bone_root), str(tmp_path / "x")])
    assert bad.exit_code == 2 and "--layout" in bad.output
    unknown = CliRunner().invoke(app, ["convert", "bogus", str(bone_root), str(tmp_path / "y")])
    assert unknown.exit_code == 2 and "'bogus' is not one of" in unknown.output
