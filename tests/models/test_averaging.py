"""Weight averaging: element-wise means, integer buffers kept, mismatches named."""

import pytest
import torch

from medseg.errors import RunDirError
from medseg.models.averaging import average_state_dicts


def test_float_tensors_are_averaged_and_integer_buffers_kept():
    a = {"w": torch.tensor([1.0, 3.0]), "bn.num_batches_tracked": torch.tensor(10)}
    b = {"w": torch.tensor([3.0, 5.0]), "bn.num_batches_tracked": torch.tensor(99)}
    mean = average_state_dicts([a, b], ["a.pt", "b.pt"])
    assert torch.equal(mean["w"], torch.tensor([2.0, 4.0]))
    assert mean["w"].dtype == torch.float32
    assert int(mean["bn.num_batches_tracked"]) == 10


def test_a_model_averaged_with_itself_is_unchanged():
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2))
    state = net.state_dict()
    mean = average_state_dicts([state, state, state], ["x", "x", "x"])
    assert all(torch.allclose(mean[k].float(), v.float()) for k, v in state.items())


@pytest.mark.parametrize(
    ("other", "message"),
    [
        ({"w": torch.zeros(2), "extra": torch.zeros(1)}, "b.pt: not the same network"),
        ({"w": torch.zeros(3)}, "b.pt: w"),
    ],
)
def test_other_networks_are_refused_with_the_file_named(other, message):
    with pytest.raises(RunDirError, match=message):
        average_state_dicts([{"w": torch.zeros(2)}, other], ["a.pt", "b.pt"])


def test_one_checkpoint_is_not_an_average():
    with pytest.raises(RunDirError, match="two or more"):
        average_state_dicts([{"w": torch.zeros(2)}], ["a.pt"])
