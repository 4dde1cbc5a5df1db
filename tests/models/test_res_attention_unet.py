"""Residual Attention U-Net and the residual block."""

from __future__ import annotations

import pytest
import torch

from medseg.models import count_parameters, create_model
from medseg.models.blocks import ResidualBlock
from medseg.models.res_attention_unet import ResAttentionUNet


def test_parameter_count_of_the_liver_configuration() -> None:
    # encoder 64/128/256, bridge 512, decoder 256/128/64, 1 -> 2 classes.
    assert count_parameters(create_model("res_attention_unet", 1, 2)) == 8_175_493


def test_widths_follow_the_paper() -> None:
    model = ResAttentionUNet()
    *encoder, bridge = model.encoder.levels
    assert [block.body[0].out_channels for block in encoder] == [64, 128, 256]
    assert bridge.body[0].out_channels == 512
    assert [block.body[0].out_channels for block in model.decoder.blocks] == [256, 128, 64]
    assert len(model.decoder.gates) == 3


def test_residual_block_shortcuts() -> None:
    same = ResidualBlock(8, 8)
    assert isinstance(same.shortcut, torch.nn.Identity)
    projected = ResidualBlock(4, 8)
    assert isinstance(projected.shortcut[0], torch.nn.Conv2d) and projected.shortcut[0].kernel_size == (1, 1)
    assert projected(torch.randn(2, 4, 9, 7)).shape == (2, 8, 9, 7)


def test_residual_block_output_is_relu_of_body_plus_input() -> None:
    block = ResidualBlock(4, 4).eval()
    x = torch.randn(1, 4, 6, 6)
    with torch.no_grad():
        assert torch.allclose(block(x), torch.relu(block.body(x) + x))


def test_bad_arguments_name_what_to_change() -> None:
    with pytest.raises(ValueError, match="channels"):
        create_model("res_attention_unet", channels=[64, 0])
