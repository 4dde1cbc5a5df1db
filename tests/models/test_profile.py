"""``medseg models``: parameters, FLOPs, latency."""

from __future__ import annotations

import torch
from typer.testing import CliRunner

from medseg.cli import app
from medseg.models import count_parameters, create_model
from medseg.models.profile import count_flops, keras_parameter_count, measure_latency, profile_markdown, profile_model


def test_flops_are_twice_the_multiply_accumulates() -> None:
    conv = torch.nn.Conv2d(2, 4, 3, padding=1, bias=False)
    macs = 2 * 4 * 3 * 3 * 8 * 8
    assert count_flops(conv, torch.randn(1, 2, 8, 8)) == 2 * macs


def test_keras_count_adds_batch_norm_statistics() -> None:
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 1), torch.nn.BatchNorm2d(3))
    assert count_parameters(model) == 6 + 6
    assert keras_parameter_count(model) == 6 + 6 + 6


def test_profile_uses_the_factory_defaults() -> None:
    profile = profile_model("mobile_unet", size=32, latency=False)
    assert (profile.in_channels, profile.classes) == (3, 1)
    assert profile.parameters == count_parameters(create_model("mobile_unet", 3, 1))
    assert profile.gflops > 0 and profile.latency_ms is None
    assert "| mobile_unet | 3 -> 1 |" in profile_markdown([profile])


def test_latency_is_a_positive_median() -> None:
    assert measure_latency(torch.nn.Identity(), torch.zeros(1), repeats=3) >= 0


def test_models_command_prints_a_table() -> None:
    result = CliRunner().invoke(
        app, ["models", "--name", "unet", "--name", "mobile_unet", "--size", "32", "--repeats", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "mobile_unet" in result.output and "unet" in result.output
    assert f"{count_parameters(create_model('unet')):,}" in result.output
    assert "GFLOPs" in result.output


def test_models_command_rejects_an_unknown_name() -> None:
    result = CliRunner().invoke(app, ["models", "--name", "nope", "--no-latency"])
    assert result.exit_code == 2
    assert "unet" in result.output
