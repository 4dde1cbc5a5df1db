"""``medseg export`` and ``medseg serve``: a model as ONNX, and a model behind a web page and API."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from medseg.cli.base import check_option, console, fail, parse_scales
from medseg.cli.choices import CHECKPOINT, Backend, Threads, value
from medseg.errors import MedsegError


def export(
    run_dir: Annotated[
        Path,
        typer.Argument(metavar="MODEL", help="a training run directory, or a zoo model's name (with --out)"),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            help="the .onnx file (default RUN_DIR/model.onnx, with --int8 RUN_DIR/model_int8.onnx; a zoo model "
            "needs one); its settings go to the .json beside it, both "
            "recorded in .medseg-files.json; never over files medseg did not write"
        ),
    ] = None,
    checkpoint: Annotated[str, typer.Option(metavar=CHECKPOINT, help="the checkpoint to use")] = "best",
    opset: Annotated[int, typer.Option(help="ONNX opset")] = 17,
    int8: Annotated[
        bool,
        typer.Option(
            help="int8 (static quantisation, calibrated on training images of --data); written only when its "
            "mean Dice on the validation split is within 0.002 of float32"
        ),
    ] = False,
    data: Annotated[Path | None, typer.Option(help="--int8: the dataset the model was trained on")] = None,
    calibration: Annotated[int, typer.Option(help="--int8: training-split images that calibrate it")] = 16,
    limit: Annotated[int | None, typer.Option(help="--int8: check on the val split's first N images only")] = None,
    threads: Annotated[int | None, typer.Option(help="--int8: CPU threads of the check")] = None,
) -> None:
    """Export the network as ONNX, with its pre-/post-processing settings as JSON beside it; checked by ONNX Runtime."""
    from medseg.errors import ConfigError
    from medseg.inference.export import export_onnx

    try:
        if not int8 and data is not None:
            raise ConfigError("--data is for --int8 (the images that calibrate and check it)")
        if int8 and data is None:
            raise ConfigError("--int8 needs --data: training images calibrate it, validation images check it")
        check_option("--calibration", calibration, calibration >= 1, "at least 1")
        check_option("--limit", limit, limit is not None and limit >= 1, "at least 1")
        check_option("--threads", threads, threads is not None and threads >= 1, "at least 1")
        if int8:
            from medseg.experiments.precision import export_int8

            result, check = export_int8(
                run_dir, data, out, checkpoint, calibration, limit, threads=threads, opset=opset
            )
            console.print(check.summary(), highlight=False, soft_wrap=True)
        else:
            result = export_onnx(run_dir, out, checkpoint, opset)
    except MedsegError as error:
        fail(error)
    console.print(result.summary(), highlight=False, soft_wrap=True)


def check_serve_options(port: int, max_upload_mb: float, threads: int | None) -> None:
    """Raises a ConfigError naming the option when ``medseg serve`` is given a value it cannot use."""
    import math

    from medseg.errors import ConfigError

    if not 0 < port < 65536:
        raise ConfigError(f"--port {port}: give a TCP port from 1 to 65535")
    if not (math.isfinite(max_upload_mb) and max_upload_mb > 0):
        raise ConfigError(f"--max-upload-mb {max_upload_mb}: give a finite size in MB above 0")
    if threads is not None and threads < 1:
        raise ConfigError(f"--threads {threads}: give at least 1 (or leave it out for all cores)")


def serve(
    source: Annotated[
        Path, typer.Argument(metavar="MODEL", help="a zoo model's name, a training run directory, or an exported .onnx")
    ],
    host: Annotated[str, typer.Option(help="address to listen on (default: this computer only)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    backend: Annotated[Backend, typer.Option(help="auto: ONNX Runtime when exported, else PyTorch")] = Backend.auto,
    checkpoint: Annotated[str, typer.Option(metavar=CHECKPOINT, help="the checkpoint to use")] = "best",
    tta: Annotated[bool, typer.Option(help="average with the horizontally flipped prediction")] = False,
    scales: Annotated[
        str,
        typer.Option(help="input scales averaged, e.g. 1,1.1,1.2 (multi-scale, on PyTorch)"),
    ] = "1",
    threads: Threads = None,
    max_upload_mb: Annotated[float, typer.Option(help="largest upload accepted (MB)")] = 64.0,
) -> None:
    """Serve a web page and a JSON API (POST /api/predict, GET /api/model, GET /healthz) for one model."""
    backend = value(backend)
    from medseg.serve import serve as run_server

    try:
        check_serve_options(port, max_upload_mb, threads)
        input_scales = parse_scales(scales)
        console.print(f"medseg serve: http://{host}:{port}/ (API docs: /docs)", highlight=False)
        run_server(source, host, port, backend, checkpoint, threads, max_upload_mb, tta, input_scales)
    except MedsegError as error:
        fail(error)
