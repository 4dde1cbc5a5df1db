"""Every registered loss against a value computed by hand from its definition, on tiny tensors."""

from __future__ import annotations

import math

import pytest
import torch

from medseg.errors import ConfigError
from medseg.losses import LOSSES, DeepSupervisionLoss, create_loss, main_output, main_output_index

S = 1e-5  # the losses' default smoothing

# Binary, single logit: two pixels with p = sigmoid(logit) = 0.5 and 0.75; truth 0 and 1.
BINARY_LOGITS = torch.tensor([[[[0.0, math.log(3.0)]]]])  # (1, 1, 1, 2)
BINARY_TARGET = torch.tensor([[[[0, 1]]]])  # (1, 1, 1, 2)
P, G = [0.5, 0.75], [0, 1]

# Three classes: pixel 1 softmax (0.25, 0.5, 0.25), pixel 2 (1/3, 1/3, 1/3); truth 1 and 2.
MULTI_LOGITS = torch.tensor([[[[0.0, 0.0]], [[math.log(2.0), 0.0]], [[0.0, 0.0]]]])  # (1, 3, 1, 2)
MULTI_TARGET = torch.tensor([[[[1, 2]]]])
PROBS = [[0.25, 1 / 3], [0.5, 1 / 3], [0.25, 1 / 3]]  # [class][pixel]
TRUTH = [1, 2]


def soft_dice_loss(p: list[float], g: list[int]) -> float:
    inter = sum(pi * gi for pi, gi in zip(p, g, strict=True))
    return 1 - (2 * inter + S) / (sum(p) + sum(g) + S)


def tversky_index(p: list[float], g: list[int], alpha: float, beta: float, smooth: float = S) -> float:
    tp = sum(pi * gi for pi, gi in zip(p, g, strict=True))
    fn = sum((1 - pi) * gi for pi, gi in zip(p, g, strict=True))
    fp = sum(pi * (1 - gi) for pi, gi in zip(p, g, strict=True))
    return (tp + smooth) / (tp + alpha * fn + beta * fp + smooth)


def bce() -> float:
    return -sum(math.log(pi if gi else 1 - pi) for pi, gi in zip(P, G, strict=True)) / len(P)


def multi_truth(label: int) -> list[int]:
    return [int(t == label) for t in TRUTH]


def multi_ce() -> float:
    return -sum(math.log(PROBS[t][i]) for i, t in enumerate(TRUTH)) / len(TRUTH)


def multi_dice() -> float:  # foreground classes 1 and 2
    return sum(soft_dice_loss(PROBS[c], multi_truth(c)) for c in (1, 2)) / 2


def multi_tversky(alpha: float, beta: float, exponent: float = 1.0, smooth: float = S) -> float:
    return sum((1 - tversky_index(PROBS[c], multi_truth(c), alpha, beta, smooth)) ** exponent for c in (1, 2)) / 2


def distance_term(p: list[float], g: list[int]) -> float:
    """Hausdorff DT term (alpha 1) on a 1x2 image: a mask with one pixel in and one out puts both
    pixels at distance 1 from its outline; a mask without an outline adds nothing."""

    def distance(mask: list[bool]) -> float:
        return 1.0 if any(mask) and not all(mask) else 0.0

    weight = distance([pi > 0.5 for pi in p]) + distance([gi == 1 for gi in g])
    return sum((pi - gi) ** 2 * weight for pi, gi in zip(p, g, strict=True)) / len(p)


def multi_distance() -> float:  # foreground classes 1 and 2
    return sum(distance_term(PROBS[c], multi_truth(c)) for c in (1, 2)) / 2


BINARY_EXPECTED = {
    "ce": bce(),
    "dice": soft_dice_loss(P, G),
    "dice_ce": soft_dice_loss(P, G) + bce(),
    "bce_dice": soft_dice_loss(P, G) + bce(),
    "tversky": 1 - tversky_index(P, G, 0.7, 0.3),
    "focal_tversky": (1 - tversky_index(P, G, 0.7, 0.3)) ** 0.75,
    "focal_tversky_ce": (1 - tversky_index(P, G, 0.7, 0.3, smooth=1.0)) ** 0.75 + bce(),
    "dice_ce_hausdorff": soft_dice_loss(P, G) + bce() + distance_term(P, G),
}
MULTI_EXPECTED = {
    "ce": multi_ce(),
    "dice": multi_dice(),
    "dice_ce": multi_dice() + multi_ce(),
    "bce_dice": multi_dice() + multi_ce(),
    "tversky": multi_tversky(0.7, 0.3),
    "focal_tversky": multi_tversky(0.7, 0.3, 0.75),
    "focal_tversky_ce": multi_tversky(0.7, 0.3, 0.75, smooth=1.0) + multi_ce(),
    "dice_ce_hausdorff": multi_dice() + multi_ce() + multi_distance(),
}


def test_every_registered_loss_has_hand_computed_values():
    assert set(LOSSES.names()) == set(BINARY_EXPECTED) == set(MULTI_EXPECTED)


def test_values_worked_out_on_paper():
    # p = (0.5, 0.75), g = (0, 1): Dice 1 - 1.5/2.25; BCE (ln 2 + ln 4/3) / 2; TI = 0.75 / 1.075
    assert create_loss("dice")(BINARY_LOGITS, BINARY_TARGET).item() == pytest.approx(1 / 3, abs=1e-5)
    assert create_loss("ce")(BINARY_LOGITS, BINARY_TARGET).item() == pytest.approx(0.490415, abs=1e-6)
    assert create_loss("tversky")(BINARY_LOGITS, BINARY_TARGET).item() == pytest.approx(1 - 0.75 / 1.075, abs=1e-5)
    assert create_loss("ce")(MULTI_LOGITS, MULTI_TARGET).item() == pytest.approx((math.log(2) + math.log(3)) / 2)


@pytest.mark.parametrize("name", sorted(BINARY_EXPECTED))
def test_single_logit_binary(name):
    loss = create_loss(name)(BINARY_LOGITS, BINARY_TARGET)
    assert loss.item() == pytest.approx(BINARY_EXPECTED[name], abs=1e-5)


@pytest.mark.parametrize("name", sorted(MULTI_EXPECTED))
def test_multi_class(name):
    loss = create_loss(name)(MULTI_LOGITS, MULTI_TARGET)
    assert loss.item() == pytest.approx(MULTI_EXPECTED[name], abs=1e-5)


@pytest.mark.parametrize("name", sorted(BINARY_EXPECTED))
def test_single_logit_equals_two_class_softmax(name):
    # softmax over (0, z) is sigmoid(z): both conventions give the same loss
    two_class = torch.cat([torch.zeros_like(BINARY_LOGITS), BINARY_LOGITS], dim=1)
    loss_fn = create_loss(name)
    assert loss_fn(two_class, BINARY_TARGET).item() == pytest.approx(loss_fn(BINARY_LOGITS, BINARY_TARGET).item())


@pytest.mark.parametrize("name", sorted(BINARY_EXPECTED))
def test_gradients_flow_and_targets_without_channel_axis(name):
    logits = torch.randn(2, 3, 4, 5, requires_grad=True)
    target = torch.randint(0, 3, (2, 1, 4, 5))
    loss = create_loss(name)(logits, target)
    loss.backward()
    assert torch.isfinite(loss) and logits.grad is not None and logits.grad.abs().sum() > 0
    assert create_loss(name)(logits, target[:, 0]).item() == pytest.approx(loss.item())


def test_tversky_alpha_weighs_false_negatives():
    # p = (0.5, 0.75), g = (0, 1): FN = 0.25, FP = 0.5; all weight on FN gives TI = 0.75 / 1.0
    loss = create_loss("tversky", alpha=1.0, beta=0.0)(BINARY_LOGITS, BINARY_TARGET)
    assert loss.item() == pytest.approx(1 - (0.75 + S) / (1.0 + S), abs=1e-6)
    half = create_loss("tversky", alpha=0.5, beta=0.5)(BINARY_LOGITS, BINARY_TARGET)
    assert half.item() == pytest.approx(BINARY_EXPECTED["dice"], abs=1e-5)  # alpha = beta = 0.5: Dice (but smoothing)


def test_focal_tversky_gamma_conventions():
    tversky = BINARY_EXPECTED["tversky"]
    abraham = create_loss("focal_tversky", gamma=4 / 3)(BINARY_LOGITS, BINARY_TARGET)
    power = create_loss("focal_tversky", gamma=0.75, invert_gamma=False)(BINARY_LOGITS, BINARY_TARGET)
    squared = create_loss("focal_tversky", gamma=2.0, invert_gamma=False)(BINARY_LOGITS, BINARY_TARGET)
    assert abraham.item() == pytest.approx(power.item()) == pytest.approx(tversky**0.75, abs=1e-6)
    assert squared.item() == pytest.approx(tversky**2, abs=1e-6)


def test_class_weighted_cross_entropy():
    # weights (1, 3): (1 * ln 2 + 3 * ln 4/3) / (1 + 3)
    loss = create_loss("ce", weight=[1.0, 3.0])(BINARY_LOGITS, BINARY_TARGET)
    assert loss.item() == pytest.approx((math.log(2) + 3 * math.log(4 / 3)) / 4, abs=1e-6)
    two_class = torch.cat([torch.zeros_like(BINARY_LOGITS), BINARY_LOGITS], dim=1)
    assert create_loss("ce", weight=[1.0, 3.0])(two_class, BINARY_TARGET).item() == pytest.approx(loss.item())


def test_dice_with_background_and_batch_pooling():
    # background channel: p = (0.5, 0.25), g = (1, 0)
    with_bg = create_loss("dice", include_background=True)(BINARY_LOGITS, BINARY_TARGET)
    assert with_bg.item() == pytest.approx((soft_dice_loss([0.5, 0.25], [1, 0]) + soft_dice_loss(P, G)) / 2, abs=1e-6)
    logits = torch.cat([BINARY_LOGITS, -BINARY_LOGITS])  # second sample: p = (0.5, 0.25)
    target = torch.cat([BINARY_TARGET, BINARY_TARGET])
    pooled = create_loss("dice", batch=True)(logits, target)
    assert pooled.item() == pytest.approx(soft_dice_loss(P + [0.5, 0.25], G + G), abs=1e-6)


def test_bad_names_and_parameters_are_config_errors():
    with pytest.raises(ConfigError, match="known: bce_dice, ce, dice"):
        create_loss("dicee")
    with pytest.raises(ConfigError, match="alpha and beta"):
        create_loss("tversky", alpha=-1.0)
    with pytest.raises(ConfigError, match="gamma"):
        create_loss("focal_tversky", gamma=0.0)
    with pytest.raises(ConfigError, match="unexpected keyword"):
        create_loss("dice", alpha=0.3)
    with pytest.raises(ValueError, match="does not fit"):
        create_loss("dice")(BINARY_LOGITS, torch.zeros(1, 1, 2, 2, dtype=torch.long))


def test_deep_supervision_weights():
    base = create_loss("ce")
    outputs = [torch.zeros(1, 1, 1, 2), BINARY_LOGITS]  # U-Net++ order: the last is the final head
    first, last = base(outputs[0], BINARY_TARGET).item(), base(outputs[1], BINARY_TARGET).item()
    equal = DeepSupervisionLoss(base, "equal")(outputs, BINARY_TARGET)
    assert equal.item() == pytest.approx((first + last) / 2)
    halving = DeepSupervisionLoss(base, "halving")(outputs, BINARY_TARGET)
    assert halving.item() == pytest.approx((0.5 * first + 1.0 * last) / 1.5)
    explicit = DeepSupervisionLoss(base, weights=[0.2, 1.0])(outputs, BINARY_TARGET)
    assert explicit.item() == pytest.approx(0.2 * first + last)
    assert DeepSupervisionLoss(base)(BINARY_LOGITS, BINARY_TARGET).item() == pytest.approx(last)
    assert main_output(outputs) is outputs[1]
    with pytest.raises(ValueError, match="2 deep supervision weights"):
        DeepSupervisionLoss(base, weights=[1.0, 1.0])([BINARY_LOGITS] * 3, BINARY_TARGET)
    with pytest.raises(ValueError, match="equal"):
        DeepSupervisionLoss(base, "thirds")


def test_deep_supervision_lower_resolution_heads():
    # nnU-Net order: full resolution first, then half; the target is downsampled (nearest) for the half
    target = torch.tensor([[[[1, 1, 0, 0], [1, 1, 0, 0]]]])  # (1, 1, 2, 4)
    full, half = torch.randn(1, 2, 2, 4), torch.randn(1, 2, 1, 2)
    assert main_output_index([full, half]) == 0
    base = create_loss("ce")
    expected = (base(full, target).item() + 0.5 * base(half, torch.tensor([[[[1, 0]]]])).item()) / 1.5
    assert DeepSupervisionLoss(base, "halving")([full, half], target).item() == pytest.approx(expected, abs=1e-6)


def test_focal_tversky_with_cross_entropy_term():
    import torch.nn.functional as F

    logits = torch.randn(2, 2, 8, 8, generator=torch.Generator().manual_seed(0))
    target = (torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(1)) > 0.7).long()
    plain = create_loss("focal_tversky", alpha=0.7, beta=0.3)(logits, target)
    combined = create_loss("focal_tversky", alpha=0.7, beta=0.3, lambda_ce=0.5)(logits, target)
    assert combined.item() == pytest.approx(plain.item() + 0.5 * F.cross_entropy(logits, target[:, 0]).item(), rel=1e-5)


def test_the_distance_term_grows_with_how_far_a_boundary_is_off():
    target = torch.zeros(1, 1, 32, 32, dtype=torch.long)
    target[..., 8:24, 8:24] = 1
    loss = create_loss("dice_ce_hausdorff", lambda_dice=0.0, lambda_ce=0.0)
    costs = []
    for shrink in (1, 3):
        logits = torch.full((1, 1, 32, 32), -6.0)
        logits[..., 8 + shrink : 24 - shrink, 8 + shrink : 24 - shrink] = 6.0
        costs.append(loss(logits, target).item())
    assert costs[1] > 3 * costs[0] > 0  # three rings of missed pixels, each farther out: more than 3x one ring
    with pytest.raises(ConfigError, match="alpha"):
        create_loss("dice_ce_hausdorff", alpha=0)
    with pytest.raises(ConfigError, match="non-negative"):
        create_loss("dice_ce_hausdorff", lambda_hd=-1)


def test_the_2d_distance_transform_gives_monais_hausdorff_loss():
    from monai.losses import HausdorffDTLoss

    from medseg.losses import HausdorffDTLoss2D

    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 3, 24, 40, generator=generator, requires_grad=True)
    target = torch.randint(0, 3, (4, 1, 24, 40), generator=generator)
    target[0] = 0  # a sample without any outline: no distances in either
    options = {"include_background": False, "to_onehot_y": True, "softmax": True}
    ours, monais = HausdorffDTLoss2D(**options)(logits, target), HausdorffDTLoss(**options)(logits, target)
    assert ours.item() == pytest.approx(monais.item(), rel=1e-5)
    (ours_grad,) = torch.autograd.grad(ours, logits)
    (monais_grad,) = torch.autograd.grad(monais, logits)
    assert torch.allclose(ours_grad, monais_grad, rtol=1e-4, atol=1e-8)
    volume = torch.rand(2, 1, 6, 6, 6, generator=generator)  # 3D: MONAI's own transform
    assert torch.equal(HausdorffDTLoss2D().distance_field(volume), HausdorffDTLoss().distance_field(volume))
