"""U-Net: the classic configuration's size."""

from __future__ import annotations

from medseg.models import count_parameters, create_model


def test_classic_unet_has_31_million_parameters() -> None:
    # Ronneberger et al.'s 64..1024 network, 1 input channel, 2 classes, no batch norm: 31.03M.
    assert count_parameters(create_model("unet", 1, 2, batch_norm=False)) == 31_030_658
    # The default adds batch norm (2 parameters per channel) and drops the conv biases before it.
    assert round(count_parameters(create_model("unet", 1, 2)) / 1e6, 1) == 31.0


def test_unet_plus_plus_papers_baseline_unet_size() -> None:
    # Zhou et al. (2018), Table 1: U-Net with 32..512 filters, 7.76M parameters.
    assert count_parameters(create_model("unet", 1, 1, channels=[32, 64, 128, 256, 512], batch_norm=False)) == 7_759_521
