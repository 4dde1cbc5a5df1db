"""Names read from a model (checkpoint config, exported ``model.json``) never become paths: whatever the
class names, ``medseg predict`` writes inside its output folder only and ends cleanly (fuzzed)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from medseg.cli import app

# separators, parent references, NUL, control characters, unicode, very long names; half of them
# named like a lesion so that the lesion table (named after the class) is written
_PIECES = st.sampled_from(["/", "..", "\\", "\x00", "\n", "~", ".", "é", "肝", "/tmp/x", "../../", " "])
_TEXT = st.lists(st.one_of(_PIECES, st.text(max_size=8)), max_size=6).map("".join)
CLASS_NAMES = st.one_of(
    _TEXT,
    _TEXT.map(lambda s: s + "tumour"),
    _TEXT.map(lambda s: "tumour" + s),
    st.text(min_size=60, max_size=300).map(lambda s: s + "lesion"),
)
FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _snapshot(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def _volume(folder: Path) -> Path:
    data = np.random.default_rng(0).integers(-200, 200, (24, 24, 2)).astype(np.int16)
    path = folder / "input" / "case.nii.gz"
    path.parent.mkdir(parents=True)
    nib.save(nib.Nifti1Image(data, np.diag([0.8, 0.8, 2.5, 1.0])), str(path))
    return path


def _check_predict(base: Path, model: Path, extra: list[str]) -> None:
    """Predicts a small volume with ``model``; only ``base/out`` may change, and no traceback."""
    volume = _volume(base)
    before = _snapshot(base)
    result = CliRunner().invoke(app, ["predict", str(model), str(volume), "--out", str(base / "out"), *extra])
    after = {name for name in _snapshot(base) if not (name == "out" or name.startswith("out/"))}
    assert after == before, sorted(after ^ before)
    assert "Traceback" not in result.output
    assert result.exit_code in (0, 2), (result.exit_code, result.output, result.exception)
    if result.exit_code == 2:
        assert "data.class_names" in result.output, result.output
    else:
        assert (base / "out" / "volumes.csv").is_file()


@FUZZ
@given(name=CLASS_NAMES)
def test_checkpoint_class_names_never_leave_the_output(tiny_run: Path, name: str) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch) / "work"
        run = base / "run"
        shutil.copytree(tiny_run, run)
        path = run / "checkpoints" / "best.pt"
        state = torch.load(path, map_location="cpu", weights_only=True)
        state["config"]["data"]["class_names"] = ["background", name]
        torch.save(state, path)
        _check_predict(base, run, [])


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=CLASS_NAMES)
def test_exported_class_names_never_leave_the_output(exported_run: Path, name: str) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch) / "work"
        (base / "model").mkdir(parents=True)
        exported = exported_run / "model.onnx"
        shutil.copy(exported, base / "model" / "model.onnx")
        settings_json = json.loads(exported.with_suffix(".json").read_text())
        settings_json["config"]["data"]["class_names"] = ["background", name]
        (base / "model" / "model.json").write_text(json.dumps(settings_json))
        _check_predict(base, base / "model" / "model.onnx", ["--backend", "onnx"])
