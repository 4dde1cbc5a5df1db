"""Command-line conventions: -h, --version, enumerated choices, layout recognition, single-file predict."""

from __future__ import annotations

import csv
import json
import shutil

import pytest
from typer.testing import CliRunner

from medseg.cli import app
from medseg.cli.choices import Layout

runner = CliRunner()


def test_short_help_and_version():
    from medseg import __version__

    assert runner.invoke(app, ["-h"]).exit_code == 0
    result = runner.invoke(app, ["predict", "-h"])
    assert result.exit_code == 0 and "--pixel-size" in result.output
    version = runner.invoke(app, ["--version"])
    assert version.exit_code == 0 and version.output.strip() == f"medseg {__version__}"


@pytest.mark.parametrize(
    ("command", "shown"),
    [
        ("predict", ["auto|onnx|torch", "best|last|FILE.pt"]),
        ("evaluate", ["test|val|train|all", "best|last|FILE.pt"]),
        ("serve", ["auto|onnx|torch", "best|last|FILE.pt"]),
        ("export", ["best|last|FILE.pt"]),
        ("average", ["best|last|FILE.pt"]),
        ("report", ["test|val|train|all"]),
        ("check", ["hc18|"]),
        ("convert", ["ircadb|dicom|nnunet"]),
    ],
)
def test_enumerated_options_show_their_values(command, shown):
    result = runner.invoke(app, [command, "-h"], env={"COLUMNS": "240"})
    assert result.exit_code == 0
    text = "".join(result.output.split())  # rich may wrap a long choice list
    for values in shown:
        assert values in text, (command, values)


def test_enumerated_options_refuse_other_values(tmp_path):
    result = runner.invoke(app, ["predict", str(tmp_path), str(tmp_path), "--out", "o", "--backend", "tensorrt"])
    assert result.exit_code == 2 and "'tensorrt' is not one of" in result.output
    result = runner.invoke(app, ["check", str(tmp_path), "--layout", "png"])
    assert result.exit_code == 2 and "'png' is not one of" in result.output


def test_layout_choices_are_the_readers():
    from medseg.data.readers import READERS

    assert sorted(layout.value for layout in Layout) == sorted(READERS.names())


def _nnunet(root):
    (root / "imagesTr").mkdir(parents=True)
    (root / "dataset.json").write_text(json.dumps({"channel_names": {"0": "CT"}, "file_ending": ".nii.gz"}))
    return root


def test_layouts_are_recognised(tmp_path, hc18_synthetic):
    from medseg.data.phantoms.bone_scan import write_bone_scan_dataset
    from medseg.data.phantoms.ct import write_msd_dataset
    from medseg.data.phantoms.endoscopy import write_cvc_dataset, write_kvasir_dataset
    from medseg.data.phantoms.lung import write_lidc_export
    from medseg.data.readers.detect import detect_layout
    from medseg.errors import DataError

    folder = tmp_path / "folder"
    shutil.copytree(write_kvasir_dataset(tmp_path / "kvasir", n_images=2), folder)
    (folder / "kavsir_bboxes.json").unlink(missing_ok=True)
    (tmp_path / "kvasir" / "kavsir_bboxes.json").write_text("{}")
    expected = {
        "hc18": hc18_synthetic,
        "kvasir": tmp_path / "kvasir",
        "cvc_clinicdb": write_cvc_dataset(tmp_path / "cvc", frames_per_sequence=(2,)),
        "folder": folder,
        "bone_scan": write_bone_scan_dataset(tmp_path / "bone", n_patients=1, shape=(64, 32)),
        "lidc": write_lidc_export(tmp_path / "lidc", n_patients=1, size=32),
        "msd": write_msd_dataset(tmp_path / "msd", n_train=1, n_test=0),
        "nnunet": _nnunet(tmp_path / "nnunet"),
    }
    for layout, root in expected.items():
        assert detect_layout(root) == layout, layout
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="--layout"):
        detect_layout(tmp_path / "empty")


def test_check_recognises_the_layout_and_counts_one_problem(hc18_synthetic, tmp_path):
    result = runner.invoke(app, ["check", str(hc18_synthetic)])
    assert result.exit_code == 0, result.output
    assert "layout: hc18" in result.output and "0 problems" in result.output
    broken = tmp_path / "hc18"
    shutil.copytree(hc18_synthetic, broken)
    next((broken / "training_set").glob("*_Annotation.png")).write_bytes(b"not a png")
    result = runner.invoke(app, ["check", str(broken), "--layout", "hc18"])
    assert result.exit_code == 1 and "1 problem " in result.output and "layout: hc18 (recognised" not in result.output


def test_predict_a_single_image(tiny_run, hc18_synthetic, tmp_path):
    image = sorted((hc18_synthetic / "test_set").glob("*.png"))[0]
    result = runner.invoke(app, ["predict", str(tiny_run), str(image), "--out", str(tmp_path / "one")])
    assert result.exit_code == 0, result.output
    with (tmp_path / "one" / "measurements.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["filename"] for row in rows] == [image.name]
    assert (tmp_path / "one" / "masks" / image.name).is_file()


@pytest.mark.parametrize("command", ["train", "cv", "search"])
def test_set_overrides_the_config(command, tmp_path):
    base = [command, "demo", "--data", str(tmp_path), "--out", str(tmp_path / "out")]
    result = runner.invoke(app, [*base, "--set", "train.no_such_key=1"])
    assert result.exit_code == 2 and "No such option" not in result.output
    assert "no_such_key" in result.output
    if command != "search":  # the older positional form still works, undocumented
        result = runner.invoke(app, [*base, "train.no_such_key=1"])
        assert result.exit_code == 2 and "no_such_key" in result.output
