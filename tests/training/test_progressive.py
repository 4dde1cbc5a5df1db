"""Progressive resizing: the schedule, the resized batches, and a run whose first epochs train smaller."""

from __future__ import annotations

import pytest
import torch

from medseg.config import load_config
from medseg.errors import ConfigError
from medseg.experiments.train import train_run
from medseg.training.progressive import describe, resize_batch, size_at

from ..conftest import DETERMINISTIC, TINY
from .forward_recorder import ForwardsPerEpoch

SCHEDULE = [[2, [16, 24]], [3, [24, 32]]]


def test_size_at_follows_the_schedule_then_the_data_size():
    assert [size_at(SCHEDULE, epoch) for epoch in (1, 2, 3, 4, 9)] == [(16, 24), (16, 24), (24, 32), None, None]
    assert size_at([], 1) is None
    assert describe(SCHEDULE) == "16x24 up to epoch 2, 24x32 up to epoch 3"


def test_resize_batch_keeps_labels_dtype_and_memory_format():
    images = torch.randn(2, 3, 32, 48).contiguous(memory_format=torch.channels_last)
    masks = torch.zeros(2, 1, 32, 48, dtype=torch.long)
    masks[:, :, 8:24, 12:36] = 2  # a block that survives the halving
    small_images, small_masks = resize_batch(images, masks, (16, 24))
    assert small_images.shape == (2, 3, 16, 24) and small_masks.shape == (2, 1, 16, 24)
    assert small_images.is_contiguous(memory_format=torch.channels_last)
    assert small_masks.dtype == torch.long and set(small_masks.unique().tolist()) == {0, 2}
    assert small_masks[:, :, 4:12, 6:18].eq(2).all() and small_masks.sum() == 2 * 8 * 12 * 2
    assert small_images.mean().item() == pytest.approx(images.mean().item(), abs=0.05)  # averaged, not sampled
    same_images, same_masks = resize_batch(images, masks, (32, 48))
    assert same_images is images and same_masks is masks


@pytest.mark.parametrize(
    "value, problem",
    [
        ("[[2,[16,24]],[2,[24,32]]]", "increasing order"),
        ("[[0,[16,24]]]", "increasing order"),
        ("[[2,[16]]]", "[H, W]"),
        ("[[2,[16,0]]]", "[H, W]"),
        ("[[2,16]]", "[last_epoch, [H, W]]"),
        ("[[1.5,[16,24]]]", "whole numbers"),
    ],
)
def test_a_bad_schedule_is_refused_with_the_key_and_the_reason(value, problem):
    with pytest.raises(ConfigError, match=r"train\.progressive_resize") as error:
        load_config("demo", [f"train.progressive_resize={value}"])
    assert problem in str(error.value)


def training_batch_sizes() -> ForwardsPerEpoch:
    """The (H, W) of the batches the network saw in training, per epoch (validation excluded)."""
    return ForwardsPerEpoch(lambda module, inputs, output: tuple(inputs[0].shape[-2:]) if module.training else None)


def test_a_run_trains_its_first_epochs_at_the_scheduled_sizes(fetal_data, tmp_path, capsys):
    overrides = TINY + DETERMINISTIC + ["train.epochs=4", "train.iterations_per_epoch=2", "train.tensorboard=false"]
    config = load_config("demo", overrides + ["train.progressive_resize=[[2,[16,24]],[3,[24,32]]]"])
    sizes = training_batch_sizes()
    result = train_run(config, fetal_data, tmp_path / "run", callbacks=[sizes])
    assert sizes.by_epoch == [{(16, 24)}, {(16, 24)}, {(24, 32)}, {(32, 48)}]
    assert result.epochs_run == 4
    assert "training batches at 16x24 up to epoch 2, 24x32 up to epoch 3, 32x48 after" in capsys.readouterr().err
