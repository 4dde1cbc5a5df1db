"""Segmentation losses over logits ``(N, C, H, W)`` and integer targets ``(N, 1, H, W)``.

Every loss accepts both output conventions of :mod:`medseg.models`: ``C == 1`` is a single-logit
binary model (sigmoid), ``C >= 2`` are mutually exclusive classes (softmax). Region losses (Dice,
Tversky) run on :func:`medseg.models.to_probabilities`, i.e. on ``max(C, 2)`` class channels, so a
single-logit model and a two-class softmax model are scored by the same definition; the
cross-entropy terms use the logits directly (``BCEWithLogits`` for ``C == 1``, softmax
cross-entropy otherwise) for numerical stability. The region terms are MONAI's ``DiceLoss`` and
``TverskyLoss``.

Registry names (``create_loss(name, **params)``): ``dice``, ``ce``, ``dice_ce``, ``bce_dice``,
``tversky``, ``focal_tversky``, ``focal_tversky_ce``, ``dice_ce_hausdorff``. :class:`DeepSupervisionLoss`
wraps any of them for models that return a list of logits while training (U-Net++ with deep supervision).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from monai import losses as ml
from torch import nn

from medseg.errors import ConfigError
from medseg.models import to_probabilities
from medseg.registry import Registry

LOSSES: Registry = Registry("loss")


def _as_target(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Targets as ``(N, 1, H, W)`` int64 (also accepts ``(N, H, W)``)."""
    if target.dim() == logits.dim() - 1:
        target = target.unsqueeze(1)
    if target.shape[0] != logits.shape[0] or target.shape[1] != 1 or target.shape[2:] != logits.shape[2:]:
        raise ValueError(
            f"target {tuple(target.shape)} does not fit logits {tuple(logits.shape)}; expected (N, 1, H, W)"
        )
    return target.long()


def _cross_entropy(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """Mean (class-weighted) cross-entropy; binary cross-entropy with logits when ``C == 1``.

    With ``weight`` ``(2,)`` for a single-logit model each pixel counts with the weight of its
    class and the mean is divided by the summed weights, as ``nn.CrossEntropyLoss`` does.
    """
    if logits.shape[1] == 1:
        per_pixel = F.binary_cross_entropy_with_logits(logits, target.to(logits.dtype), reduction="none")
        if weight is None:
            return per_pixel.mean()
        pixel_weight = weight.to(logits.device, logits.dtype)[target]
        return (pixel_weight * per_pixel).sum() / pixel_weight.sum()
    if weight is not None:
        weight = weight.to(logits.device, logits.dtype)
    return F.cross_entropy(logits, target[:, 0], weight=weight)


def _class_weight(weight: list[float] | None) -> torch.Tensor | None:
    if weight is None:
        return None
    if len(weight) < 2 or any(w < 0 for w in weight):
        raise ValueError(f"weight must give one non-negative weight per class (at least 2), got {weight}")
    return torch.tensor([float(w) for w in weight])


class CrossEntropy(nn.Module):
    """Softmax cross-entropy (``C >= 2``) or binary cross-entropy with logits (``C == 1``).

    Args:
        weight: optional per-class weights (background first), e.g. ``[0.2, 0.8]``.

    ``forward(logits (N, C, H, W), target (N, 1, H, W) int) -> scalar``.
    """

    def __init__(self, weight: list[float] | None = None) -> None:
        super().__init__()
        self.weight = _class_weight(weight)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return _cross_entropy(logits, _as_target(logits, target), self.weight)


class RegionLoss(nn.Module):
    """A MONAI overlap loss (Dice, Tversky) on class probabilities with one-hot targets.

    Args:
        loss: a MONAI loss built with ``to_onehot_y=True`` and no activation.
        focal_exponent: if given, the per-class, per-sample losses ``1 - index`` are raised to this
            power before averaging (focal Tversky); ``loss`` must then use ``reduction="none"``.
    """

    def __init__(self, loss: nn.Module, focal_exponent: float | None = None) -> None:
        super().__init__()
        self.loss = loss
        self.focal_exponent = focal_exponent

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        value = self.loss(to_probabilities(logits), _as_target(logits, target))
        if self.focal_exponent is None:
            return value
        # clamp: (1 - TI)**e with e < 1 has an infinite gradient at a perfect prediction
        return value.clamp_min(1e-7).pow(self.focal_exponent).mean()


class RegionCrossEntropy(nn.Module):
    """``sum(lambda_region * region loss) + lambda_ce * cross-entropy`` (Dice + CE, BCE + Dice, and
    Dice + CE + a boundary term), over ``(region loss, lambda_region)`` pairs."""

    def __init__(self, regions: list[tuple[nn.Module, float]], lambda_ce: float, weight: torch.Tensor | None) -> None:
        super().__init__()
        if lambda_ce < 0 or any(lam < 0 for _, lam in regions):
            raise ValueError("the loss weights (lambda_*) must be non-negative")
        self.regions = nn.ModuleList([region for region, _ in regions])
        self.lambda_regions = [lam for _, lam in regions]
        self.lambda_ce = lambda_ce
        self.weight = weight

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        target = _as_target(logits, target)
        loss = self.lambda_ce * _cross_entropy(logits, target, self.weight)
        for region, lam in zip(self.regions, self.lambda_regions, strict=True):
            loss = loss + lam * region(logits, target)
        return loss


def _dice(include_background: bool, smooth: float, batch: bool) -> RegionLoss:
    return RegionLoss(
        ml.DiceLoss(
            include_background=include_background, to_onehot_y=True, smooth_nr=smooth, smooth_dr=smooth, batch=batch
        )
    )


def _tversky(
    alpha: float, beta: float, include_background: bool, smooth: float, batch: bool, reduction: str = "mean"
) -> ml.TverskyLoss:
    if alpha < 0 or beta < 0 or alpha + beta == 0:
        raise ValueError(f"alpha and beta must be non-negative and not both 0, got alpha={alpha}, beta={beta}")
    # MONAI's alpha weighs false positives and beta false negatives: the reverse of ours.
    return ml.TverskyLoss(
        include_background=include_background,
        to_onehot_y=True,
        alpha=beta,
        beta=alpha,
        smooth_nr=smooth,
        smooth_dr=smooth,
        batch=batch,
        reduction=reduction,
    )


@LOSSES.register("ce")
def cross_entropy(weight: list[float] | None = None) -> nn.Module:
    """Cross-entropy: ``-mean(log p_true)`` (softmax), or binary cross-entropy for ``C == 1``."""
    return CrossEntropy(weight)


@LOSSES.register("dice")
def dice(include_background: bool = False, smooth: float = 1e-5, batch: bool = False) -> nn.Module:
    """Soft Dice ``1 - (2 sum(p g) + s) / (sum p + sum g + s)`` per sample and class, averaged.

    Args:
        include_background: also score the background channel.
        smooth: ``s``, added to numerator and denominator.
        batch: pool the sums over the batch before dividing (one Dice per class).
    """
    return _dice(include_background, smooth, batch)


@LOSSES.register("dice_ce")
def dice_ce(
    include_background: bool = False,
    lambda_dice: float = 1.0,
    lambda_ce: float = 1.0,
    smooth: float = 1e-5,
    weight: list[float] | None = None,
) -> nn.Module:
    """``lambda_dice * Dice + lambda_ce * cross-entropy`` (as MONAI's ``DiceCELoss``); ``weight``: CE class weights."""
    return RegionCrossEntropy(
        [(_dice(include_background, smooth, False), lambda_dice)], lambda_ce, _class_weight(weight)
    )


@LOSSES.register("bce_dice")
def bce_dice(
    include_background: bool = False,
    lambda_dice: float = 1.0,
    lambda_bce: float = 1.0,
    smooth: float = 1e-5,
    weight: list[float] | None = None,
) -> nn.Module:
    """``lambda_bce * BCE + lambda_dice * Dice``, the polyp studies' loss for single-logit models.

    With ``C >= 2`` classes the BCE term is its multi-class form, softmax cross-entropy, which
    makes this loss equal to ``dice_ce``.
    """
    return dice_ce(include_background, lambda_dice, lambda_bce, smooth, weight)


@LOSSES.register("tversky")
def tversky(
    alpha: float = 0.7, beta: float = 0.3, include_background: bool = False, smooth: float = 1e-5, batch: bool = False
) -> nn.Module:
    """Tversky loss ``1 - TI`` with ``TI = (TP + s) / (TP + alpha FN + beta FP + s)``.

    ``alpha`` weighs false negatives and ``beta`` false positives, as in Abraham & Khan (2019);
    ``alpha = beta = 0.5`` is the Dice loss. (MONAI's ``TverskyLoss`` names them the other way
    round; this wrapper swaps them.) ``TP = sum(p g)``, ``FN = sum((1 - p) g)``, ``FP = sum(p (1 - g))``
    per sample and class (pooled over the batch with ``batch=True``), then averaged.
    """
    return RegionLoss(_tversky(alpha, beta, include_background, smooth, batch))


@LOSSES.register("focal_tversky")
def focal_tversky(
    alpha: float = 0.7,
    beta: float = 0.3,
    gamma: float = 4 / 3,
    invert_gamma: bool = True,
    include_background: bool = False,
    smooth: float = 1e-5,
    batch: bool = False,
    lambda_ce: float = 0.0,
    weight: list[float] | None = None,
) -> nn.Module:
    """Focal Tversky loss: the mean over samples and classes of ``(1 - TI) ** e``.

    Two conventions for the exponent exist. Abraham & Khan (ISBI 2019), who introduced the loss,
    write ``(1 - TI) ** (1 / gamma)`` and recommend ``gamma = 4/3`` (``e = 0.75``): the default,
    ``invert_gamma=True``. Many later papers and code bases write ``(1 - TI) ** gamma`` (so their
    ``gamma = 0.75`` is the same loss): set ``invert_gamma=False``. ``gamma = 1`` is the Tversky
    loss in both. ``TI`` is defined as in :func:`tversky` (``alpha`` on false negatives).
    ``lambda_ce > 0`` adds ``lambda_ce`` times the (``weight``-ed) cross-entropy, which calibrates
    the per-pixel probabilities that the region term alone leaves flat.
    """
    if gamma <= 0:
        raise ValueError(f"gamma must be positive, got {gamma}")
    exponent = 1.0 / gamma if invert_gamma else gamma
    region = RegionLoss(_tversky(alpha, beta, include_background, smooth, batch, reduction="none"), exponent)
    if lambda_ce == 0 and weight is None:
        return region
    return RegionCrossEntropy([(region, 1.0)], lambda_ce, _class_weight(weight))


@LOSSES.register("focal_tversky_ce")
def focal_tversky_ce(
    alpha: float = 0.7,
    beta: float = 0.3,
    gamma: float = 4 / 3,
    invert_gamma: bool = True,
    include_background: bool = False,
    smooth: float = 1.0,
    batch: bool = True,
    lambda_ft: float = 1.0,
    lambda_ce: float = 1.0,
    weight: list[float] | None = None,
) -> nn.Module:
    """``lambda_ft * focal Tversky + lambda_ce * cross-entropy`` (``weight``: CE class weights).

    The cross-entropy gives every pixel a gradient, also on slices where a class is absent (where a
    per-slice Tversky index is flat); the focal Tversky term keeps the recall-weighted overlap.
    Defaults pool the Tversky sums over the batch (``batch=True``) with ``smooth = 1``.
    """
    region = focal_tversky(alpha, beta, gamma, invert_gamma, include_background, smooth, batch)
    return RegionCrossEntropy([(region, lambda_ft)], lambda_ce, _class_weight(weight))


class HausdorffDTLoss2D(ml.HausdorffDTLoss):
    """MONAI's ``HausdorffDTLoss`` with OpenCV's exact Euclidean distance transform for 2D batches
    ``(N, 1, H, W)`` (the same fields as SciPy's to float32 rounding, about 6x faster on a CPU); other
    inputs keep MONAI's."""

    def distance_field(self, img: torch.Tensor) -> torch.Tensor:
        if img.dim() != 4 or img.shape[1] != 1:
            return super().distance_field(img)
        masks = (img > 0.5).cpu().numpy().astype(np.uint8)
        field = np.zeros(masks.shape, dtype=np.float32)
        for index, (mask,) in enumerate(masks):
            if mask.any() and not mask.all():  # no outline: no distances, as in MONAI
                inside, outside = (
                    cv2.distanceTransform(m, cv2.DIST_L2, cv2.DIST_MASK_PRECISE) for m in (mask, 1 - mask)
                )
                field[index, 0] = inside + outside
        return torch.from_numpy(field).to(img.device)


@LOSSES.register("dice_ce_hausdorff")
def dice_ce_hausdorff(
    include_background: bool = False,
    lambda_dice: float = 1.0,
    lambda_ce: float = 1.0,
    lambda_hd: float = 1.0,
    alpha: float = 1.0,
    smooth: float = 1e-5,
    weight: list[float] | None = None,
) -> nn.Module:
    """``dice_ce + lambda_hd * HD``, with HD the distance-transform Hausdorff loss of Karimi &
    Salcudean (IEEE TMI 2019), MONAI's ``HausdorffDTLoss``: per sample and class,
    ``mean((p - g)**2 * (d_p**alpha + d_g**alpha))``, where ``d_p`` and ``d_g`` are each pixel's
    distance (pixels) to the outline of the thresholded prediction and of the reference. A pixel far
    from the reference outline that is predicted wrong costs more than one next to it, so a boundary
    pulled in or pushed out by several pixels is penalised beyond its area.
    """
    if alpha <= 0:
        raise ValueError(f"alpha must be positive, got {alpha}")
    distance = RegionLoss(HausdorffDTLoss2D(alpha=alpha, include_background=include_background, to_onehot_y=True))
    regions = [(_dice(include_background, smooth, False), lambda_dice), (distance, lambda_hd)]
    return RegionCrossEntropy(regions, lambda_ce, _class_weight(weight))


def create_loss(name: str, **params: Any) -> nn.Module:
    """Builds a registered loss.

    Raises:
        ConfigError: unknown name or bad parameters.
    """
    try:
        factory = LOSSES.get(name)
    except KeyError as exc:
        raise ConfigError(str(exc.args[0])) from None
    try:
        return factory(**params)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"loss {name!r}: {exc}") from None


def main_output_index(outputs: list[torch.Tensor] | tuple[torch.Tensor, ...]) -> int:
    """Index of the final prediction among a deeply supervised model's outputs.

    The last of the outputs with the largest spatial size: U-Net++ returns full-resolution heads
    from shallow to deep (the last is the final one); decoders that return ``[full, 1/2, 1/4, ...]``
    put it first.
    """
    sizes = [o.shape[-2] * o.shape[-1] for o in outputs]
    largest = max(sizes)
    return max(i for i, s in enumerate(sizes) if s == largest)


def main_output(outputs: torch.Tensor | list[torch.Tensor] | tuple[torch.Tensor, ...]) -> torch.Tensor:
    """The final logits ``(N, C, H, W)`` of a model's output (a tensor, or a deep-supervision list)."""
    if isinstance(outputs, torch.Tensor):
        return outputs
    return outputs[main_output_index(outputs)]


class DeepSupervisionLoss(nn.Module):
    """Applies ``loss`` to each output of a deeply supervised model and sums with weights.

    A single tensor goes straight to ``loss``. For a list, the target is resized (nearest) to
    heads of another size and the weights are, by distance ``d`` (in list positions) from the
    final head (see :func:`main_output_index`): ``"equal"`` ``1 / K`` each (the U-Net++ paper's
    average), ``"halving"`` ``0.5 ** d`` normalised to sum 1 (as nnU-Net); explicit ``weights``
    (one per output, in list order) are used as given.

    Args:
        loss: a loss over ``(logits (N, C, H, W), target (N, 1, H, W))``.
        mode: ``"equal"`` or ``"halving"``.
        weights: explicit weights, overriding ``mode``.
    """

    def __init__(self, loss: nn.Module, mode: str = "equal", weights: list[float] | None = None) -> None:
        super().__init__()
        if mode not in ("equal", "halving"):
            raise ValueError(f"deep supervision mode must be 'equal' or 'halving', got {mode!r}")
        if weights is not None and (not weights or any(w < 0 for w in weights)):
            raise ValueError(
                f"deep supervision weights must be a non-empty list of non-negative numbers, got {weights}"
            )
        self.loss = loss
        self.mode = mode
        self.weights = [float(w) for w in weights] if weights is not None else None

    def output_weights(self, count: int, main: int) -> list[float]:
        """Weights of ``count`` outputs whose final head is at index ``main``."""
        if self.weights is not None:
            if len(self.weights) != count:
                raise ValueError(f"{len(self.weights)} deep supervision weights for a model with {count} outputs")
            return self.weights
        raw = [1.0 if self.mode == "equal" else 0.5 ** abs(i - main) for i in range(count)]
        return [w / sum(raw) for w in raw]

    def forward(self, outputs: torch.Tensor | list[torch.Tensor], target: torch.Tensor) -> torch.Tensor:
        if isinstance(outputs, torch.Tensor):
            return self.loss(outputs.float(), target)
        weights = self.output_weights(len(outputs), main_output_index(outputs))
        total = outputs[0].new_zeros((), dtype=torch.float32)
        for weight, output in zip(weights, outputs, strict=True):
            head_target = target
            if output.shape[-2:] != target.shape[-2:]:
                head_target = F.interpolate(target.float(), size=output.shape[-2:], mode="nearest-exact").long()
            total = total + weight * self.loss(output.float(), head_target)
        return total
