"""``medseg serve``: a web page and a JSON API over :mod:`medseg.inference` (FastAPI + uvicorn)."""

from __future__ import annotations

from pathlib import Path

from medseg.serve.app import DEFAULT_MAX_UPLOAD_MB, create_app

__all__ = ["DEFAULT_MAX_UPLOAD_MB", "create_app", "serve"]


def serve(
    source: str | Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    backend: str = "auto",
    checkpoint: str = "best",
    threads: int | None = None,
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
    tta: bool = False,
    scales: tuple[float, ...] = (1.0,),
) -> None:
    """Loads the model of ``source`` (run directory, zoo name or ``.onnx``) once and serves it until interrupted.

    ``tta`` and ``scales``: the flipped view and the input scales averaged into every prediction, as
    ``medseg predict --tta --scales`` (multi-scale runs on PyTorch).

    Raises:
        MedsegError: the model cannot be loaded, or ``scales`` asked of an ONNX model (raised before
            the server starts).
    """
    import uvicorn

    from medseg.inference.backends import open_predictor

    source = Path(source)
    predictor = open_predictor(source, backend, checkpoint, tta=tta, threads=threads, scales=scales)
    name = source.stem if source.suffix == ".onnx" else source.resolve().name
    app = create_app(predictor, max_upload_mb, name)
    uvicorn.run(app, host=host, port=port, log_level="info", timeout_graceful_shutdown=5)
