"""Inference in bfloat16 (PyTorch autocast), chosen per predictor or by ``infer.precision``."""

from __future__ import annotations

import numpy as np
import pytest

from medseg import device
from medseg.config import load_config
from medseg.errors import ConfigError
from medseg.inference.backends import open_predictor


def test_bfloat16_predicts_through_autocast_and_stays_close(tiny_run):
    image = (np.random.default_rng(0).random((96, 128)) * 255).astype(np.uint8)
    full = open_predictor(tiny_run, "torch", threads=1)
    low = open_predictor(tiny_run, "torch", threads=1, precision="bfloat16")
    assert (full.precision, low.precision) == ("float32", "bfloat16")
    a, b = full.probabilities(image), low.probabilities(image)
    assert b.dtype == np.float32 and a.shape == b.shape
    assert 0 < np.abs(a - b).max() < 0.1  # bfloat16 arithmetic: close, not identical


def test_bfloat16_is_refused_on_onnx_runtime_and_unknown_precisions(exported_run):
    assert open_predictor(exported_run, "auto", precision="bfloat16").backend == "torch"  # the export is skipped
    with pytest.raises(ConfigError, match="runs on PyTorch"):
        open_predictor(exported_run, "onnx", precision="bfloat16")
    with pytest.raises(ConfigError, match="float16"):
        open_predictor(exported_run, "torch", precision="float16")


def test_infer_precision_is_a_checked_config_key():
    assert load_config("demo").infer.precision == "float32"
    assert load_config("demo", ["infer.precision=bfloat16"]).infer.precision == "bfloat16"
    with pytest.raises(ConfigError, match="infer.precision"):
        load_config("demo", ["infer.precision=int4"])


@pytest.mark.parametrize(("native", "expected"), [(True, "bfloat16"), (False, "float32")])
def test_auto_precision_runs_bfloat16_only_where_the_cpu_has_it(tiny_run, monkeypatch, native, expected):
    monkeypatch.setattr(device, "native_bfloat16_cpu", lambda: native)
    assert open_predictor(tiny_run, "torch", threads=1, precision="auto").precision == expected
    assert load_config("demo", ["infer.precision=auto"]).infer.precision == "auto"


def test_auto_precision_keeps_an_onnx_export(exported_run, monkeypatch):
    monkeypatch.setattr(device, "native_bfloat16_cpu", lambda: True)
    assert open_predictor(exported_run, "auto", precision="auto").backend == "onnx"  # ONNX Runtime runs float32
