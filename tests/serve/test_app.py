"""The JSON API and the page through FastAPI's TestClient: bad uploads, concurrency, formats."""

from __future__ import annotations

import base64
import gzip
import io
from concurrent.futures import ThreadPoolExecutor

import cv2
import nibabel as nib
import numpy as np
import pytest
from fastapi.testclient import TestClient

from medseg.serve import create_app

from .conftest import phantom_png


@pytest.fixture(scope="module")
def client(served_predictor):
    with TestClient(create_app(served_predictor, max_upload_mb=0.2, name="fetal")) as test_client:
        yield test_client


def _post(client, data: bytes, name: str = "head.png", kind: str = "image/png", **form):
    return client.post("/api/predict", files={"file": (name, data, kind)}, data=form)


def _assert_serving(client) -> None:
    image, _ = phantom_png(0)
    response = _post(client, image)
    assert response.status_code == 200, response.text
    assert client.get("/healthz").json() == {"status": "ok"}


def test_model_health_and_openapi(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    model = client.get("/api/model").json()
    assert model["class_names"] == ["background", "head"] and model["measurements"] == ["head_circumference"]
    assert "ONNX Runtime" in model["backend"]
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/predict", "/api/model", "/healthz"} <= set(paths)


def test_prediction_matches_the_predictor_and_uses_the_pixel_size(client, served_predictor):
    image, true_hc_px = phantom_png(3)
    result = _post(client, image, pixel_size_mm="0.15").json()
    expected = served_predictor.predict(cv2.imdecode(np.frombuffer(image, np.uint8), cv2.IMREAD_GRAYSCALE))
    assert result["units"] == "mm" and result["pixel_size_source"] == "form"
    assert result["measurements"]["area_head_mm2"] == pytest.approx(expected.mask.sum() * 0.15**2)
    assert result["measurements"]["hc_mm"] == pytest.approx(true_hc_px * 0.15, rel=0.1)
    mask = cv2.imdecode(np.frombuffer(base64.b64decode(result["mask_png"]), np.uint8), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(mask, expected.mask * 255)
    overlay = cv2.imdecode(np.frombuffer(base64.b64decode(result["overlay_png"]), np.uint8), cv2.IMREAD_COLOR)
    assert overlay.shape == (64, 96, 3)
    in_pixels = _post(client, image).json()
    assert in_pixels["units"] == "px" and in_pixels["pixel_size_mm"] is None
    assert in_pixels["measurements"]["hc_px"] == pytest.approx(true_hc_px, rel=0.1)


@pytest.mark.parametrize(
    ("name", "data", "status", "message"),
    [
        ("empty.png", b"", 400, "the file is empty"),
        ("head.png", b"hello, this is text and not a picture\n" * 3, 400, "not a PNG, JPEG, TIFF, DICOM"),
        ("head.gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", 400, "not a PNG, JPEG, TIFF, DICOM"),
        ("report.pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", 400, "not a PNG, JPEG, TIFF, DICOM"),
        ("scan.dcm", b"\x00" * 128 + b"DICM" + b"\x02\x00\x00\x00UL", 400, "corrupt DICOM"),
        ("volume.nii.gz", gzip.compress(b"\x00" * 400)[:-10], 400, "truncated gzip"),
        ("huge.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 300_000, 413, "limit"),
    ],
)
def test_bad_uploads_get_a_clear_client_error_and_the_server_keeps_serving(client, name, data, status, message):
    response = _post(client, data, name)
    assert response.status_code == status, response.text
    assert message in response.json()["detail"]
    _assert_serving(client)


def test_truncated_images_are_refused(client):
    image, _ = phantom_png(1)
    for data, name in ((image[: len(image) // 2], "cut.png"), (_jpeg(1)[:-400], "cut.jpg")):
        response = _post(client, data, name)
        assert response.status_code == 400 and "truncated or corrupt" in response.json()["detail"], response.text
        _assert_serving(client)


def test_malformed_requests_get_400(client):
    assert client.post("/api/predict").status_code == 400  # no file
    image, _ = phantom_png(2)
    for value in ("abc", "-1", "1e9"):
        response = _post(client, image, pixel_size_mm=value)
        assert response.status_code == 400 and "pixel_size_mm" in response.json()["detail"]
    _assert_serving(client)


def test_a_streamed_body_over_the_limit_gets_413(client):
    def chunks():
        for _ in range(40):
            yield b"x" * 10_000

    response = client.post(
        "/api/predict", content=chunks(), headers={"content-type": "multipart/form-data; boundary=b"}
    )
    assert response.status_code == 413 and "limit" in response.json()["detail"]
    _assert_serving(client)


def test_twenty_concurrent_requests_all_get_their_own_result(client, served_predictor):
    uploads = [phantom_png(seed) for seed in range(20)]
    expected = [
        served_predictor.predict(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)).mask.sum()
        for data, _ in uploads
    ]
    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(lambda u: _post(client, u[0], pixel_size_mm="1"), uploads))
    assert [r.status_code for r in responses] == [200] * 20
    areas = [r.json()["measurements"]["area_head_mm2"] for r in responses]
    assert areas == pytest.approx([float(a) for a in expected])
    hc_errors = [
        abs(r.json()["measurements"]["hc_mm"] - hc) / hc for r, (_, hc) in zip(responses, uploads, strict=True)
    ]
    assert np.median(hc_errors) < 0.1


def test_dicom_carries_its_pixel_size(client):
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    from medseg.data.phantoms.fetal_head import fetal_head_image

    image, _ = fetal_head_image(np.random.default_rng(4), (64, 96))
    dataset = _dicom(image, FileMetaDataset(), ExplicitVRLittleEndian, generate_uid())
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    result = _post(client, buffer.getvalue(), "slice.dcm", "application/dicom").json()
    assert result["format"] == "DICOM" and result["pixel_size_source"] == "file"
    assert result["pixel_size_mm"] == pytest.approx(0.2)


def test_nifti_volume_gives_volumes_in_ml(client):
    from medseg.data.phantoms.fetal_head import fetal_head_image

    rng = np.random.default_rng(6)
    slices = np.stack([fetal_head_image(rng, (64, 96))[0] for _ in range(3)])  # (Z, Y, X)
    affine = np.diag([0.5, 0.5, 2.0, 1.0])
    image = nib.Nifti1Image(slices.transpose(2, 1, 0).astype(np.int16), affine)
    data = gzip.compress(image.to_bytes())
    result = _post(client, data, "volume.nii.gz", "application/gzip").json()
    assert result["kind"] == "volume" and result["measurements"]["slices"] == 3
    assert result["measurements"]["head_ml"] > 0
    labels = nib.Nifti1Image.from_bytes(gzip.decompress(base64.b64decode(result["mask_nifti_gz"])))
    assert labels.shape == (96, 64, 3)
    assert int(np.asarray(labels.dataobj).astype(bool).sum()) * 0.5 * 0.5 * 2.0 / 1000 == pytest.approx(
        result["measurements"]["head_ml"]
    )


def test_page_shows_errors_and_results(client):
    assert "<form" in client.get("/").text
    response = client.post("/", files={"file": ("x.png", b"not an image", "image/png")})
    assert response.status_code == 400 and "id='error'" in response.text
    image, _ = phantom_png(5)
    page = client.post("/", files={"file": ("head.png", image, "image/png")}, data={"pixel_size_mm": "0.1"}).text
    assert "id='overlay'" in page and "Head circumference (mm)" in page and "download='mask.png'" in page


def _jpeg(seed: int) -> bytes:
    from medseg.data.phantoms.fetal_head import fetal_head_image

    image, _ = fetal_head_image(np.random.default_rng(seed), (64, 96))
    return cv2.imencode(".jpg", image)[1].tobytes()


def _dicom(image, meta, syntax, uid):
    from pydicom.dataset import Dataset

    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.6.1"  # ultrasound image storage
    meta.MediaStorageSOPInstanceUID = uid
    meta.TransferSyntaxUID = syntax
    dataset = Dataset()
    dataset.file_meta = meta
    dataset.SOPClassUID, dataset.SOPInstanceUID = meta.MediaStorageSOPClassUID, uid
    dataset.Modality = "US"
    dataset.Rows, dataset.Columns = image.shape
    dataset.SamplesPerPixel, dataset.PhotometricInterpretation = 1, "MONOCHROME2"
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit, dataset.PixelRepresentation = 8, 8, 7, 0
    dataset.PixelSpacing = [0.2, 0.2]
    dataset.PixelData = image.astype(np.uint8).tobytes()
    return dataset


def test_flips_and_scales_are_served_and_shown(served_run):
    from medseg.inference.backends import open_predictor

    predictor = open_predictor(served_run, "auto", tta=True, threads=1, scales=(1.0, 1.2))
    with TestClient(create_app(predictor, name="fetal")) as tta_client:
        model = tta_client.get("/api/model").json()
        assert model["tta"] is True and model["scales"] == [1.0, 1.2] and "PyTorch" in model["backend"]
        assert "averaging the flipped view and input scales 1, 1.2" in tta_client.get("/").text
        image, _ = phantom_png(3)
        result = _post(tta_client, image).json()
    expected = predictor.predict(cv2.imdecode(np.frombuffer(image, np.uint8), cv2.IMREAD_GRAYSCALE))
    mask = cv2.imdecode(np.frombuffer(base64.b64decode(result["mask_png"]), np.uint8), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(mask, expected.mask * 255)
    plain = predictor.__class__(predictor.models, predictor.config, "cpu").predict(
        cv2.imdecode(np.frombuffer(image, np.uint8), cv2.IMREAD_GRAYSCALE)
    )
    assert not np.array_equal(plain.probabilities, expected.probabilities)


def test_the_plain_model_says_it_runs_one_view(client):
    model = client.get("/api/model").json()
    assert model["tta"] is False and model["scales"] == [1.0]
    assert "averaging" not in client.get("/").text
