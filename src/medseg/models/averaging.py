"""Weight averaging: the mean of several checkpoints of one network (a "model soup").

Averaging works for weights that lie in one basin of the loss, e.g. runs fine-tuned from the same
start, or the best and last checkpoints of one run (Wortsman et al. 2022, "Model soups"; timm's
``avg_checkpoints.py`` does the same for ImageNet models).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from medseg.errors import RunDirError


def average_state_dicts(states: Sequence[Mapping[str, torch.Tensor]], names: Sequence[str]) -> dict[str, torch.Tensor]:
    """The element-wise mean of ``states``, the ``state_dict`` of one architecture each.

    Floating-point tensors (weights, biases, BatchNorm running means and variances) are averaged
    in float64 and cast back; integer buffers (BatchNorm's ``num_batches_tracked``) are the first's.

    Args:
        states: two or more state dicts with the same keys and tensor shapes.
        names: where each came from (a checkpoint path), for error messages.

    Raises:
        RunDirError: fewer than two states, or keys or shapes that differ (names the checkpoint).
    """
    if len(states) < 2:
        raise RunDirError("averaging needs two or more checkpoints")
    first, first_name = states[0], names[0]
    for state, name in zip(states[1:], names[1:], strict=True):
        missing, extra = sorted(set(first) - set(state)), sorted(set(state) - set(first))
        if missing or extra:
            raise RunDirError(
                f"{name}: not the same network as {first_name} "
                f"(missing {missing[:3]}, unexpected {extra[:3]}); only checkpoints of one architecture average"
            )
        for key, value in first.items():
            if state[key].shape != value.shape:
                raise RunDirError(
                    f"{name}: {key} has shape {tuple(state[key].shape)}, {first_name} has {tuple(value.shape)}"
                )
    mean: dict[str, torch.Tensor] = {}
    for key, value in first.items():
        if value.is_floating_point():
            total = sum(state[key].to(torch.float64) for state in states)
            mean[key] = (total / len(states)).to(value.dtype)
        else:
            mean[key] = value.clone()
    return mean
