"""Every model is encoder -> decoder -> head, and weights saved under the earlier key names still load.

``data/legacy_state_dicts.json`` was written by the models as they were before their parts became
explicit (keys such as ``encoders.0...``, ``bridge...``, ``nodes.1.2...``, ``net.model.1.submodule...``):
for each tiny configuration, the old key names and shapes, and the eval output of the network
holding :func:`legacy_value` weights on the image of :func:`legacy_image`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from medseg.models import MODELS, create_model
from medseg.models.base import Encoder, EncoderDecoder, UNetDecoder, legacy_key
from medseg.models.checkpoint import reorder_legacy_optimizer_state
from medseg.models.res_unet import split_monai_unet

LEGACY = json.loads((Path(__file__).parent / "data" / "legacy_state_dicts.json").read_text())


def legacy_value(index: int, key: str, shape: list[int]) -> torch.Tensor:
    """Seeded weights for the ``index``-th key (positive running variances, zero batch counts)."""
    if key.endswith("num_batches_tracked"):
        return torch.zeros(shape, dtype=torch.int64)
    value = torch.randn(shape, generator=torch.Generator().manual_seed(index)) * 0.5
    return value.abs() + 0.5 if key.endswith("running_var") else value


def legacy_image() -> torch.Tensor:
    return torch.randn(1, 1, 13, 11, generator=torch.Generator().manual_seed(1234))


def legacy_state(name: str) -> dict[str, torch.Tensor]:
    entry = LEGACY[name]
    pairs = zip(entry["keys"], entry["shapes"], strict=True)
    return {key: legacy_value(i, key, shape) for i, (key, shape) in enumerate(pairs)}


def legacy_model(name: str) -> nn.Module:
    return create_model(name, in_channels=1, classes=2, **LEGACY[name]["params"])


def test_every_registered_model_has_a_legacy_fixture() -> None:
    assert sorted(LEGACY) == MODELS.names()


@pytest.mark.parametrize("name", sorted(LEGACY))
def test_state_dict_with_old_key_names_loads_with_the_same_output(name: str) -> None:
    model = legacy_model(name)
    model.load_state_dict(legacy_state(name))  # strict: every old key finds its place
    with torch.no_grad():
        output = model.eval()(legacy_image())
    expected = torch.tensor(LEGACY[name]["output"]).reshape(LEGACY[name]["output_shape"])
    # float32 kernels differ between CPUs (seen: 2.2e-5 on an AMD EPYC against the recorded Intel output);
    # a key loaded into the wrong place changes the output by orders of magnitude more
    torch.testing.assert_close(output, expected, atol=1e-4, rtol=1e-4)
    # the new names round-trip into a fresh model, untouched by the renaming
    again = legacy_model(name)
    again.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert torch.equal(again.eval()(legacy_image()), output)


@pytest.mark.parametrize("name", ["unet", "res_unet", "unet_plus_plus"])
def test_old_names_load_inside_a_larger_module(name: str) -> None:
    wrapper = nn.ModuleDict({"net": legacy_model(name)})
    wrapper.load_state_dict({f"net.{key}": value for key, value in legacy_state(name).items()})
    reference = legacy_model(name)
    reference.load_state_dict(legacy_state(name))
    loaded, expected = wrapper["net"].state_dict(), reference.state_dict()
    assert list(loaded) == list(expected)
    assert all(torch.equal(loaded[key], expected[key]) for key in expected)


@pytest.mark.parametrize("name", sorted(LEGACY))
def test_legacy_prefixes_map_every_old_key_to_a_new_one(name: str) -> None:
    model = legacy_model(name)
    renamed = [legacy_key(key, model.legacy_prefixes) for key in LEGACY[name]["keys"]]
    assert sorted(renamed) == sorted(model.state_dict())
    assert not [key for key in model.state_dict() if legacy_key(key, model.legacy_prefixes) != key]


@pytest.mark.parametrize("name", sorted(LEGACY))
def test_forward_is_head_of_decoder_of_encoder(name: str) -> None:
    model = legacy_model(name).eval()
    assert isinstance(model, EncoderDecoder)
    image = torch.randn(2, 1, 4 * model.multiple, 2 * model.multiple)
    with torch.no_grad():
        features = model.encoder(image)
        composed = model.head(model.decoder(features))
        assert torch.equal(composed, model(image))
    assert isinstance(model.encoder, Encoder) and len(features) == len(model.encoder.levels)
    assert [f.shape[-1] for f in features][-1] * model.multiple == image.shape[-1]  # the bottleneck is the deepest


def test_parts_refuse_what_does_not_fit() -> None:
    with pytest.raises(ValueError, match="2 or more levels"):
        Encoder([nn.Identity()])
    with pytest.raises(ValueError, match=r"ups: give one per decoder block \(2\), got 1"):
        UNetDecoder([nn.Identity(), nn.Identity()], ups=[nn.Identity()])
    decoder = UNetDecoder([nn.Identity()])
    with pytest.raises(ValueError, match="takes 2 feature maps, got 3"):
        decoder([torch.zeros(1), torch.zeros(1), torch.zeros(1)])
    with pytest.raises(ValueError, match="not a MONAI UNet"):
        split_monai_unet(_holder(nn.Sequential(nn.Identity())))


def _holder(model: nn.Module) -> nn.Module:
    """A module whose ``model`` is ``model``, as MONAI's ``UNet`` holds its layers."""
    holder = nn.Module()
    holder.model = model
    return holder


@pytest.mark.parametrize("name", sorted(LEGACY))
def test_optimizer_state_saved_with_the_old_parameter_order_resumes_on_the_right_parameters(name: str) -> None:
    old_state = legacy_state(name)
    model = legacy_model(name)
    model.load_state_dict(old_state)
    parameters = dict(model.named_parameters())
    # an optimiser over the earlier layout: its parameters in the old order, each with a known buffer
    now = {key: parameters[new] for key in old_state if (new := legacy_key(key, model.legacy_prefixes)) in parameters}
    before = torch.optim.SGD(list(now.values()), lr=0.1, momentum=0.9)
    for key, parameter in now.items():
        before.state[parameter]["momentum_buffer"] = old_state[key].clone()
    saved = before.state_dict()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    optimizer.load_state_dict(reorder_legacy_optimizer_state(model, old_state, saved))
    for key, parameter in now.items():
        assert torch.equal(optimizer.state[parameter]["momentum_buffer"], old_state[key])
    optimizer.step()  # the buffers fit their parameters
    # a state written by the current layout is left as it is
    current = optimizer.state_dict()
    assert reorder_legacy_optimizer_state(model, model.state_dict(), current) is current
