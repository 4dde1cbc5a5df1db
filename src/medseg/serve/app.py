"""The FastAPI application: the HTML page, ``POST /api/predict``, ``GET /api/model``, ``GET /healthz``.

The model is loaded once (by the caller) and shared; each prediction runs in the thread pool, so
requests are served concurrently (PyTorch modules in eval mode and ONNX Runtime sessions are safe to
call from several threads). Uploads are held in memory, capped in size (413), decoded and validated
before use (400 with a one-line message otherwise); no value from a request names a file.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from medseg.inference.predictor import Predictor
from medseg.serve.analysis import analyze
from medseg.serve.page import render_page
from medseg.serve.uploads import SUPPORTED, UploadError, decode_upload

DEFAULT_MAX_UPLOAD_MB = 64.0
FORM_OVERHEAD = 64 * 1024  # multipart boundaries and the other form fields


class PredictionResponse(BaseModel):
    """``POST /api/predict``: measurements in ``units``; images as base64 PNG (mask: NIfTI for volumes)."""

    filename: str
    format: str
    kind: str
    width: int
    height: int
    pixel_size_mm: float | None
    pixel_size_source: str | None
    units: str
    measurements: dict[str, float | int | None]
    overlay_png: str
    mask_png: str | None = None
    mask_nifti_gz: str | None = None
    seconds: float
    backend: str


class ErrorResponse(BaseModel):
    detail: str


class BodyLimit:
    """ASGI middleware answering 413 once a request body passes ``max_bytes`` (declared or streamed)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        message = f"upload over the {self.max_bytes - FORM_OVERHEAD} byte limit"
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await _too_large(scope, send, message)
            return
        state = {"received": 0, "over": False, "started": False}

        async def limited_receive() -> Message:
            if state["over"]:  # stop reading: the handler fails on an empty end of body
                return {"type": "http.request", "body": b"", "more_body": False}
            item = await receive()
            if item["type"] == "http.request":
                state["received"] += len(item.get("body", b""))
                if state["received"] > self.max_bytes:
                    state["over"] = True
                    return {"type": "http.request", "body": b"", "more_body": False}
            return item

        async def guarded_send(item: Message) -> None:
            if state["over"]:  # whatever the handler made of a cut body, the answer is 413
                if item["type"] == "http.response.start" and not state["started"]:
                    state["started"] = True
                    await _too_large(scope, send, message)
                return
            await send(item)

        await self.app(scope, limited_receive, guarded_send)


async def _too_large(scope: Scope, send: Send, message: str) -> None:
    if scope["path"].startswith("/api/"):
        body, kind = json.dumps({"detail": message}).encode(), b"application/json"
    else:
        body, kind = f"<!doctype html><p class='error' id='error'>{message}</p>".encode(), b"text/html; charset=utf-8"
    headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode()), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def model_info(predictor: Predictor, max_upload_mb: float, name: str) -> dict[str, Any]:
    """What ``GET /api/model`` answers: the model, its classes, input and measurements."""
    config = predictor.config
    return {
        "name": name,
        "architecture": config.model.name,
        "backend": "ONNX Runtime (CPU)" if predictor.backend == "onnx" else f"PyTorch ({predictor.device})",
        "class_names": config.data.class_names,
        "channels": config.data.channels,
        "image_size": config.data.image_size,
        "sliding_window": predictor.sliding_window,
        "tta": predictor.tta,
        "scales": list(predictor.scales),
        "measurements": config.eval.measurements,
        "accepts": SUPPORTED,
        "max_upload_mb": max_upload_mb,
    }


def _pixel_size(raw: str | None) -> float | None:
    if raw is None or not raw.strip():
        return None
    try:
        value = float(raw)
    except ValueError:
        raise UploadError(f"pixel_size_mm {raw[:40]!r} is not a number") from None
    if not 0 < value < 100:
        raise UploadError(f"pixel_size_mm {value:g} must be a positive size in millimetres (below 100)")
    return value


def create_app(predictor: Predictor, max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB, name: str = "medseg") -> FastAPI:
    """The web application around one loaded ``predictor``.

    Args:
        max_upload_mb: upload cap in MB (10^6 bytes); larger requests get 413.
        name: shown on the page and in ``GET /api/model`` (e.g. the run's name).
    """
    max_bytes = int(max_upload_mb * 1_000_000)
    info = model_info(predictor, max_upload_mb, name)
    color = predictor.config.data.channels == 3
    app = FastAPI(
        title="medseg",
        summary=f"Segmentation and measurements with {info['architecture']} ({', '.join(info['class_names'][1:])})",
        version="1",
    )
    app.add_middleware(BodyLimit, max_bytes=max_bytes + FORM_OVERHEAD)

    async def run(file: UploadFile | None, pixel_size_mm: str | None) -> dict[str, Any]:
        if file is None:
            raise UploadError("no file uploaded (form field 'file')")
        filename = (file.filename or "upload")[-200:]
        data = await file.read(max_bytes + 1)
        pixel_size = _pixel_size(pixel_size_mm)
        upload = await run_in_threadpool(decode_upload, data, filename, color, max_bytes)
        result = await run_in_threadpool(analyze, predictor, upload, pixel_size)
        return {"filename": filename, **result}

    @app.exception_handler(UploadError)
    async def upload_error(request: Request, error: UploadError) -> JSONResponse | HTMLResponse:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": str(error)}, status_code=error.status)
        return HTMLResponse(render_page(info, error=str(error)), status_code=error.status)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        return JSONResponse({"detail": f"invalid request: {problems}"}, status_code=400)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(render_page(info))

    @app.post("/", response_class=HTMLResponse, include_in_schema=False)
    async def page_predict(
        file: UploadFile | None = File(None), pixel_size_mm: str | None = Form(None)
    ) -> HTMLResponse:
        return HTMLResponse(render_page(info, await run(file, pixel_size_mm)))

    @app.post(
        "/api/predict",
        response_model=PredictionResponse,
        responses={400: {"model": ErrorResponse}, 413: {"model": ErrorResponse}},
    )
    async def api_predict(
        file: UploadFile | None = File(None, description=f"the image: {SUPPORTED}"),
        pixel_size_mm: str | None = Form(None, description="pixel size in mm when the file does not carry it"),
    ) -> dict[str, Any]:
        """Segments one image (or NIfTI volume) and measures it."""
        return await run(file, pixel_size_mm)

    @app.get("/api/model")
    async def api_model() -> dict[str, Any]:
        """The loaded model: architecture, classes, input, measurements, upload limits."""
        return info

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
