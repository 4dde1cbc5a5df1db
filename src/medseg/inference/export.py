"""``medseg export``: a run's network as ONNX, its settings as JSON beside it, checked by ONNX Runtime."""

from __future__ import annotations

import hashlib
import io
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from medseg import __version__
from medseg.errors import ExportError, RunDirError
from medseg.inference.onnx_backend import FORMAT, METADATA_KEY, OnnxNetwork, settings_path
from medseg.inference.predictor import Predictor
from medseg.inference.zoo import load_zoo_predictor, zoo_folder
from medseg.io import atomic_write_bytes, atomic_write_text
from medseg.output_files import datasets_of, plan_files, record_files
from medseg.run_folder import RunFolder, ZooFolder

OPSET = 17
TOLERANCE = 1e-4
INPUT, OUTPUT = "image", "logits"
# Config sections an exported model needs: what the network is, how images reach it, what comes after.
OUTPUT_MEANING = (
    "logits; 1 channel: sigmoid gives the foreground probability; several: softmax over classes. "
    "The input is the preprocessed image (config.data: crop, intensity steps, letterbox, normalisation)."
)
SECTIONS = ("name", "data", "model", "postprocess", "eval", "infer")


@dataclass
class ExportResult:
    """What :func:`export_onnx` wrote and how closely ONNX Runtime matched PyTorch."""

    onnx_path: Path
    settings_path: Path
    opset: int
    dynamic_spatial: bool
    max_abs_diff: float
    checked_shapes: list[list[int]]
    precision: str = "float32"

    def summary(self) -> str:
        """One line: the files, the opset, the dynamic axes and the check."""
        spatial = "dynamic" if self.dynamic_spatial else "fixed"
        graph = "ONNX Runtime" if self.precision == "float32" else f"{self.precision} model; its float32 graph"
        return (
            f"{self.onnx_path} (opset {self.opset}, dynamic batch, {spatial} height/width); settings "
            f"{self.settings_path}; {graph} vs PyTorch max |logit diff| {self.max_abs_diff:.2e}"
        )


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _trace_size(size: list[int]) -> list[int]:
    """An odd size, no multiple of the network's stride, so the traced graph keeps its padding branch."""
    return [s + 1 if s % 2 == 0 else s for s in size]


def _to_onnx(model: torch.nn.Module, sample: torch.Tensor, dynamic_spatial: bool, opset: int) -> bytes:
    axes = {0: "batch", 2: "height", 3: "width"} if dynamic_spatial else {0: "batch"}
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python bools of traced sizes
        torch.onnx.export(
            model,
            (sample,),
            buffer,
            dynamo=False,  # the TorchScript exporter: no onnxscript dependency, dynamic axes as declared
            opset_version=opset,
            input_names=[INPUT],
            output_names=[OUTPUT],
            dynamic_axes={INPUT: axes, OUTPUT: axes},
            do_constant_folding=True,
        )
    return buffer.getvalue()


def _max_diff(model: torch.nn.Module, network: OnnxNetwork, shapes: list[list[int]]) -> float:
    generator = torch.Generator().manual_seed(0)
    worst = 0.0
    for shape in shapes:
        x = torch.randn(*shape, generator=generator)
        with torch.no_grad():
            reference = model(x).numpy()
        try:
            output = network.run(x.numpy())
        except Exception:  # noqa: BLE001 - ORT's shape errors: the graph is not valid at this size
            return float("inf")
        if output.shape != reference.shape:
            return float("inf")
        worst = max(worst, float(np.abs(output - reference).max()))
    return worst


def onnx_graph(
    predictor: Predictor, opset: int = OPSET, tolerance: float = TOLERANCE, where: str = "model"
) -> tuple[bytes, bool, float, list[list[int]]]:
    """The float32 ONNX graph of a predictor's (first) network, checked by ONNX Runtime.

    Height and width are dynamic when ONNX Runtime reproduces PyTorch at a second size, else fixed at
    ``data.image_size``.

    Returns:
        The graph's bytes, whether its height and width are dynamic, the max absolute logit
        difference and the input shapes it was checked at.

    Raises:
        ExportError: naming ``where``: the export failed or ONNX Runtime disagrees with PyTorch.
    """
    model, config = predictor.models[0], predictor.config
    channels = config.data.channels
    size = [int(s) for s in config.data.image_size]
    trace = _trace_size(size)
    dynamic, data, diff = True, b"", float("inf")
    shapes = [[2, channels, *size], [1, channels, *trace]]
    try:
        data = _to_onnx(model, torch.zeros(1, channels, *trace), True, opset)
        diff = _max_diff(model, OnnxNetwork(data, threads=1), shapes)
        if not diff <= tolerance:  # not reproducible at every size: fix the spatial size
            dynamic, shapes = False, [[2, channels, *size]]
            data = _to_onnx(model, torch.zeros(1, channels, *size), False, opset)
            diff = _max_diff(model, OnnxNetwork(data, threads=1), shapes)
    except ExportError:
        raise
    except Exception as exc:  # noqa: BLE001 - the exporter raises many kinds for unsupported operators
        raise ExportError(f"{where}: ONNX export of {config.model.name!r} failed ({exc})") from None
    if not diff <= tolerance:
        raise ExportError(
            f"{where}: ONNX Runtime logits differ from PyTorch by {diff:.3g} (> {tolerance:g}); nothing written"
        )
    return data, dynamic, diff, shapes


def export_onnx(
    run_dir: str | Path,
    out: str | Path | None = None,
    checkpoint: str = "best",
    opset: int = OPSET,
    tolerance: float = TOLERANCE,
    convert: Callable[[Predictor, bytes], tuple[bytes, dict[str, Any]]] | None = None,
) -> ExportResult:
    """Exports a run's network to ONNX and writes its settings (JSON) beside it.

    The input ``image`` is ``(batch, C, height, width)`` float32, already preprocessed; the output
    ``logits`` is ``(batch, K, height, width)``. Batch is always dynamic; height and width are dynamic
    when ONNX Runtime reproduces PyTorch at a second size (fully convolutional networks), else fixed
    at ``data.image_size``. Nothing is written unless ONNX Runtime's logits match PyTorch's within
    ``tolerance`` (max absolute difference) on random inputs at the training size (batch 2) and,
    for dynamic models, at another size.

    Args:
        run_dir: a training run directory (one model; export cross-validation folds one by one), or
            the name of a zoo model of one network (:mod:`medseg.inference.zoo`; ``out`` is then needed).
        out: the ``.onnx`` file; default ``RUN_DIR/model.onnx``. The settings go to ``<out stem>.json``.
        convert: given the predictor and the checked float32 graph, the graph to write instead and
            the entries it adds to the settings (e.g. int8: :func:`medseg.experiments.precision.export_int8`);
            it raises an :class:`ExportError` to write nothing.

    Raises:
        RunDirError: not a run directory / no such checkpoint.
        ExportError: export failed or ONNX Runtime disagrees with PyTorch.
    """
    zoo = zoo_folder(str(run_dir)) if not Path(run_dir).exists() else None
    run_dir = Path(run_dir)
    if zoo is not None:
        if out is None:
            raise ExportError(f"{run_dir}: a zoo model is exported to a file you name: --out FILE.onnx")
        out, _ = plan_files(Path(out), ".onnx", [".json"], [zoo], [], known=_written_by_export)
        predictor = load_zoo_predictor(zoo, device="cpu")
        if len(predictor.models) != 1:
            raise ExportError(f"{run_dir}: an ensemble of {len(predictor.models)} networks; ONNX export takes one")
        weights = ZooFolder(zoo).weights
        source = {"zoo": zoo.name, "weights": str(weights), "sha256": file_sha256(weights)}
    else:
        run = RunFolder(run_dir)
        if not run.has_checkpoints:
            folds = " (a cross-validation directory: export one fold_K)" if run.folds() else ""
            raise RunDirError(f"{run_dir}: not a run directory (no checkpoints/ folder){folds}")
        checkpoint_file = run.checkpoint(checkpoint)  # the rule of predict --checkpoint
        out = Path(out) if out is not None else run.onnx
        out, _ = plan_files(out, ".onnx", [".json"], [run_dir], datasets_of([run_dir]), known=_written_by_export)
        predictor = Predictor.from_run(run_dir, checkpoint, device="cpu")
        source = {"run_dir": str(run_dir.resolve()), "checkpoint": checkpoint, "sha256": file_sha256(checkpoint_file)}
    config = predictor.config
    channels = config.data.channels
    size = [int(s) for s in config.data.image_size]
    data, dynamic, diff, shapes = onnx_graph(predictor, opset, tolerance, str(run_dir))
    extra: dict[str, Any] = {}
    if convert is not None:
        data, extra = convert(predictor, data)
    settings: dict[str, Any] = {
        "format": FORMAT,
        "version": 1,
        "onnx_file": out.name,
        "opset": opset,
        "input": {"name": INPUT, "shape": ["batch", channels, "height", "width"], "dtype": "float32"},
        "output": {"name": OUTPUT, "shape": ["batch", "classes", "height", "width"], "meaning": OUTPUT_MEANING},
        "dynamic_batch": True,
        "dynamic_spatial": dynamic,
        "sample_size": size,
        "check": {"max_abs_diff": diff, "tolerance": tolerance, "shapes": shapes},
        "source": source,
        "versions": {"medseg": __version__, "torch": torch.__version__, **_runtime_versions()},
        "config": {key: value for key, value in config.to_dict().items() if key in SECTIONS},
        **extra,
    }
    text = json.dumps(settings, indent=1)
    atomic_write_bytes(out, _with_metadata(data, text))
    json_path = settings_path(out)
    atomic_write_text(json_path, text + "\n")
    record_files([out, json_path], "export")
    return ExportResult(out, json_path, opset, dynamic, diff, shapes, extra.get("precision", "float32"))


def _written_by_export(path: Path) -> bool:
    """An ONNX model or settings file that an earlier ``medseg export`` wrote (recognised by content)."""
    try:
        if path.suffix == ".json":
            return json.loads(path.read_text()).get("format") == FORMAT
        import onnx

        model = onnx.load(str(path), load_external_data=False)
        return model.producer_name == "medseg" and any(p.key == METADATA_KEY for p in model.metadata_props)
    except Exception:  # noqa: BLE001 - anything unreadable is not medseg's
        return False


def _runtime_versions() -> dict[str, str]:
    import onnx
    import onnxruntime

    return {"onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__}


def _with_metadata(data: bytes, text: str) -> bytes:
    """The ONNX model with ``text`` stored under ``metadata_props['medseg']``."""
    import onnx

    model = onnx.load_from_string(data)
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, text
    model.producer_name = "medseg"
    return model.SerializeToString()


def find_export(run_dir: str | Path, checkpoint: str = "best") -> Path | None:
    """``RUN_DIR/model.onnx`` when it exists and was exported from the current ``checkpoint`` file."""
    run = RunFolder(run_dir)
    onnx_path = run.onnx
    json_path = settings_path(onnx_path)
    try:
        checkpoint_file = run.checkpoint(checkpoint)
    except RunDirError:
        return None
    if not (onnx_path.is_file() and json_path.is_file() and checkpoint_file.is_file()):
        return None
    try:
        source = json.loads(json_path.read_text()).get("source", {})
    except (OSError, ValueError):
        return None
    if source.get("checkpoint") != checkpoint or source.get("sha256") != file_sha256(checkpoint_file):
        return None
    return onnx_path
