"""An exported copy of the shared tiny run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def exported_run(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of ``tiny_run`` with ``model.onnx`` and ``model.json`` exported from its best checkpoint."""
    from medseg.inference.export import export_onnx

    run_dir = tmp_path_factory.mktemp("exported") / "run"
    shutil.copytree(tiny_run, run_dir)
    export_onnx(run_dir)
    return run_dir
