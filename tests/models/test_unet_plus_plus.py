"""U-Net++: nested skips, deep supervision outputs, paper size."""

from __future__ import annotations

import pytest
import torch

from medseg.models import count_parameters, create_model


def test_parameter_count_matches_the_paper() -> None:
    # Zhou et al. (2018), Table 1: UNet++ 9.04M (32..512 filters, no batch norm, 1 class).
    assert count_parameters(create_model("unet_plus_plus", 1, 1, batch_norm=False)) == 9_041_601
    assert count_parameters(create_model("unet_plus_plus", 1, 1, batch_norm=False, deep_supervision=True)) == 9_041_700


def test_deep_supervision_returns_every_head_only_while_training() -> None:
    torch.manual_seed(0)
    model = create_model("unet_plus_plus", 1, 3, channels=[4, 8, 16, 32], deep_supervision=True)
    image = torch.randn(2, 1, 37, 53)
    outputs = model.train()(image)
    assert isinstance(outputs, list) and len(outputs) == 3
    assert all(o.shape == (2, 3, 37, 53) for o in outputs)
    sum(o.mean() for o in outputs).backward()
    assert all(head.weight.grad is not None for head in model.head.heads)

    model.eval()
    with torch.no_grad():
        single = model(image)
        heads = [head(node) for head, node in zip(model.head.heads, _top_nodes(model, image), strict=True)]
    assert isinstance(single, torch.Tensor)
    assert torch.allclose(single, heads[-1][..., :37, :53], atol=1e-6)


def test_eval_output_mean_averages_the_heads() -> None:
    torch.manual_seed(0)
    model = create_model("unet_plus_plus", 1, 2, channels=[4, 8, 16], deep_supervision=True, eval_output="mean")
    image = torch.randn(1, 1, 32, 32)
    with torch.no_grad():
        heads = model.train()(image)  # batch statistics differ from eval, so compare in eval below
        model.eval()
        mean = model(image)
        model.eval_output = "last"
        last = model(image)
    assert len(heads) == 2
    assert not torch.allclose(mean, last)
    assert mean.shape == last.shape == (1, 2, 32, 32)


def test_without_deep_supervision_training_returns_a_tensor() -> None:
    model = create_model("unet_plus_plus", 1, 2, channels=[4, 8, 16]).train()
    assert isinstance(model(torch.randn(2, 1, 16, 16)), torch.Tensor)
    assert len(model.head.heads) == 1


def test_bad_arguments_name_what_to_change() -> None:
    with pytest.raises(ValueError, match="eval_output"):
        create_model("unet_plus_plus", eval_output="max")


def _top_nodes(model: torch.nn.Module, image: torch.Tensor) -> list[torch.Tensor]:
    """X[0][1..L-1] recomputed with forward hooks on the top-level nodes."""
    captured: list[torch.Tensor] = []
    hooks = [node.register_forward_hook(lambda m, i, o: captured.append(o)) for node in model.decoder.nodes[0]]
    try:
        model(image)
    finally:
        for hook in hooks:
            hook.remove()
    return captured
