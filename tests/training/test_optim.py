"""Optimisers and learning-rate schedules, including the polyp study's step schedule."""

from __future__ import annotations

import pytest
import torch

from medseg.config import TrainConfig
from medseg.errors import ConfigError
from medseg.training.optim import build_optimizer, build_scheduler, polyp_step_milestones


def lrs(cfg: TrainConfig, values: list[float] | None = None) -> list[float]:
    """The learning rate used in each epoch 1..cfg.epochs (the scheduler steps after each epoch)."""
    optimizer = build_optimizer([torch.nn.Parameter(torch.zeros(1))], cfg)
    scheduler = build_scheduler(optimizer, cfg)
    used = []
    for epoch in range(cfg.epochs):
        used.append(optimizer.param_groups[0]["lr"])
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step(values[epoch])
        elif scheduler is not None:
            scheduler.step()
    return used


def test_polyp_step_divides_by_ten_after_epoch_30_then_every_5():
    cfg = TrainConfig(epochs=45, lr=1e-3, scheduler="polyp_step", scheduler_params={"start": 30, "every": 5})
    used = lrs(cfg)
    assert used[:30] == pytest.approx([1e-3] * 30)  # epochs 1-30
    assert used[30:35] == pytest.approx([1e-4] * 5)  # epochs 31-35
    assert used[35:40] == pytest.approx([1e-5] * 5)
    assert used[40] == pytest.approx(1e-6)
    assert polyp_step_milestones(45) == [30, 35, 40]


def test_polyp_step_defaults_and_factor():
    used = lrs(TrainConfig(epochs=36, lr=1.0, scheduler="polyp_step", scheduler_params={"factor": 0.5}))
    assert used[29] == 1.0 and used[30] == 0.5 and used[35] == 0.25


@pytest.mark.parametrize(
    ("name", "params", "check"),
    [
        ("cosine", {}, lambda u: u[0] == 1.0 and u[5] == pytest.approx(0.5) and u[-1] < 0.03),
        ("poly", {"power": 1.0}, lambda u: u[5] == pytest.approx(0.5)),
        ("step", {"step_size": 4, "gamma": 0.1}, lambda u: u[3] == 1.0 and u[4] == pytest.approx(0.1)),
        ("multistep", {"milestones": [2, 7]}, lambda u: u[1] == 1.0 and u[2] == pytest.approx(0.1)),
        ("none", {}, lambda u: u == [1.0] * 10),
    ],
)
def test_schedules(name, params, check):
    assert check(lrs(TrainConfig(epochs=10, lr=1.0, scheduler=name, scheduler_params=params)))


def test_plateau_follows_the_metric_direction():
    rising = [0.1 * i for i in range(10)]  # a Dice that keeps improving: no reduction
    cfg = TrainConfig(epochs=10, lr=1.0, scheduler="plateau", scheduler_params={"patience": 1}, monitor="val_dice")
    assert lrs(cfg, rising) == [1.0] * 10
    cfg.monitor = "val_loss"  # the same numbers as a loss never improve
    assert lrs(cfg, rising)[-1] < 1.0


def test_optimisers():
    cfg = TrainConfig(optimizer="sgd", lr=0.1, momentum=0.8, weight_decay=1e-4)
    optimizer = build_optimizer([torch.nn.Parameter(torch.zeros(1))], cfg)
    assert isinstance(optimizer, torch.optim.SGD) and optimizer.defaults["momentum"] == 0.8
    assert optimizer.defaults["weight_decay"] == 1e-4
    with pytest.raises(ConfigError, match="adam, adamw or sgd"):
        build_optimizer([torch.nn.Parameter(torch.zeros(1))], TrainConfig(optimizer="lamb"))


def test_bad_schedules_are_config_errors():
    param = [torch.nn.Parameter(torch.zeros(1))]
    with pytest.raises(ConfigError, match="polyp_step"):
        build_scheduler(build_optimizer(param, TrainConfig()), TrainConfig(scheduler="warmup"))
    with pytest.raises(ConfigError, match="start, every, factor"):
        cfg = TrainConfig(scheduler="polyp_step", scheduler_params={"begin": 3})
        build_scheduler(build_optimizer(param, cfg), cfg)
    with pytest.raises(ConfigError, match="every >= 1"):
        cfg = TrainConfig(scheduler="polyp_step", scheduler_params={"every": 0})
        build_scheduler(build_optimizer(param, cfg), cfg)


def test_cosine_time_follows_the_training_time_budget():
    import math

    import torch

    from medseg.config import TrainConfig
    from medseg.errors import ConfigError
    from medseg.training.optim import TimeBudgetCosine, build_scheduler

    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    scheduler = build_scheduler(optimizer, TrainConfig(scheduler="cosine_time", max_minutes=10))
    assert isinstance(scheduler, TimeBudgetCosine)
    scheduler.update(0)
    assert optimizer.param_groups[0]["lr"] == 0.1
    scheduler.update(300)
    assert math.isclose(optimizer.param_groups[0]["lr"], 0.05)
    scheduler.step()  # epoch ends change nothing
    assert math.isclose(optimizer.param_groups[0]["lr"], 0.05)
    scheduler.update(10_000)
    assert optimizer.param_groups[0]["lr"] == 0.0
    try:
        build_scheduler(optimizer, TrainConfig(scheduler="cosine_time", max_minutes=None))
    except ConfigError as error:
        assert "max_minutes" in str(error)
    else:
        raise AssertionError("cosine_time without a budget must be rejected")
