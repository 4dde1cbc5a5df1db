"""Fixtures for the training tests: a small synthetic HC18-layout dataset and tiny-run overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

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
    from medseg.data.synthetic import write_fetal_head_dataset

    return write_fetal_head_dataset(tmp_path_factory.mktemp("fetal"), n_subjects=10, shape=(64, 96))
