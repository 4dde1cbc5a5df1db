"""``medseg models``: parameters, FLOPs, latency."""

from __future__ import annotations

import pytest
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


class FakeClock:
    """A ``perf_counter`` that moves only when told: the latency test then needs no wall clock."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Sleeper(torch.nn.Module):
    """Advances a fake clock by a given time per call (seconds); notes eval mode and gradients."""

    def __init__(self, seconds: list[float], clock: FakeClock) -> None:
        super().__init__()
        self.seconds = list(seconds)
        self.clock = clock
        self.calls: list[tuple[bool, bool]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append((self.training, torch.is_grad_enabled()))
        self.clock.now += self.seconds[len(self.calls) - 1]
        return x


def test_latency_is_the_median_of_the_timed_runs_after_the_warm_up(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr("medseg.models.profile.time.perf_counter", clock)
    model = Sleeper([0.3, 0.01, 0.15, 0.02], clock)  # warm-up 300 ms, then 10, 150 and 20 ms
    latency = measure_latency(model, torch.zeros(1), repeats=3, warmup=1)
    assert latency == pytest.approx(20)  # the median: not the mean (60), not the warm-up (300)
    assert model.calls == [(False, False)] * 4
    with pytest.raises(ValueError, match="repeats"):
        measure_latency(model, torch.zeros(1), repeats=0)


def test_models_command_prints_a_table() -> None:
    result = CliRunner().invoke(
        app, ["models", "--architectures", "--name", "unet", "--name", "mobile_unet", "--size", "32", "--repeats", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "mobile_unet" in result.output and "unet" in result.output
    assert f"{count_parameters(create_model('unet')):,}" in result.output
    assert "GFLOPs" in result.output


def test_models_command_rejects_an_unknown_name() -> None:
    result = CliRunner().invoke(app, ["models", "--architectures", "--name", "nope", "--no-latency"])
    assert result.exit_code == 2
    assert "unet" in result.output
