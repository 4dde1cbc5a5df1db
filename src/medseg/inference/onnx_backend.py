"""ONNX Runtime backend: an exported ``.onnx`` plus its JSON settings -> a :class:`Predictor`.

The JSON file beside the model (``model.onnx`` -> ``model.json``, written by
:func:`medseg.inference.export.export_onnx`) holds the preprocessing, post-processing and measurement
settings, so the pair is usable without the run directory. The same JSON is also embedded in the
ONNX file's metadata (key ``medseg``) and used when the JSON file is missing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from medseg.config import Config, config_from_dict
from medseg.errors import ExportError
from medseg.inference.predictor import Predictor
from medseg.models.outputs import output_channels

METADATA_KEY = "medseg"
FORMAT = "medseg-onnx"


def settings_path(onnx_path: str | Path) -> Path:
    """``model.onnx`` -> ``model.json``."""
    return Path(onnx_path).with_suffix(".json")


def session_options(threads: int | None = None) -> Any:
    """ONNX Runtime options: every graph optimisation; ``threads`` intra-op threads (None: ORT's default)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
    return options


class OnnxNetwork:
    """An ONNX Runtime CPU session with the contract of a PyTorch segmentation model.

    Calling it maps ``(N, C, H, W)`` float32 tensors to ``(N, K, H, W)`` logits. Sessions are
    thread-safe: one object serves concurrent requests.

    Args:
        model: path of the ``.onnx`` file, or its bytes.
        threads: intra-op threads (None: ONNX Runtime's default, all cores).
    """

    def __init__(self, model: str | Path | bytes, threads: int | None = None) -> None:
        import onnxruntime as ort

        source = model if isinstance(model, bytes) else str(model)
        try:
            self.session = ort.InferenceSession(source, session_options(threads), providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - ORT raises its own exception types for bad files
            where = "ONNX model" if isinstance(model, bytes) else model
            raise ExportError(f"{where}: cannot be loaded by ONNX Runtime ({exc})") from None
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name

    def run(self, x: np.ndarray) -> np.ndarray:
        """Logits ``(N, K, H, W)`` of ``x`` ``(N, C, H, W)`` float32 (NumPy in and out)."""
        return self.session.run([self.output_name], {self.input_name: np.ascontiguousarray(x, dtype=np.float32)})[0]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.run(x.detach().cpu().numpy()))


def read_settings(onnx_path: str | Path) -> dict[str, Any]:
    """The export settings of ``onnx_path``: its JSON file, else the copy in the model's metadata.

    Raises:
        ExportError: no settings, unreadable JSON, or not written by ``medseg export``.
    """
    onnx_path = Path(onnx_path)
    json_path = settings_path(onnx_path)
    if json_path.is_file():
        try:
            settings = json.loads(json_path.read_text())
        except (OSError, ValueError) as exc:
            raise ExportError(f"{json_path}: unreadable settings file ({exc})") from None
        where: Path = json_path
    else:
        import onnx

        try:
            model = onnx.load(str(onnx_path), load_external_data=False)
        except Exception as exc:  # noqa: BLE001 - onnx raises DecodeError and others
            raise ExportError(f"{onnx_path}: not an ONNX model ({exc})") from None
        props = {p.key: p.value for p in model.metadata_props}
        if METADATA_KEY not in props:
            raise ExportError(f"{onnx_path}: no settings file {json_path.name} beside it and none embedded")
        settings, where = json.loads(props[METADATA_KEY]), onnx_path
    if not isinstance(settings, dict) or settings.get("format") != FORMAT:
        raise ExportError(f"{where}: not a medseg export settings file (format {FORMAT!r} expected)")
    return settings


def settings_config(settings: dict[str, Any], where: str = "export settings") -> Config:
    """The :class:`Config` (model, preprocessing, post-processing, measurements) stored with an export."""
    return config_from_dict(settings["config"], where)


def load_onnx_predictor(
    onnx_path: str | Path,
    threads: int | None = None,
    tta: bool = False,
    sliding_window: bool | None = None,
    batch_size: int | None = None,
) -> Predictor:
    """A :class:`Predictor` running ``onnx_path`` on ONNX Runtime (CPU) with its stored settings.

    Raises:
        ExportError: missing file, missing or invalid settings, or a model ONNX Runtime cannot load.
    """
    onnx_path = Path(onnx_path)
    if not onnx_path.is_file():
        raise ExportError(f"{onnx_path}: ONNX model not found")
    settings = read_settings(onnx_path)
    config = settings_config(settings, str(settings_path(onnx_path)))
    if sliding_window and not settings.get("dynamic_spatial", False):
        window = list(config.infer.window or config.data.patch_size or config.data.image_size)
        if window != list(settings.get("sample_size") or []):
            raise ExportError(f"{onnx_path}: exported with a fixed input size; sliding windows must be that size")
    network = OnnxNetwork(onnx_path, threads)
    check_settings_fit(network, config, settings_path(onnx_path))
    return Predictor(network, config, "cpu", tta, sliding_window, batch_size)


def check_settings_fit(network: OnnxNetwork, config: Config, where: Path) -> None:
    """Checks that the settings describe the graph: input channels and output classes.

    Raises:
        ExportError: naming the settings file, what it says and what the ONNX graph takes or gives.
    """
    graph_in = network.session.get_inputs()[0].shape
    graph_out = network.session.get_outputs()[0].shape
    expected_out = output_channels(config.data.num_classes, config.model.out_channels)
    if len(graph_in) != 4 or len(graph_out) != 4:
        raise ExportError(f"{where}: the ONNX graph is not an (N, C, H, W) image model (input {graph_in})")
    if isinstance(graph_in[1], int) and graph_in[1] != config.data.channels:
        raise ExportError(
            f"{where}: data.channels={config.data.channels} but the ONNX graph takes {graph_in[1]} channel(s); "
            "export the run again (medseg export) rather than editing its settings"
        )
    if isinstance(graph_out[1], int) and graph_out[1] != expected_out:
        raise ExportError(
            f"{where}: {config.data.num_classes} classes need {expected_out} output channel(s) but the ONNX graph "
            f"gives {graph_out[1]}; export the run again (medseg export) rather than editing its settings"
        )
