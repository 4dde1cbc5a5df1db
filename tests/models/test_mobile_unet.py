"""Improved Attention MobileU-Net: the paper's parameter count and the sandglass blocks."""

from __future__ import annotations

import pytest
import torch

from medseg.models import count_parameters, create_model
from medseg.models.blocks import SqueezeExcitation
from medseg.models.mobile_unet import MobileUNet, SandglassBlock
from medseg.models.profile import keras_parameter_count


def test_parameter_count_matches_the_paper() -> None:
    model = create_model("mobile_unet", in_channels=3, classes=1)
    # The paper's 574,579 is Keras' total, which counts the batch norms' moving mean and variance.
    assert keras_parameter_count(model) == 574_579
    assert count_parameters(model) == 560_507


def test_layout_follows_the_paper() -> None:
    model = MobileUNet()
    stem, *strided, bridge = model.encoder.levels
    assert model.encoder.pool is None  # the blocks A stride themselves
    assert isinstance(stem[0], torch.nn.Conv2d) and stem[0].out_channels == 16
    assert [(b.body[0].in_channels, b.body[-2].out_channels) for b in strided] == [(16, 32), (32, 64), (64, 128)]
    assert [type(b.post) for b in bridge] == [torch.nn.Identity, torch.nn.Identity, torch.nn.Sequential]
    bridge_depthwise = [m for b in bridge for m in b.body if isinstance(m, torch.nn.Conv2d) and m.groups > 1]
    assert {m.out_channels for m in bridge_depthwise[1:]} == {256}  # the first one acts on the 128-channel input
    assert [b.body[-1].out_channels for b in model.decoder.ups] == [128, 64, 32, 16]
    assert all(isinstance(b.body[-1], torch.nn.ConvTranspose2d) and b.shortcut is None for b in model.decoder.ups)
    assert model.decoder.gates is None
    assert model.head.out_channels == 1


@pytest.mark.parametrize("kind", ["A", "B", "C"])
def test_squeeze_excitation_follows_the_first_depthwise_conv(kind: str) -> None:
    block = SandglassBlock(64, 64, kind)
    layers = list(block.body)
    first_depthwise = next(i for i, m in enumerate(layers) if isinstance(m, torch.nn.Conv2d) and m.groups == 64)
    se_index = next(i for i, m in enumerate(layers) if isinstance(m, SqueezeExcitation))
    assert first_depthwise < se_index
    assert not any(isinstance(m, torch.nn.Conv2d) for m in layers[first_depthwise + 1 : se_index])
    assert layers[se_index].reduce.out_channels == 64 // 8


def test_block_shapes_and_shortcuts() -> None:
    x = torch.randn(2, 8, 9, 12)
    down = SandglassBlock(8, 16, "A", stride=2)
    assert down(x).shape == (2, 16, 5, 6)
    assert isinstance(down.shortcut[0], torch.nn.MaxPool2d) and down.shortcut[1].kernel_size == (1, 1)
    middle = SandglassBlock(8, 8, "B").eval()
    assert isinstance(middle.shortcut, torch.nn.Identity)
    with torch.no_grad():
        assert torch.allclose(middle(x), middle.body(x) + x)
    end = SandglassBlock(8, 8, "C")
    assert float(end(x).min()) >= 0.0 and float(end(x).max()) <= 6.0  # BN + ReLU6 after the addition
    up = SandglassBlock(16, 8, "C", upsample=True)
    assert up(torch.randn(1, 16, 5, 7)).shape == (1, 8, 10, 14)


def test_bottleneck_reduction() -> None:
    block = SandglassBlock(32, 32, "B", reduction=4)
    pointwise = [m for m in block.body if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (1, 1)]
    assert [(m.in_channels, m.out_channels) for m in pointwise] == [(32, 8), (8, 32)]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"kind": "D"}, "kind"),
        ({"kind": "B", "stride": 2}, "stride"),
        ({"kind": "A", "upsample": True}, "block C"),
        ({"se_ratio": -1}, "se_ratio"),
        ({"reduction": 0}, "reduction"),
    ],
)
def test_block_rejects_bad_arguments(arguments: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SandglassBlock(8, 8, **arguments)


def test_model_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="depth"):
        create_model("mobile_unet", depth=0)
