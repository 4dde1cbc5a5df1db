"""int8 models for ONNX Runtime: static quantisation (QDQ) of a float32 export, calibrated on images.

Convolutions need static quantisation: the activations' ranges come from calibration images run
through the float model (min-max), weights are quantised per output channel. Activations are
``uint8`` and weights ``int8`` (U8S8: the VNNI / AVX512 integer kernels of x86 CPUs).
:mod:`medseg.experiments.precision` checks what it changes before an int8 model is written.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from medseg.data.preprocessing import prepare_image
from medseg.errors import ExportError
from medseg.inference.predictor import Predictor


def calibration_inputs(predictor: Predictor, images: Iterable[np.ndarray]) -> list[np.ndarray]:
    """The network inputs ``(1, C, H, W)`` float32 of native ``images``, prepared as the predictor prepares
    whole images (crop, intensity steps, letterbox to ``data.image_size``, normalisation)."""
    return [prepare_image(image, predictor.config.data)[0][None].astype(np.float32) for image in images]


def quantize_int8(model: bytes, inputs: Sequence[np.ndarray], input_name: str = "image") -> bytes:
    """``model`` (a float32 ONNX graph) with int8 weights and activations (QDQ), calibrated on ``inputs``.

    Raises:
        ExportError: no calibration inputs, or ONNX Runtime cannot quantise the graph.
    """
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quant_pre_process,
        quantize_static,
    )

    if not inputs:
        raise ExportError("int8: no calibration images")

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{input_name: x} for x in inputs])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    with tempfile.TemporaryDirectory(prefix="medseg-int8-") as scratch:
        source, prepared, target = (Path(scratch) / name for name in ("float.onnx", "prepared.onnx", "int8.onnx"))
        source.write_bytes(model)
        try:
            quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
            quantize_static(
                str(prepared),
                str(target),
                Reader(),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax,
            )
        except Exception as exc:  # noqa: BLE001 - ONNX Runtime's quantiser raises many kinds
            raise ExportError(f"int8: ONNX Runtime could not quantise the model ({exc})") from None
        return target.read_bytes()
