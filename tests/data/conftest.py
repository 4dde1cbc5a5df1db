"""Phantom datasets in each native layout (written once per session) and the real-data locator."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..conftest import shared_dataset as real_dataset  # noqa: F401 - re-exported for the data tests


@pytest.fixture(scope="session")
def lits_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from medseg.data.phantoms import write_lits_dataset

    return write_lits_dataset(tmp_path_factory.mktemp("lits"), n_volumes=3, shape=(12, 48, 56), seed=2)


@pytest.fixture(scope="session")
def msd_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from medseg.data.phantoms import write_msd_dataset

    return write_msd_dataset(tmp_path_factory.mktemp("msd"), n_train=2, n_test=1, shape=(10, 40, 48), seed=3)


@pytest.fixture(scope="session")
def ircadb_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from medseg.data.phantoms import write_ircadb_patient

    root = tmp_path_factory.mktemp("ircadb")
    write_ircadb_patient(root, number=1, shape=(12, 48, 48), seed=4)
    write_ircadb_patient(root, number=2, shape=(10, 40, 40), seed=5)
    return root


@pytest.fixture(scope="session")
def dicom_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two volumes in the ``dicom`` layout: ``<volume>/image/`` + ``<volume>/mask/`` (mask 0/255)."""
    import numpy as np

    from medseg.data.phantoms import liver_phantom, write_dicom_series

    root = tmp_path_factory.mktemp("dicom")
    rng = np.random.default_rng(6)
    for name in ("patientA", "patientB"):
        hu, labels = liver_phantom(rng, (8, 40, 48))
        write_dicom_series(root / name / "image", hu, (2.0, 0.7, 0.7), (-20.0, -15.0, 30.0))
        write_dicom_series(root / name / "mask", (labels > 0) * 255, (2.0, 0.7, 0.7), (-20.0, -15.0, 30.0), 0, seed=1)
    return root


@pytest.fixture(scope="session")
def kvasir_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from medseg.data.phantoms import write_kvasir_dataset

    return write_kvasir_dataset(tmp_path_factory.mktemp("kvasir"), n_images=6, seed=7)


@pytest.fixture(scope="session")
def cvc_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from medseg.data.phantoms import write_cvc_dataset

    return write_cvc_dataset(tmp_path_factory.mktemp("cvc"), frames_per_sequence=(4, 3, 5, 2), layout="tiff", seed=8)


@pytest.fixture(scope="session")
def lidc_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from medseg.data.phantoms import write_lidc_export

    return write_lidc_export(tmp_path_factory.mktemp("lidc"), n_patients=3, size=96, seed=9)


@pytest.fixture(scope="session")
def bone_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from medseg.data.phantoms import write_bone_scan_dataset

    return write_bone_scan_dataset(tmp_path_factory.mktemp("bone"), n_patients=4, shape=(128, 48), seed=10)


@pytest.fixture(scope="session")
def nnunet_root(kvasir_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Kvasir phantom exported as an nnU-Net raw dataset."""
    from medseg.data.converters.nnunet import export_nnunet
    from medseg.data.readers import read_dataset

    out = tmp_path_factory.mktemp("nnunet") / "Dataset501_Polyp"
    return export_nnunet(read_dataset("kvasir", kvasir_root), out, ["background", "polyp"])
