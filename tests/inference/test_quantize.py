"""int8 static quantisation (QDQ) of an exported network, calibrated on prepared images."""

from __future__ import annotations

import numpy as np
import pytest

from medseg.errors import ExportError
from medseg.inference.backends import open_predictor
from medseg.inference.export import onnx_graph
from medseg.inference.onnx_backend import OnnxNetwork
from medseg.inference.quantize import calibration_inputs, quantize_int8


def test_quantised_graph_runs_and_stays_near_the_float_one(tiny_run):
    predictor = open_predictor(tiny_run, "torch", threads=1)
    rng = np.random.default_rng(0)
    images = [(rng.random((96, 128)) * 255).astype(np.uint8) for _ in range(3)]
    inputs = calibration_inputs(predictor, images)
    size = predictor.config.data.image_size
    assert all(x.shape == (1, predictor.config.data.channels, *size) and x.dtype == np.float32 for x in inputs)
    graph = onnx_graph(predictor)[0]
    quantized = quantize_int8(graph, inputs)
    assert len(quantized) < len(graph)  # int8 weights
    full, low = OnnxNetwork(graph, threads=1).run(inputs[0]), OnnxNetwork(quantized, threads=1).run(inputs[0])
    assert low.shape == full.shape and np.isfinite(low).all()
    assert np.abs(low - full).max() < 0.5 * (np.abs(full).max() + 1)  # quantisation noise, not another network


def test_quantisation_needs_calibration_images_and_a_graph(tiny_run):
    predictor = open_predictor(tiny_run, "torch", threads=1)
    with pytest.raises(ExportError, match="no calibration images"):
        quantize_int8(onnx_graph(predictor)[0], [])
    with pytest.raises(ExportError, match="could not quantise"):
        quantize_int8(b"not an onnx graph", [np.zeros((1, 1, 8, 8), np.float32)])
