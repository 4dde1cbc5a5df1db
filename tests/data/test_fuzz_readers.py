"""Readers under random bytes and random values raise only medseg's own errors (bounded fuzzing)."""

import contextlib
import struct
import zlib

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medseg.config import config_from_dict
from medseg.data.io import read_image, read_mask
from medseg.data.readers.hc18 import read_pixel_size_csv
from medseg.data.readers.nifti import read_lits
from medseg.errors import MedsegError

FUZZ = settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)


def _png(width: int, height: int, payload: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(payload)) + chunk(b"IEND", b"")


def _only_medseg_errors(call) -> None:
    """Runs ``call``; any exception other than a MedsegError fails the test."""
    with contextlib.suppress(MedsegError):
        call()


@FUZZ
@given(data=st.binary(max_size=300), suffix=st.sampled_from([".png", ".jpg", ".bmp", ".tif"]))
def test_random_bytes_as_images(tmp_path, data, suffix):
    path = tmp_path / f"x{suffix}"
    path.write_bytes(data)
    _only_medseg_errors(lambda: read_image(path))
    _only_medseg_errors(lambda: read_mask(path, palette={1: [255, 0, 0]}))


@FUZZ
@given(
    width=st.integers(0, 2**31 - 1),
    height=st.integers(0, 2**31 - 1),
    payload=st.binary(max_size=200),
)
def test_png_headers_with_any_size(tmp_path, width, height, payload):
    path = tmp_path / "h.png"
    path.write_bytes(_png(width, height, payload))
    _only_medseg_errors(lambda: read_image(path, max_pixels=10_000))


@FUZZ
@given(text=st.text(alphabet=st.sampled_from("ab.png,0123456789-e.naifINF\n \"'"), max_size=120))
def test_pixel_size_csv_text(tmp_path, text):
    path = tmp_path / "sizes.csv"
    path.write_text("filename,pixel size(mm)\n" + text)
    _only_medseg_errors(lambda: read_pixel_size_csv(path))


@FUZZ
@given(data=st.binary(min_size=0, max_size=600), keep=st.integers(0, 700))
def test_damaged_nifti_files(tmp_path, data, keep):
    import nibabel as nib

    root = tmp_path / "lits"
    root.mkdir(exist_ok=True)
    good = nib.Nifti1Image(np.arange(4 * 4 * 3, dtype=np.int16).reshape(4, 4, 3), np.eye(4))
    nib.save(good, str(root / "segmentation-0.nii"))
    raw = (root / "segmentation-0.nii").read_bytes()
    (root / "volume-0.nii").write_bytes(raw[:keep] + data)
    _only_medseg_errors(lambda: read_lits(root))


_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.lists(st.integers(-3, 300), max_size=3),
)


@FUZZ
@given(
    section=st.sampled_from(["data", "train", "augment", "model", "eval", "postprocess"]),
    key=st.sampled_from(
        [
            "epochs",
            "batch_size",
            "lr",
            "image_size",
            "val_fraction",
            "device",
            "normalize",
            "monitor",
            "prob",
            "name",
            "channels",
            "num_classes",
            "max_pixels",
            "window",
            "crop",
            "hausdorff_percentile",
            "params",
        ]
    ),
    value=_VALUES,
)
def test_config_values(section, key, value):
    _only_medseg_errors(lambda: config_from_dict({section: {key: value}}))
