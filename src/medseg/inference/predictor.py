"""Prediction: network (PyTorch module or ONNX Runtime session) -> masks at the original size.

One pipeline for every backend: :func:`medseg.data.preprocessing.prepare_image` (crop, intensity
preprocessing, letterbox, normalisation), the network's logits, probabilities averaged over models
and flips, :func:`unletterbox` back to the image's geometry, argmax and post-processing. A backend
is only the callable that maps ``(N, C, H, W)`` inputs to ``(N, K, H, W)`` logits.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from medseg.config import Config, config_from_dict
from medseg.config_rules import INFER_PRECISIONS
from medseg.data.preprocessing import prepare_image
from medseg.data.transforms import Letterbox, crop_region, unletterbox
from medseg.device import resolve_device, resolve_precision
from medseg.errors import ConfigError, DataError, RunDirError
from medseg.inference.input_scale import input_problem, training_crop, window_zoom
from medseg.inference.postprocess import postprocess, probabilities_to_labels
from medseg.inference.timing import stage
from medseg.measure.ellipse import Ellipse
from medseg.models import to_probabilities
from medseg.models.checkpoint import load_checkpoint, model_from_checkpoint
from medseg.run_folder import RunFolder

Network = Callable[[torch.Tensor], torch.Tensor]  # (N, C, H, W) float32 -> (N, K, H, W) logits


@dataclass
class Prediction:
    """``mask``: ``(H, W)`` uint8 labels; ``probabilities``: ``(C, H, W)`` float32; ``ellipse`` if fitted."""

    mask: np.ndarray
    probabilities: np.ndarray
    ellipse: Ellipse | None


class Predictor:
    """Runs a trained model on native images.

    Args:
        models: one network, or several (e.g. cross-validation folds) whose probabilities are averaged.
            A network is a :class:`torch.nn.Module` or any callable with the same contract, such as
            :class:`medseg.inference.onnx_backend.OnnxNetwork`.
        config: the run's config (preprocessing, post-processing, ``infer`` settings).
        device: torch device for modules (``"auto"``: CUDA when available).
        tta: also predict the horizontally flipped image and average.
        sliding_window: override ``config.infer.sliding_window``.
        scales: multi-scale inference (whole-image mode): the network input is
            ``config.data.image_size`` times each scale, and the probabilities, mapped back to the
            image's own size, are averaged.
        batch_size: override ``config.infer.batch_size`` (images, or windows, per forward pass).
        precision: override ``config.infer.precision``: ``"float32"``, ``"bfloat16"``, or ``"auto"``
            (bfloat16 on a CPU with native bfloat16, :func:`medseg.device.resolve_precision`; PyTorch
            networks under ``torch.autocast``; faster on CPUs with AMX or AVX512-BF16; other networks,
            such as ONNX Runtime sessions, run as they are). ``medseg check-precision`` measures what it
            changes on a validation split.
    """

    TTA_VIEWS: tuple[tuple[int, ...], ...] = ((), (-1,))  # flipped axes of each view: as is, left-right

    def __init__(
        self,
        models: Network | list[Network],
        config: Config,
        device: str = "auto",
        tta: bool = False,
        sliding_window: bool | None = None,
        batch_size: int | None = None,
        scales: Sequence[float] = (1.0,),
        precision: str | None = None,
    ) -> None:
        self.precision = str(precision or config.infer.precision)
        if self.precision not in INFER_PRECISIONS:
            raise ConfigError(f"precision {self.precision!r}: use one of {', '.join(INFER_PRECISIONS)}")
        self.models = list(models) if isinstance(models, list) else [models]
        self.config = config
        self.device = resolve_device(device)
        self.precision = resolve_precision(self.precision, self.device)
        self.tta = tta
        self.sliding_window = config.infer.sliding_window if sliding_window is None else sliding_window
        self.batch_size = max(1, int(batch_size or config.infer.batch_size))
        if not scales or any(s <= 0 for s in scales):
            raise ValueError(f"scales must be positive, got {tuple(scales)}")
        self.scales = tuple(float(s) for s in scales)
        if self.sliding_window and self.scales != (1.0,):
            raise ConfigError(
                f"scales {self.scales}: multi-scale inference resizes whole images; this model runs a sliding "
                "window at the image's own resolution (infer.sliding_window)"
            )
        self.native_crop = training_crop(config)  # None: trained on whole images
        self.zoom = window_zoom(config)
        for model in self.models:
            if isinstance(model, nn.Module):
                model.eval().to(self.device)

    @property
    def backend(self) -> str:
        """``"torch"`` or ``"onnx"``."""
        return "torch" if all(isinstance(m, nn.Module) for m in self.models) else "onnx"

    def _autocast(self, model: Network) -> AbstractContextManager:
        """bfloat16 autocast on the predictor's device for a PyTorch network; nothing otherwise."""
        if self.precision == "bfloat16" and isinstance(model, nn.Module):
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return nullcontext()

    @property
    def window(self) -> tuple[int, int]:
        """Sliding-window size (H, W): ``infer.window``, else ``data.patch_size``, else ``data.image_size``."""
        data = self.config.data
        return tuple(self.config.infer.window or data.patch_size or data.image_size)  # type: ignore[return-value]

    @classmethod
    def from_run(
        cls, run_dir: str | Path, checkpoint: str = "best", device: str = "auto", tta: bool = False, **options
    ) -> Predictor:
        """Loads a run's checkpoint (the rule of :meth:`RunFolder.checkpoint`); ``options``: as the constructor.

        Raises:
            RunDirError: not a run directory, no such checkpoint, or a name leading outside ``run_dir``.
        """
        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise RunDirError(f"{run_dir}: run directory not found")
        path = RunFolder(run_dir).checkpoint(checkpoint)
        state = load_checkpoint(path)
        config = config_from_dict(state.get("config", {}), f"{path} config")
        return cls(model_from_checkpoint(state, path), config, device, tta, **options)

    @torch.no_grad()
    def _scores(self, x: torch.Tensor) -> torch.Tensor:
        """Probabilities ``(N, K, H, W)`` of ``x`` ``(N, C, H, W)``, averaged over models and flips."""
        x = x.to(self.device)
        views = self.TTA_VIEWS if self.tta else ((),)
        total = torch.zeros(())
        for model in self.models:
            for dims in views:
                with self._autocast(model):
                    logits = model(torch.flip(x, dims=dims) if dims else x)
                scores = to_probabilities(logits.float())
                total = total + (torch.flip(scores, dims=dims) if dims else scores)
        return (total / (len(self.models) * len(views))).float()

    def _slides(self, image: np.ndarray) -> bool:
        """Whether ``image`` goes through the sliding window (else: resized whole to ``data.image_size``).

        A model trained on native-resolution crops (:mod:`medseg.inference.input_scale`) takes an
        image of the crop's size whole and slides over any other; without the sliding window such an
        image is refused rather than squeezed.
        """
        if self.native_crop is None:
            return self.sliding_window
        problem = input_problem(self.config, image.shape, self.sliding_window)
        if problem:
            raise DataError("image", problem)
        return tuple(image.shape[:2]) != self.native_crop

    def _prepare(self, image: np.ndarray, scale: float = 1.0, slide: bool = False) -> tuple[np.ndarray, Letterbox]:
        data = self.config.data
        if not slide:
            if scale != 1.0:
                data = dataclasses.replace(data, image_size=[max(8, round(s * scale)) for s in data.image_size])
            return prepare_image(image, data)
        # At the training scale: the image's own resolution, times the crop-to-input zoom of a crop model.
        region = crop_region(image, data.crop, data.crop_foreground)
        size = list(image.shape[:2]) if region is None else [region[2], region[3]]
        size = [max(1, round(s * self.zoom)) for s in size]
        return prepare_image(image, dataclasses.replace(data, image_size=size, keep_aspect=True))

    @torch.no_grad()
    def _slide(self, image: np.ndarray) -> np.ndarray:
        """Sliding-window probabilities ``(classes, H, W)`` of one image at the training scale."""
        from monai.inferers import sliding_window_inference  # importing MONAI takes ~2 s: only here

        with stage("preprocess"):
            array, box = self._prepare(image, slide=True)
        with stage("network"):
            scores = sliding_window_inference(
                torch.from_numpy(array)[None],
                roi_size=self.window,
                sw_batch_size=self.batch_size,
                predictor=self._scores,
                overlap=self.config.infer.overlap,
                mode="gaussian",
                sw_device=self.device,
                device=torch.device("cpu"),
            )
        with stage("postprocess"):
            return unletterbox(torch.as_tensor(scores)[0].numpy(), box)

    @torch.no_grad()
    def _whole(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Probabilities of images resized whole to ``data.image_size`` (averaged over ``scales``)."""
        results: list[np.ndarray] = []
        for scale in self.scales:
            with stage("preprocess"):
                at_size = [self._prepare(image, scale) for image in images]
            at_scale: list[np.ndarray] = []
            for start in range(0, len(at_size), self.batch_size):
                chunk = at_size[start : start + self.batch_size]
                with stage("preprocess"):
                    x = torch.from_numpy(np.stack([array for array, _ in chunk]))
                with stage("network"):
                    scores = self._scores(x).cpu().numpy()
                with stage("postprocess"):
                    at_scale += [unletterbox(s, box) for s, (_, box) in zip(scores, chunk, strict=True)]
            results = at_scale if not results else [a + b for a, b in zip(results, at_scale, strict=True)]
        return [r / len(self.scales) for r in results]

    def probabilities_batch(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Probabilities of several images, ``batch_size`` per forward pass.

        Args:
            images: ``(H, W)`` or ``(H, W, C)`` native images (sizes may differ).

        Returns:
            One ``(classes, H, W)`` float32 array per image, at that image's size.

        Raises:
            DataError: an image that a native-crop model cannot take without the sliding window.
        """
        slides = [self._slides(image) for image in images]
        results: list[np.ndarray | None] = [
            self._slide(image) if slide else None for image, slide in zip(images, slides, strict=True)
        ]
        whole = [index for index, slide in enumerate(slides) if not slide]
        for index, probs in zip(whole, self._whole([images[i] for i in whole]) if whole else [], strict=True):
            results[index] = probs
        return results  # type: ignore[return-value]

    def probabilities(self, image: np.ndarray) -> np.ndarray:
        """Softmax probabilities ``(classes, H, W)`` float32 of one ``(H, W)`` / ``(H, W, C)`` image."""
        return self.probabilities_batch([image])[0]

    def finish(self, probs: np.ndarray) -> Prediction:
        """Argmax of ``(classes, H, W)`` probabilities, then post-processing."""
        with stage("postprocess"):
            labels = probabilities_to_labels(probs, self.config.postprocess)
            mask, ellipse = postprocess(labels, self.config.postprocess, self.config.data.num_classes)
        return Prediction(mask, probs, ellipse)

    def predict(self, image: np.ndarray) -> Prediction:
        """Label map (argmax of probabilities, then post-processing) at the image's own size."""
        return self.finish(self.probabilities(image))

    def predict_batch(self, images: Sequence[np.ndarray]) -> list[Prediction]:
        """:meth:`predict` for several images, batched."""
        return [self.finish(probs) for probs in self.probabilities_batch(images)]


def load_predictor(run_dir: str | Path, checkpoint: str = "best", tta: bool = False, **options) -> Predictor:
    """A predictor for a training run, or for a cross-validation or ensemble folder (its networks averaged).

    ``options``: ``device``, ``sliding_window``, ``batch_size``, ``precision`` as for :class:`Predictor`.
    """
    run = RunFolder(run_dir)
    members = run.members(trained=True)
    if not run.has_checkpoints and members:
        predictors = [Predictor.from_run(m.root, checkpoint) for m in members]
        return Predictor([p.models[0] for p in predictors], predictors[0].config, tta=tta, **options)
    if not run.has_checkpoints:
        raise RunDirError(f"{run_dir}: not a run directory (no checkpoints/ folder)")
    return Predictor.from_run(run_dir, checkpoint, tta=tta, **options)
