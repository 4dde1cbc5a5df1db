"""Shared fixtures: small synthetic datasets and one tiny trained run reused by several tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

os.environ.setdefault("OMP_NUM_THREADS", "1")

# Property tests draw the same examples on every run: a red CI is then reproducible, never luck.
settings.register_profile("medseg", derandomize=True, deadline=None, print_blob=True)
settings.load_profile("medseg")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

TINY_OVERRIDES = [
    "data.image_size=[48,64]",
    "model.params.channels=[4,8,16]",
    "train.epochs=2",
    "train.batch_size=4",
    "train.threads=1",
    "postprocess.fit_ellipse=true",
]


def shared_dataset(name: str) -> Path:
    """Path of a real dataset, skipping the test when it is absent."""
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"real dataset {name} not present at {path}")
    return path


@pytest.fixture(scope="session")
def hc18_synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic dataset in the HC18 layout (~16 images of 96x128)."""
    from medseg.data.phantoms.fetal_head import write_fetal_head_dataset

    return write_fetal_head_dataset(tmp_path_factory.mktemp("hc18"), n_subjects=12, shape=(96, 128), seed=1)


@pytest.fixture(scope="session")
def tiny_run(hc18_synthetic: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run directory trained for two epochs with a tiny U-Net."""
    from medseg.config import load_config
    from medseg.experiments.train import train_run

    run_dir = tmp_path_factory.mktemp("runs") / "tiny"
    config = load_config("demo", TINY_OVERRIDES)
    train_run(config, hc18_synthetic, run_dir)
    return run_dir


# A run of a few hundred milliseconds per epoch on one CPU thread.
TINY = [
    "data.image_size=[32,48]",
    "model.params.channels=[4,8,16]",
    "train.epochs=2",
    "train.batch_size=2",
    "train.threads=1",
    "train.max_minutes=null",
    "postprocess.fit_ellipse=false",
]

# No randomness outside the seeded data order: batch norm off, no augmentation.
DETERMINISTIC = [
    "model.params.batch_norm=false",
    "augment.flip=false",
    "augment.rotate_deg=0",
    "augment.scale=0",
    "augment.intensity=0",
    "augment.noise=0",
]


@pytest.fixture(scope="session")
def fetal_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10 synthetic subjects (12-13 images of 64x96) in the HC18 layout."""
    from medseg.data.phantoms.fetal_head import write_fetal_head_dataset

    return write_fetal_head_dataset(tmp_path_factory.mktemp("fetal"), n_subjects=10, shape=(64, 96))


@pytest.fixture
def write_toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``write(name, source)`` writes module ``name.py`` into a folder on ``sys.path`` (not imported yet);
    every module written is forgotten after the test."""
    import importlib
    import sys
    import textwrap

    folder = tmp_path / "toys"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    written: list[str] = []

    def write(name: str, source: str) -> str:
        (folder / f"{name}.py").write_text(textwrap.dedent(source))
        importlib.invalidate_caches()
        written.append(name)
        return name

    yield write
    for name in written:
        sys.modules.pop(name, None)
