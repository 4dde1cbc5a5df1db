"""One contract for every registered model: shapes, gradients, determinism, ONNX export, bad arguments."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from medseg.errors import ConfigError
from medseg.models import MODELS, create_model

# Small widths so the contract stays fast; a model registered later falls back to its defaults
# until it gets an entry here.
TINY: dict[str, dict] = {
    "unet": {"channels": [4, 8, 16]},
    "attention_unet": {"channels": [4, 8, 16]},
    "res_attention_unet": {"channels": [4, 8, 16]},
    "res_unet": {"channels": [4, 8, 16]},
    "unet_plus_plus": {"channels": [4, 8, 16]},
    "mobile_unet": {"filters": 8, "depth": 2, "bridge_blocks": 1},
}
NAMES = MODELS.names()


def tiny_model(name: str, in_channels: int = 1, classes: int = 2) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model(name, in_channels=in_channels, classes=classes, **TINY.get(name, {}))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(("in_channels", "classes"), [(1, 1), (3, 3), (1, 3)])
def test_output_shape_on_odd_sizes(name: str, in_channels: int, classes: int) -> None:
    model = tiny_model(name, in_channels, classes).eval()
    with torch.no_grad():
        out = model(torch.randn(1, in_channels, 37, 53))
        batch = model(torch.randn(2, in_channels, 40, 41))
    assert isinstance(out, torch.Tensor)
    assert out.shape == (1, classes, 37, 53)
    assert batch.shape == (2, classes, 40, 41)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", NAMES)
def test_gradients_reach_every_parameter(name: str) -> None:
    model = tiny_model(name, 3, 2).train()
    out = model(torch.randn(2, 3, 33, 40))
    outputs = out if isinstance(out, list) else [out]
    torch.stack([o.square().mean() for o in outputs]).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"no gradient for {missing}"
    bad = [n for n, p in model.named_parameters() if not torch.isfinite(p.grad).all()]
    assert not bad, f"non-finite gradient for {bad}"
    assert any(p.grad.abs().sum() > 0 for p in model.parameters())


@pytest.mark.parametrize("name", NAMES)
def test_eval_output_is_deterministic(name: str) -> None:
    model = tiny_model(name)
    model.train()
    with torch.no_grad():
        model(torch.randn(2, 1, 32, 32))  # moves batch-norm statistics away from their initial values
    model.eval()
    image = torch.randn(1, 1, 29, 31)
    with torch.no_grad():
        first, second = model(image), model(image)
    assert torch.equal(first, second)


@pytest.mark.parametrize("name", NAMES)
def test_onnx_export_matches_torch(name: str, tmp_path: Path) -> None:
    model = tiny_model(name, 3, 2).eval()
    image = torch.randn(1, 3, 37, 53)
    path = tmp_path / f"{name}.onnx"
    torch.onnx.export(model, (image,), str(path), input_names=["image"], output_names=["logits"], dynamo=False)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (onnx_out,) = session.run(None, {"image": image.numpy()})
    with torch.no_grad():
        expected = model(image).numpy()
    assert onnx_out.shape == expected.shape
    np.testing.assert_allclose(onnx_out, expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bad", [{"in_channels": 0}, {"classes": 0}])
def test_constructor_rejects_bad_channels(name: str, bad: dict) -> None:
    arguments = {"in_channels": 1, "classes": 2, **bad}
    with pytest.raises(ConfigError, match=r"must be positive; set it to 1 or more") as info:
        create_model(name, **arguments, **TINY.get(name, {}))
    assert isinstance(info.value, ValueError) and name in str(info.value)


DROPOUT_MODELS = [name for name in NAMES if name != "unet_plus_plus" and name != "mobile_unet"]


@pytest.mark.parametrize("name", DROPOUT_MODELS)
@pytest.mark.parametrize("dropout", [-0.1, 1.0])
def test_dropout_outside_zero_one_is_refused_not_ignored(name: str, dropout: float) -> None:
    with pytest.raises(ConfigError, match=r"dropout=.*: must be a probability in \[0, 1\); use 0 for no dropout"):
        create_model(name, dropout=dropout, **TINY.get(name, {}))


def test_bad_channel_list_names_the_fix() -> None:
    with pytest.raises(ConfigError, match=r"channels=\[8\]: give at least 2 positive widths, shallowest first"):
        create_model("unet", channels=[8])


@pytest.mark.parametrize("name", NAMES)
def test_unknown_parameter_is_a_config_error(name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        create_model(name, no_such_parameter=1)


def test_unknown_model_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError) as info:
        create_model("no_such_net")
    for name in NAMES:
        assert name in str(info.value)
