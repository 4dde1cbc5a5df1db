"""The fit loop: checkpoints, history, TensorBoard, early stopping, clipping, deep supervision."""

from __future__ import annotations

import csv
import json
import math

import pytest
import torch

from medseg.config import load_config
from medseg.experiments.train import train_run
from medseg.models import MODELS
from medseg.models.checkpoint import load_checkpoint
from medseg.training.callbacks import Callback, EarlyStopping

from ..conftest import DETERMINISTIC, TINY
from .forward_recorder import ForwardsPerEpoch


class Recorder(Callback):
    """Keeps the weights at the start and end of training and every iteration's loss."""

    def __init__(self) -> None:
        self.start: dict[str, torch.Tensor] = {}
        self.end: dict[str, torch.Tensor] = {}
        self.losses: list[float] = []

    def on_fit_start(self, model, start_epoch, iteration):
        self.start = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def on_iteration_end(self, iteration, values):
        self.losses.append(values["loss"])

    def on_fit_end(self, model):
        self.end = {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_run_files_checkpoint_keys_and_tensorboard(fetal_data, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir = tmp_path / "run"
    train_run(load_config("demo", TINY), fetal_data, run_dir)
    state = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    for key in ("model", "state_dict", "optimizer", "epoch", "best_score", "best_epoch", "rng", "config"):
        assert key in state, key
    assert state["epoch"] == 2 and state["scaler"] is None and state["world_size"] == 1  # no AMP on CPU
    with (run_dir / "history.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["epoch"] for r in rows if r["level"] == "epoch" and r["phase"] == "val"] == ["1", "2"]
    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    tags = events.Tags()["scalars"]
    assert {"train/loss", "train/loss_iter", "val/loss", "val/dice", "lr"} <= set(tags)
    assert len(events.Scalars("val/loss")) == 2
    val_losses = [float(r["loss"]) for r in rows if r["level"] == "epoch" and r["phase"] == "val"]
    assert [e.value for e in events.Scalars("val/loss")] == pytest.approx(val_losses, rel=1e-5)


def test_early_stopping_ends_a_run_that_stopped_improving(fetal_data, tmp_path):
    run_dir = tmp_path / "run"
    overrides = TINY + DETERMINISTIC + ["train.epochs=6", "train.lr=1e-12", "train.monitor=val_loss"]
    overrides += ["train.early_stopping_patience=2", "train.early_stopping_min_delta=0.01"]
    result = train_run(load_config("demo", overrides), fetal_data, run_dir)
    # lr ~0 and no batch norm: the validation loss of epoch 1 is never beaten; two epochs later it stops
    assert result.stopped_early and result.stop_reason == "early_stopping" and result.epochs_run == 3
    assert json.loads((run_dir / "run.json").read_text())["result"]["stop_reason"] == "early_stopping"
    saved = load_checkpoint(run_dir / "checkpoints" / "last.pt")["callbacks"]
    assert saved["EarlyStopping:0"] == {"best": pytest.approx(result.best_score), "wait": 2}


def test_early_stopping_min_delta_and_state():
    stopper = EarlyStopping("val_dice", patience=2, min_delta=0.05)
    assert not stopper.on_epoch_end(1, 1, {"val_dice": 0.5})
    assert not stopper.on_epoch_end(2, 2, {"val_dice": 0.54})  # +0.04 < min_delta: no improvement
    assert not stopper.on_epoch_end(3, 3, {"train_loss": 0.1})  # no validation: not counted
    restored = EarlyStopping("val_dice", patience=2, min_delta=0.05)
    restored.load_state_dict(stopper.state_dict())
    assert restored.on_epoch_end(4, 4, {"val_dice": 0.52}) and restored.stopped_epoch == 4
    assert not EarlyStopping("val_loss", 1).on_epoch_end(1, 1, {"val_loss": 3.0})
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping("val_dice", patience=0)


def test_gradient_clipping_bounds_the_update(fetal_data, tmp_path):
    overrides = TINY + DETERMINISTIC
    overrides += ["train.optimizer=sgd", "train.momentum=0", "train.lr=1", "train.grad_clip_norm=0.001"]
    overrides += ["train.epochs=1", "train.iterations_per_epoch=1", "train.tensorboard=false"]
    recorder = Recorder()
    train_run(load_config("demo", overrides), fetal_data, tmp_path / "run", callbacks=[recorder])
    step = torch.cat([(recorder.end[k] - recorder.start[k]).flatten() for k in recorder.start])
    assert 0 < step.norm().item() <= 0.001 * (1 + 1e-4)  # lr 1 x gradient norm clipped to 1e-3


@pytest.mark.skipif("unet_plus_plus" not in MODELS, reason="U-Net++ not registered")
def test_deep_supervision_model_trains_and_validates_on_the_final_head(fetal_data, tmp_path):
    overrides = TINY + ["model.name=unet_plus_plus", "model.params.deep_supervision=true", "train.epochs=1"]
    overrides += ["train.deep_supervision=halving", "train.tensorboard=false"]
    recorder = Recorder()
    result = train_run(load_config("demo", overrides), fetal_data, tmp_path / "run", callbacks=[recorder])
    assert recorder.losses and all(math.isfinite(v) for v in recorder.losses)
    assert 0.0 <= result.best_score <= 1.0  # val_dice of the eval-mode (single) output


def test_global_batch_must_divide_over_processes():
    from medseg.errors import ConfigError
    from medseg.training.distributed import local_batch_size

    assert local_batch_size(8, 2) == 4
    with pytest.raises(ConfigError, match="multiple of 3"):
        local_batch_size(8, 3)


def test_a_run_without_validation_follows_the_training_loss(fetal_data, tmp_path):
    """No val cases: best checkpoint and plateau schedule watch train_loss, never -inf or a halved-away rate."""
    overrides = TINY + ["train.epochs=3", "data.val_fraction=0", "train.monitor=val_dice"]
    overrides += ["train.scheduler=plateau", "train.scheduler_params={factor: 0.5, patience: 0}", "train.lr=0.01"]
    run_dir = tmp_path / "run"
    result = train_run(load_config("demo", overrides), fetal_data, run_dir)
    assert result.monitor == "train_loss" and math.isfinite(result.best_score) and result.best_epoch >= 1
    best = load_checkpoint(run_dir / "checkpoints" / "best.pt")
    assert best["monitor"] == "train_loss" and best["epoch"] == result.best_epoch
    with (run_dir / "history.csv").open() as handle:
        rows = [r for r in csv.DictReader(handle) if r["level"] == "epoch"]
    losses = [float(r["loss"]) for r in rows]
    assert result.best_score == pytest.approx(min(losses), rel=1e-6)
    # mode "min" on the training loss (patience 0): halved after an epoch that did not lower it, only then
    best, rates = math.inf, [float(r["lr"]) for r in rows]
    for loss, rate, next_rate in zip(losses, rates, rates[1:], strict=False):
        improved = loss < best * (1 - 1e-4)  # ReduceLROnPlateau's default relative threshold
        assert next_rate == pytest.approx(rate if improved else rate / 2)
        best = min(best, loss) if improved else best


def test_effective_monitor():
    from medseg.training.optim import effective_monitor

    assert effective_monitor("val_dice", has_validation=True) == "val_dice"
    assert effective_monitor("val_dice", has_validation=False) == "train_loss"
    assert effective_monitor("train_loss", has_validation=False) == "train_loss"


def test_init_weights_starts_from_another_runs_best_checkpoint(fetal_data, tmp_path):
    first = tmp_path / "first"
    train_run(load_config("demo", TINY), fetal_data, first)
    best = load_checkpoint(first / "checkpoints" / "best.pt")["state_dict"]
    recorder = Recorder()
    overrides = [*TINY, f"train.init_weights={first}", "train.epochs=1"]
    train_run(load_config("demo", overrides), fetal_data, tmp_path / "second", callbacks=[recorder])
    for key, value in best.items():
        assert torch.equal(recorder.start[key], value), key
    state = load_checkpoint(tmp_path / "second" / "checkpoints" / "last.pt")
    assert state["epoch"] == 1  # the counters and schedule start afresh


def test_init_weights_refuses_another_model_or_a_missing_file(fetal_data, tmp_path):
    from medseg.errors import RunDirError

    first = tmp_path / "first"
    train_run(load_config("demo", [*TINY, "train.epochs=1"]), fetal_data, first)
    other = load_config("demo", [*TINY, f"train.init_weights={first}", "model.name=res_unet"])
    with pytest.raises(RunDirError, match=r"best\.pt: holds another model.*name 'unet' here 'res_unet'"):
        train_run(other, fetal_data, tmp_path / "second")
    assert not (tmp_path / "second" / "checkpoints").exists()
    missing = load_config("demo", [*TINY, f"train.init_weights={tmp_path / 'nowhere.pt'}"])
    with pytest.raises(RunDirError, match=r"nowhere\.pt: checkpoint not found"):
        train_run(missing, fetal_data, tmp_path / "third")


def _train_off_and_on(option: str, fetal_data, tmp_path, iterations: int):
    """Trains the tiny demo twice, ``option=false`` then ``true`` (run folders ``tmp_path/false``, ``/true``).

    Returns ``[(recorder, result) off, (recorder, result) on]``."""
    overrides = TINY + DETERMINISTIC + ["train.epochs=1", f"train.iterations_per_epoch={iterations}"]
    runs = []
    for value in ("false", "true"):
        recorder = Recorder()
        config = load_config("demo", [*overrides, "train.tensorboard=false", f"{option}={value}"])
        runs.append((recorder, train_run(config, fetal_data, tmp_path / value, callbacks=[recorder])))
    return runs


def test_channels_last_trains_like_the_default_layout(fetal_data, tmp_path):
    (plain, plain_result), (last, last_result) = _train_off_and_on("train.channels_last", fetal_data, tmp_path, 3)
    assert last.losses == pytest.approx(plain.losses, rel=1e-4)
    assert last_result.best_score == pytest.approx(plain_result.best_score, abs=1e-4)
    assert any(
        v.dim() == 4 and v.is_contiguous(memory_format=torch.channels_last) and not v.is_contiguous()
        for v in last.end.values()
    )  # the weights really were channels-last
    for key, value in load_checkpoint(tmp_path / "true" / "checkpoints" / "best.pt")["state_dict"].items():
        assert torch.allclose(value, plain.end[key], atol=1e-3), key


class OutputDtypes(Callback):
    """Records the dtype of every output of the model's forward passes."""

    def __init__(self) -> None:
        self.dtypes: set[torch.dtype] = set()

    def on_fit_start(self, model, start_epoch, iteration):
        model.register_forward_hook(lambda module, inputs, output: self.dtypes.add(output.dtype))


def test_cpu_bf16_runs_the_forward_pass_in_bfloat16_and_keeps_float32_weights(fetal_data, tmp_path, capsys):
    overrides = TINY + DETERMINISTIC + ["train.epochs=1", "train.iterations_per_epoch=3", "train.tensorboard=false"]
    runs = {}
    for bf16 in ("false", "true"):
        recorder, output_dtypes = Recorder(), OutputDtypes()
        config = load_config("demo", overrides + [f"train.cpu_bf16={bf16}"])
        result = train_run(config, fetal_data, tmp_path / bf16, callbacks=[recorder, output_dtypes])
        runs[bf16] = (recorder, result, output_dtypes.dtypes)
    (plain, plain_result, plain_dtypes), (bf16, bf16_result, bf16_dtypes) = runs["false"], runs["true"]
    assert plain_dtypes == {torch.float32} and bf16_dtypes == {torch.bfloat16}  # training and validation
    assert bf16.losses == pytest.approx(plain.losses, rel=0.05)  # the same training, at bfloat16's precision
    assert math.isfinite(bf16_result.best_score) and math.isfinite(plain_result.best_score)
    state = load_checkpoint(tmp_path / "true" / "checkpoints" / "best.pt")["state_dict"]
    assert all(v.dtype == torch.float32 for v in state.values() if v.is_floating_point())
    assert "mixed precision (bfloat16)" in capsys.readouterr().err


def output_dtypes() -> ForwardsPerEpoch:
    """The dtypes of the model's outputs seen during each epoch (training and validation)."""
    return ForwardsPerEpoch(lambda module, inputs, output: output.dtype)


def test_cpu_bf16_epochs_trains_the_first_epochs_in_bfloat16_then_float32(fetal_data, tmp_path, capsys):
    overrides = TINY + DETERMINISTIC + ["train.epochs=3", "train.iterations_per_epoch=2", "train.tensorboard=false"]
    config = load_config("demo", overrides + ["train.cpu_bf16=true", "train.cpu_bf16_epochs=2"])
    dtypes = output_dtypes()
    train_run(config, fetal_data, tmp_path / "run", callbacks=[dtypes])
    assert dtypes.by_epoch == [{torch.bfloat16}, {torch.bfloat16}, {torch.float32}]
    assert "mixed precision (bfloat16 up to epoch 2, float32 after)" in capsys.readouterr().err


def test_cpu_bf16_epochs_zero_trains_and_logs_float32_throughout(fetal_data, tmp_path, capsys):
    overrides = TINY + DETERMINISTIC + ["train.epochs=1", "train.iterations_per_epoch=2", "train.tensorboard=false"]
    config = load_config("demo", overrides + ["train.cpu_bf16=true", "train.cpu_bf16_epochs=0"])
    dtypes = output_dtypes()
    train_run(config, fetal_data, tmp_path / "run", callbacks=[dtypes])
    assert dtypes.by_epoch == [{torch.float32}]
    assert "mixed precision" not in capsys.readouterr().err


def test_compile_trains_like_eager_and_writes_plain_checkpoints(fetal_data, tmp_path):
    (eager, eager_result), (compiled, compiled_result) = _train_off_and_on("train.compile", fetal_data, tmp_path, 2)
    assert compiled.losses == pytest.approx(eager.losses, rel=1e-3)
    assert compiled_result.best_score == pytest.approx(eager_result.best_score, abs=1e-3)
    saved = load_checkpoint(tmp_path / "true" / "checkpoints" / "best.pt")["state_dict"]
    assert saved.keys() == eager.end.keys()  # no "_orig_mod." prefix: any medseg command loads it
    for key, value in saved.items():
        assert torch.allclose(value.float(), eager.end[key].float(), atol=1e-3), key
