"""Prediction: checkpoint -> model rebuilt from its stored spec -> masks at the original size."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from medseg.config import Config, config_from_dict
from medseg.data.dataset import prepare_image
from medseg.data.transforms import unletterbox
from medseg.device import resolve_device
from medseg.errors import RunDirError
from medseg.inference.postprocess import postprocess
from medseg.measure.ellipse import Ellipse
from medseg.models import to_probabilities
from medseg.models.checkpoint import load_checkpoint, model_from_checkpoint


@dataclass
class Prediction:
    """``mask``: ``(H, W)`` uint8 labels; ``probabilities``: ``(C, H, W)`` float32; ``ellipse`` if fitted."""

    mask: np.ndarray
    probabilities: np.ndarray
    ellipse: Ellipse | None


class Predictor:
    """Runs a trained model on native images.

    Args:
        models: one model, or several (e.g. cross-validation folds) whose probabilities are averaged.
        config: the run's config (preprocessing, post-processing).
        tta: also predict the horizontally flipped image and average.
        scales: multi-scale inference: the network input is ``config.data.image_size`` times each
            scale, and the probabilities (back at the image's own size) are averaged.
    """

    def __init__(
        self,
        models: nn.Module | list[nn.Module],
        config: Config,
        device: str = "auto",
        tta: bool = False,
        scales: tuple[float, ...] = (1.0,),
    ):
        self.models = [m.eval() for m in (models if isinstance(models, list) else [models])]
        self.config = config
        self.device = resolve_device(device)
        self.tta = tta
        if not scales or any(s <= 0 for s in scales):
            raise ValueError(f"scales must be positive, got {scales}")
        self.scales = tuple(scales)
        for model in self.models:
            model.to(self.device)

    @classmethod
    def from_run(
        cls,
        run_dir: str | Path,
        checkpoint: str = "best",
        device: str = "auto",
        tta: bool = False,
        scales: tuple[float, ...] = (1.0,),
    ) -> Predictor:
        """Loads ``run_dir/checkpoints/<checkpoint>.pt``.

        Raises:
            RunDirError: not a run directory or no such checkpoint.
        """
        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise RunDirError(f"{run_dir}: run directory not found")
        state = load_checkpoint(run_dir / "checkpoints" / f"{checkpoint}.pt")
        config = config_from_dict(state["config"], f"{run_dir} checkpoint config")
        return cls(model_from_checkpoint(state), config, device, tta, scales)

    @torch.no_grad()
    def probabilities(self, image: np.ndarray) -> np.ndarray:
        """Softmax probabilities at the image's own size.

        Args:
            image: ``(H, W)`` or ``(H, W, C)`` native image.

        Returns:
            ``(classes, H, W)`` float32.
        """
        total = None
        for scale in self.scales:
            data = self.config.data
            if scale != 1.0:
                data = dataclasses.replace(data, image_size=[max(8, round(s * scale)) for s in data.image_size])
            array, box = prepare_image(image, data)
            x = torch.from_numpy(array)[None].to(self.device)
            for model in self.models:
                scores = to_probabilities(model(x))
                if self.tta:
                    flipped = to_probabilities(model(torch.flip(x, dims=[-1])))
                    scores = (scores + torch.flip(flipped, dims=[-1])) / 2
                native = unletterbox(scores[0].float().cpu().numpy(), box)
                total = native if total is None else total + native
        return total / (len(self.models) * len(self.scales))

    def predict(self, image: np.ndarray) -> Prediction:
        """Label map (argmax of probabilities, then post-processing) at the image's own size."""
        probs = self.probabilities(image)
        labels = probs.argmax(0).astype(np.uint8)
        mask, ellipse = postprocess(labels, self.config.postprocess, self.config.data.num_classes)
        return Prediction(mask, probs, ellipse)


def load_predictor(run_dir: str | Path, checkpoint: str = "best", tta: bool = False) -> Predictor:
    """A predictor for a training run, or for a cross-validation directory (its folds as an ensemble)."""
    run_dir = Path(run_dir)
    folds = sorted(p for p in run_dir.glob("fold_*") if (p / "checkpoints").is_dir())
    if not (run_dir / "checkpoints").is_dir() and folds:
        predictors = [Predictor.from_run(f, checkpoint) for f in folds]
        return Predictor([p.models[0] for p in predictors], predictors[0].config, tta=tta)
    if not (run_dir / "checkpoints").is_dir():
        raise RunDirError(f"{run_dir}: not a run directory (no checkpoints/ folder)")
    return Predictor.from_run(run_dir, checkpoint, tta=tta)
