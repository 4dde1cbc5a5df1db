"""``medseg export`` and ``medseg serve``: registered on :data:`medseg.cli.app` by :mod:`medseg.cli`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from medseg.cli.choices import CHECKPOINT, Backend, value
from medseg.errors import MedsegError


def export(
    run_dir: Annotated[Path, typer.Argument(help="a training run directory")],
    out: Annotated[Path | None, typer.Option(help="the .onnx file (default RUN_DIR/model.onnx)")] = None,
    checkpoint: Annotated[str, typer.Option(metavar=CHECKPOINT, help="the checkpoint to use")] = "best",
    opset: Annotated[int, typer.Option(help="ONNX opset")] = 17,
) -> None:
    """Export the network as ONNX, with its pre-/post-processing settings as JSON beside it; checked by ONNX Runtime."""
    from medseg.cli import _fail, console
    from medseg.inference.export import export_onnx

    try:
        result = export_onnx(run_dir, out, checkpoint, opset)
    except MedsegError as error:
        _fail(error)
    console.print(result.summary(), highlight=False, soft_wrap=True)


def serve(
    source: Annotated[Path, typer.Argument(help="a training run directory, or an exported model.onnx")],
    host: Annotated[str, typer.Option(help="address to listen on (default: this computer only)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    backend: Annotated[Backend, typer.Option(help="auto: ONNX Runtime when exported, else PyTorch")] = Backend.auto,
    checkpoint: Annotated[str, typer.Option(metavar=CHECKPOINT, help="the checkpoint to use")] = "best",
    threads: Annotated[int | None, typer.Option(help="ONNX Runtime CPU threads (default: all cores)")] = None,
    max_upload_mb: Annotated[float, typer.Option(help="largest upload accepted (MB)")] = 64.0,
) -> None:
    """Serve a web page and a JSON API (POST /api/predict, GET /api/model, GET /healthz) for one model."""
    backend = value(backend)
    from medseg.cli import _fail, console
    from medseg.serve import serve as run_server

    console.print(f"medseg serve: http://{host}:{port}/ (API docs: /docs)", highlight=False)
    try:
        run_server(source, host, port, backend, checkpoint, threads, max_upload_mb)
    except MedsegError as error:
        _fail(error)
