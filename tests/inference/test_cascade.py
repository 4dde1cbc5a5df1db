"""The liver cascade: stage 1's liver box handed to stage 2, and both run as one model by medseg predict."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from typer.testing import CliRunner

from medseg.cli import app
from medseg.config import Config
from medseg.data.phantoms.ct import display_affine, sphere_phantom
from medseg.data.volumes.base import Volume
from medseg.data.volumes.nifti import open_nifti, save_nifti
from medseg.data.volumes.roi import region_box
from medseg.errors import ConfigError
from medseg.inference.cascade import CascadePredictor
from medseg.inference.predictor import Prediction

runner = CliRunner()
SPACING = (2.0, 1.0, 1.0)
LIVER_HU, TUMOUR_HU = 60, 15


def _config(margin: float | None = None, context: int = 0) -> Config:
    config = Config()
    config.data.num_classes, config.data.class_names = 3, ["background", "liver", "tumour"]
    if margin is not None:
        config.data.reader = {"roi_margin_mm": margin, "context_slices": context}
    return config


class ThresholdStage:
    """Stand-in network: liver where the HU is the phantom's liver or tumour value; records its inputs."""

    def __init__(self, config: Config, tumour: bool = False) -> None:
        self.config, self.batch_size, self.tumour, self.shapes = config, 4, tumour, []

    def predict_batch(self, slices):
        out = []
        for image in slices:
            self.shapes.append(image.shape)
            centre = image[..., image.shape[-1] // 2] if image.ndim == 3 else image
            mask = np.isin(centre, (LIVER_HU, TUMOUR_HU)).astype(np.uint8)
            if self.tumour:
                mask[centre == TUMOUR_HU] = 2
            out.append(Prediction(mask, np.zeros((3, *mask.shape), np.float32), None))
        return out


def test_stage_one_hands_over_the_phantoms_liver_box_and_stage_two_fills_it():
    hu, labels = sphere_phantom((24, 64, 64), SPACING, 20.0, [((0.0, 5.0, -5.0), 6.0)])
    hu = np.pad(hu, ((0, 0), (0, 0), (0, 30)), constant_values=-1000)  # off-centre: the box is not the volume
    labels = np.pad(labels, ((0, 0), (0, 0), (0, 30)))
    volume = Volume(hu, display_affine(SPACING, hu.shape))
    stage1, stage2 = ThresholdStage(_config()), ThresholdStage(_config(margin=4.0, context=1), tumour=True)
    cascade = CascadePredictor(stage1, stage2)  # type: ignore[arg-type]
    predicted, _ = cascade.predict_volume_slices(volume)
    box = region_box(labels, SPACING, 4.0)
    assert cascade.last_box == box and box[2].stop < hu.shape[2]
    assert len(stage2.shapes) == box[0].stop - box[0].start  # stage 2 saw the box's slices only...
    assert stage2.shapes[0] == (box[1].stop - box[1].start, box[2].stop - box[2].start, 3)  # ...with 2 neighbours
    np.testing.assert_array_equal(predicted, labels)  # a perfect stage 2 gives the labels back, also outside
    assert cascade.config is stage2.config and cascade.batch_size == 4


def test_no_liver_from_stage_one_gives_background_and_a_stage_two_without_a_box_is_refused():
    volume = Volume(np.full((4, 16, 16), -1000, np.int16), display_affine(SPACING, (4, 16, 16)))
    cascade = CascadePredictor(ThresholdStage(_config()), ThresholdStage(_config(margin=5.0)))  # type: ignore[arg-type]
    labels, probabilities = cascade.predict_volume_slices(volume, keep_probabilities=True)
    assert not labels.any() and probabilities[0].min() == 1 and cascade.last_box is None
    with pytest.raises(ConfigError, match="roi_margin_mm"):
        CascadePredictor(ThresholdStage(_config()), ThresholdStage(_config()))  # type: ignore[arg-type]


def _tiny_run(folder, config: Config, channels: int) -> None:
    import torch

    from medseg.models import create_model
    from medseg.models.checkpoint import save_checkpoint

    torch.manual_seed(0)
    spec = {"name": "unet", "in_channels": channels, "classes": 3, "params": {"channels": [4, 8]}}
    model = create_model("unet", in_channels=channels, classes=3, channels=[4, 8])
    state = {"model": spec, "state_dict": model.state_dict(), "config": dataclasses.asdict(config)}
    save_checkpoint(folder / "checkpoints" / "best.pt", state)


def test_predict_runs_both_stages_as_one_model(tmp_path):
    stage1 = _config()
    stage1.data.image_size, stage1.data.window = [32, 32], [100.0, 300.0]
    stage2 = _config(margin=4.0, context=1)
    stage2.data.image_size, stage2.data.window, stage2.data.channels = [32, 32], [100.0, 300.0], 3
    stage2.infer.stage1 = "stage1"  # relative to the stage-2 run folder
    run = tmp_path / "cascade"
    _tiny_run(run / "stage1", stage1, 1)
    _tiny_run(run, stage2, 3)
    hu, _ = sphere_phantom((6, 40, 40), SPACING, 12.0, [((0.0, 0.0, 0.0), 4.0)])
    source = save_nifti(hu.transpose(2, 1, 0), display_affine(SPACING, hu.shape), tmp_path / "ct.nii.gz")
    out = tmp_path / "out"
    result = runner.invoke(app, ["predict", str(run), str(source), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "cascade: stage 1" in result.output
    labels = open_nifti(out / "labels" / "ct.nii.gz")
    assert labels.shape == (40, 40, 6) and (out / "volumes.csv").is_file()
