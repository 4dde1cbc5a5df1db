"""Attention U-Net and its attention gate."""

from __future__ import annotations

import pytest
import torch

from medseg.models import count_parameters, create_model
from medseg.models.blocks import AttentionGate


def test_64x64_input_reaches_4x4x256_at_the_bottom() -> None:
    model = create_model("attention_unet", in_channels=1, classes=2)
    with torch.no_grad():
        assert model.bottom(torch.zeros(1, 1, 64, 64)).shape == (1, 256, 4, 4)


def test_parameter_count_of_the_lung_nodule_configuration() -> None:
    # channels 16..256, two 3x3 conv + ReLU per level, no batch norm, gates on 4 skips, 1 -> 2 classes.
    assert count_parameters(create_model("attention_unet", 1, 2)) == 1_973_718


def test_gate_coefficients_are_a_resampled_map_in_unit_range() -> None:
    torch.manual_seed(0)
    gate = AttentionGate(x_channels=8, g_channels=16)
    x, g = torch.randn(2, 8, 12, 10), torch.randn(2, 16, 6, 5)
    alpha = gate.attention(x, g)
    assert alpha.shape == (2, 1, 12, 10)
    assert float(alpha.min()) >= 0.0 and float(alpha.max()) <= 1.0
    assert torch.allclose(gate(x, g), x * alpha)


def test_gate_can_close_a_skip() -> None:
    gate = AttentionGate(x_channels=4, g_channels=4)
    with torch.no_grad():
        gate.psi[0].bias.fill_(-50.0)  # sigmoid ~ 0 everywhere
    out = gate(torch.randn(1, 4, 8, 8), torch.randn(1, 4, 4, 4))
    assert out.abs().max() < 1e-6


def test_bad_arguments_name_what_to_change() -> None:
    with pytest.raises(ValueError, match="channels"):
        create_model("attention_unet", channels=[16])
    with pytest.raises(ValueError, match="upsample"):
        create_model("attention_unet", upsample="cubic")
