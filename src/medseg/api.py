"""medseg from Python: load a model, predict an image or a volume, read its measurements.

    import medseg

    model = medseg.load("runs/hc18")  # a run folder, a cross-validation folder or an exported .onnx
    result = model.predict("018_HC.png", pixel_size_mm=0.12)
    result.mask                       # (H, W) uint8 labels at the image's size
    result.measurements["hc_mm"]      # lengths in mm when the pixel size is known, in px otherwise

    ct = medseg.load("runs/liver").predict("patient.zip")  # NIfTI, DICOM folder or zip
    ct.labels, ct.volume.affine, ct.measurements, ct.lesions

The same settings as ``medseg predict``: the model's own preprocessing, post-processing, class
names and size limits; nothing is written to disk.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medseg.data.io import pixel_limit
from medseg.data.transforms import crop_problem
from medseg.data.volumes.base import voxel_limit
from medseg.errors import ConfigError, DataError
from medseg.inference.backends import open_predictor
from medseg.inference.folder import image_row, read_images
from medseg.inference.input_scale import input_problem
from medseg.inference.predictor import Prediction, Predictor
from medseg.inference.qc import extra_passes_wanted, load_calibration
from medseg.inference.volume import VolumeResult, is_volume_input, segment_and_measure
from medseg.measure.units import is_known


@dataclass
class ImageResult:
    """One predicted 2D image.

    Attributes:
        mask: ``(H, W)`` uint8 labels at the input's size (0 background, 1.. the model's classes).
        probabilities: ``(K, H, W)`` float32 class probabilities (``K >= 2``).
        measurements: the ``measurements.csv`` row of ``medseg predict``: areas per class and, for
            a head model, ``hc_<unit>`` and the HC18 ellipse columns; ``<unit>`` is ``mm`` when the
            pixel size is known and ``px`` otherwise, so a length is never mistaken for mm.
        pixel_size_mm: the pixel size used (None: unknown, lengths in pixels).
        name: the image's name (the file stem, or ``stem_frame<k>`` for a multi-frame DICOM).
        prediction: the underlying :class:`medseg.inference.predictor.Prediction` (with the ellipse).
    """

    mask: np.ndarray
    probabilities: np.ndarray
    measurements: dict[str, Any]
    pixel_size_mm: float | None
    name: str
    prediction: Prediction = field(repr=False)


class Model:
    """A loaded model; :func:`load` makes one.

    Attributes:
        predictor: the :class:`medseg.inference.predictor.Predictor` doing the work.
        source: what it was loaded from.
    """

    def __init__(self, predictor: Predictor, source: str | Path) -> None:
        self.predictor = predictor
        self.source = source
        self.calibration = load_calibration(source) if Path(source).is_dir() else None

    @property
    def config(self) -> Any:
        """The model's :class:`medseg.config.Config` (preprocessing, classes, post-processing)."""
        return self.predictor.config

    @property
    def class_names(self) -> list[str]:
        return list(self.config.data.class_names)

    def __repr__(self) -> str:
        return f"Model({str(self.source)!r}, classes={self.class_names}, backend={self.predictor.backend!r})"

    def predict(
        self, source: str | Path | np.ndarray, pixel_size_mm: float | None = None, qc: bool | None = None
    ) -> Any:
        """Predicts one image or one volume.

        Args:
            source: an image file (PNG, JPEG, BMP, TIFF, ``.npy``, single-frame DICOM), an ``(H, W)``
                or ``(H, W, C)`` array, or a volume (NIfTI file, DICOM series folder or zip).
            pixel_size_mm: the image's pixel size; None: the file's own (DICOM ``PixelSpacing``)
                when it has one, else unknown (lengths in pixels). Not used for volumes, whose
                voxel size comes from their header.
            qc: add the QC signals of :mod:`medseg.inference.qc` to an image's measurements (and
                ``qc_score``/``qc_flag`` when the run was calibrated); None: the model's ``eval.qc``,
                without the flipped passes' signals unless the calibrated flag uses them (as ``medseg predict``).

        Returns:
            An :class:`ImageResult`, or for a volume a :class:`medseg.inference.volume.VolumeResult`
            (``labels`` ``(Z, Y, X)`` uint8, ``volume.affine``, ``measurements`` in ml and mm,
            ``lesions``: one row per connected lesion).

        Raises:
            DataError: an unreadable input, or a file holding several images (use :meth:`predict_all`).
        """
        _check_pixel_size(pixel_size_mm, source if not isinstance(source, np.ndarray) else "image")
        if isinstance(source, np.ndarray):
            return self.predict_array(source, pixel_size_mm, qc=qc)
        if is_volume_input(source):
            return self.predict_volume(source)
        results = self.predict_all(source, pixel_size_mm, qc)
        if len(results) != 1:
            raise DataError(source, f"holds {len(results)} images; use Model.predict_all for one result per image")
        return results[0]

    def predict_all(
        self, path: str | Path, pixel_size_mm: float | None = None, qc: bool | None = None
    ) -> list[ImageResult]:
        """One :class:`ImageResult` per image of a file (a multi-frame DICOM holds several)."""
        _check_pixel_size(pixel_size_mm, path)
        items = read_images(Path(path), self.config, self.predictor.sliding_window, pixel_size_mm)
        predictions = self.predictor.predict_batch([item.image for item in items])
        results = []
        for item, prediction in zip(items, predictions, strict=True):
            size = pixel_size_mm if pixel_size_mm is not None else (item.spacing_mm[1] if item.spacing_mm else None)
            results.append(self._result(prediction, item.image, item.name, size, qc))
        return results

    def predict_array(
        self, image: np.ndarray, pixel_size_mm: float | None = None, name: str = "image", qc: bool | None = None
    ) -> ImageResult:
        """Predicts an ``(H, W)`` or ``(H, W, C)`` array as read from an image file."""
        _check_pixel_size(pixel_size_mm, name)
        image = np.asarray(image)
        channels = self.config.data.channels
        if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
            raise DataError(name, f"expected an (H, W) or (H, W, C) image array, got shape {image.shape}")
        if channels == 1 and image.ndim == 3 and image.shape[2] != 1:
            raise DataError(name, f"the model takes grey images (1 channel), got {image.shape[2]} channels")
        problem = crop_problem(image.shape, self.config.data.crop)
        if problem:
            raise DataError(name, f"{problem} (the model's setting)")
        problem = input_problem(self.config, image.shape, self.predictor.sliding_window, pixel_size_mm)
        if problem:
            raise DataError(name, problem)
        with pixel_limit(self.config.data.max_pixels):
            prediction = self.predictor.predict(image)
        return self._result(prediction, image, name, pixel_size_mm, qc)

    def predict_volume(self, path: str | Path) -> VolumeResult:
        """Predicts a NIfTI file or a DICOM series (folder or zip) slice by slice, then measures it.

        Raises:
            ConfigError: the model was loaded with multi-scale inference, which is for 2D images.
        """
        if self.predictor.scales != (1.0,):
            raise ConfigError(f"scales {self.predictor.scales}: multi-scale inference is for 2D images, not {path}")
        config = self.config
        with voxel_limit(config.data.max_voxels), pixel_limit(config.data.max_pixels):
            return segment_and_measure(self.predictor, Path(path))

    def _result(
        self, prediction: Prediction, image: np.ndarray, name: str, pixel_size_mm: float | None, qc: bool | None
    ) -> ImageResult:
        size = float(pixel_size_mm) if pixel_size_mm is not None else None
        passes = extra_passes_wanted(qc, self.calibration)
        qc = self.config.eval.qc if qc is None else qc  # as medseg predict decides
        row = image_row(self.predictor, image, prediction, name, name, size, qc, self.calibration, passes)
        measurements = {k: v for k, v in row.items() if k not in ("filename", "image")}
        return ImageResult(prediction.mask, prediction.probabilities, measurements, size, name, prediction)


def _check_pixel_size(pixel_size_mm: Any, where: Any) -> None:
    if pixel_size_mm is None:
        return
    if isinstance(pixel_size_mm, bool) or not isinstance(pixel_size_mm, int | float) or not is_known(pixel_size_mm):
        raise DataError(where, f"pixel_size_mm={pixel_size_mm!r}: give a positive size in mm, or None")


def load(
    source: str | Path,
    backend: str = "auto",
    checkpoint: str = "best",
    threads: int | None = None,
    tta: bool = False,
    scales: Sequence[float] = (1.0,),
) -> Model:
    """Loads a model for prediction.

    Args:
        source: a run folder (``medseg train``), a cross-validation folder (its folds as an
            ensemble) or an exported ``.onnx`` file (``medseg export``).
        backend: ``"auto"`` (ONNX Runtime when an up-to-date export exists), ``"onnx"`` or ``"torch"``.
        checkpoint: ``"best"`` or ``"last"`` (run folders).
        threads: ONNX Runtime threads (None: its default).
        tta: average over flips (test-time augmentation).
        scales: input scales whose probabilities are averaged (multi-scale inference of whole
            images, on PyTorch), e.g. ``(1, 1.1, 1.2)`` as the fetal-head recipes name.

    Raises:
        RunDirError, ExportError: not a model medseg can load (the message names the file).
        ConfigError: multi-scale asked of an ONNX model, or of a sliding-window model.
    """
    return Model(open_predictor(source, backend, checkpoint, tta=tta, threads=threads, scales=scales), source)
