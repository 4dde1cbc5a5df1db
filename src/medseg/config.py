"""Experiment configuration: dataclasses, YAML load/save and ``key=value`` overrides.

A config has seven sections (``data``, ``augment``, ``model``, ``train``, ``postprocess``,
``eval``, ``infer``); unknown keys are errors that name the file and list the valid keys.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from medseg.config_rules import (  # noqa: F401  (re-exported: configs and rules in one place)
    DEEP_SUPERVISION,
    DEVICES,
    EQUALIZATIONS,
    MONITORS,
    NORMALIZATIONS,
    OPTIMIZERS,
    RULES,
    SCHEDULE_NAMES,
    validate_config,
)
from medseg.errors import ConfigError
from medseg.safe_yaml import safe_yaml  # noqa: F401

PACKAGED_RECIPES = Path(__file__).parent / "recipes"  # every packaged config: demo, hc18_unet, the papers' recipes


@dataclass
class DataConfig:
    """What the data is and how it reaches the network."""

    layout: str = "hc18"  # reader name: hc18, folder, ... (see medseg.data.readers)
    reader: dict[str, Any] = field(default_factory=dict)  # extra reader arguments
    image_size: list[int] = field(default_factory=lambda: [224, 320])  # network input (H, W)
    keep_aspect: bool = True  # letterbox (scale + pad) instead of stretching
    channels: int = 1  # 1 grey, 3 RGB
    num_classes: int = 2  # including background
    class_names: list[str] = field(default_factory=lambda: ["background", "foreground"])
    normalize: str = "zscore"  # zscore | minmax | none
    patch_size: list[int] | None = None  # random training patches (H, W); None: whole image
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    split_seed: int = 0
    # Preprocessing before resizing and normalisation, the same at training and inference (docs/data.md).
    window: list[float] | None = None  # CT window [centre, width] (HU) -> 0..1, e.g. [100, 300] for liver
    median_filter: int = 0  # median filter kernel size (odd); 0: off
    equalize: str = "none"  # none | hist | clahe
    clahe_clip: float = 0.01  # CLAHE contrast limit
    crop: list[int] | None = None  # margins removed [top, bottom, left, right] (pixels), image and mask
    crop_foreground: float | None = None  # crop to the bounding box of pixels above this intensity
    max_pixels: int = 50_000_000  # images larger than this (width x height) are refused before decoding
    max_voxels: int = 512 * 512 * 1200  # volumes (NIfTI, DICOM series) larger than this are refused from the header


@dataclass
class AugmentConfig:
    """Training-time augmentation (MONAI transforms, image and mask together)."""

    flip: bool = True
    rotate_deg: float = 15.0
    scale: float = 0.1  # zoom range +/-
    intensity: float = 0.1  # contrast / brightness jitter
    noise: float = 0.0  # Gaussian noise std (in normalised units)
    color: float = 0.0  # per-channel scale and shift jitter (colour and brightness, normalised units)
    grid_distortion: float = 0.0  # grid distortion limit (MONAI RandGridDistortion); 0: off
    prob: float = 0.5


@dataclass
class ModelConfig:
    name: str = "unet"
    params: dict[str, Any] = field(default_factory=dict)  # passed to the model factory
    out_channels: int | None = None  # None: data.num_classes; 1: single sigmoid logit (binary tasks)


@dataclass
class TrainConfig:
    epochs: int = 20
    batch_size: int = 4  # the GLOBAL batch: under torchrun each of N processes takes batch_size / N
    optimizer: str = "adam"  # adam | adamw | sgd
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    loss: str = "dice_ce"
    loss_params: dict[str, Any] = field(default_factory=dict)
    scheduler: str = "none"  # none | cosine | step | multistep | polyp_step | poly | plateau
    scheduler_params: dict[str, Any] = field(default_factory=dict)
    monitor: str = "val_dice"  # metric choosing the best checkpoint
    seed: int = 0
    num_workers: int | None = None  # data-loading processes; None: 0 on a CPU, up to 8 on a GPU (see loaders)
    threads: int | None = None  # torch CPU threads; None: PyTorch's default
    device: str = "auto"  # auto | cpu | cuda
    max_minutes: float | None = None  # stop after this much training time
    iterations_per_epoch: int | None = None  # None: one pass over the training set
    val_every: int = 1
    early_stopping_patience: int | None = None  # stop after this many validations without improvement
    early_stopping_min_delta: float = 0.0  # smallest change that counts as an improvement
    early_stopping_monitor: str | None = None  # None: train.monitor
    grad_clip_norm: float | None = None  # clip the gradients' global L2 norm
    amp: bool = True  # mixed precision (autocast + GradScaler) when training on CUDA; ignored on CPU
    cpu_bf16: bool = False  # bfloat16 autocast when training on a CPU (faster where it has AVX512-BF16 or AMX)
    cpu_bf16_epochs: int | None = None  # with cpu_bf16: only the first N epochs in bfloat16, float32 after; None: all
    channels_last: bool = False  # model and batches in channels-last memory format (faster convolutions on CPU)
    # [[last_epoch, [H, W]], ...]: training batches resized to [H, W] up to last_epoch, data.image_size after
    progressive_resize: list[list[Any]] = field(default_factory=list)
    compile: bool = False  # torch.compile the training forward pass (Inductor; needs a C++ compiler on a CPU)
    deep_supervision: str = "equal"  # equal | halving: weights of a deeply supervised model's outputs
    deep_supervision_weights: list[float] | None = None  # explicit weights, one per output
    sync_batchnorm: bool = False  # under torchrun: batch norm statistics over the global batch
    tensorboard: bool = True  # event files in RUN_DIR/tensorboard
    init_weights: str | None = None  # warm start: a checkpoint (.pt) or run folder (its best.pt) of the same model


@dataclass
class PostprocessConfig:
    largest_component: bool = True  # keep one connected region per class
    threshold: float = 0.5  # two-class models: foreground where its probability >= this (0.5: the argmax)
    fill_holes: bool = True
    fit_ellipse: bool = False  # replace a binary mask by its fitted ellipse (fetal head)
    ellipse_keep: float = 1.0  # < 1: refit without the worst-fitting share of edge points (robust to bulges)
    # Volumes (medseg predict/evaluate on NIfTI, DICOM): keep the organ's largest 3D component and only
    # the lesions inside or touching it (organ and lesion classes from data.class_names).
    volume_3d: bool = True
    # With volume_3d: lesion components under eval.min_lesion_volume_mm3 become organ (when they touch
    # it) or background in the labels, so the label file shows only the listed lesions.
    remove_small_lesions: bool = False


@dataclass
class EvalConfig:
    hausdorff: bool = True
    hausdorff_percentile: float | None = None  # e.g. 95 for HD95; None: maximum
    measurements: list[str] = field(default_factory=list)  # e.g. ["head_circumference"]
    qc: bool = False  # QC signals per case (two more forward passes per image) and the calibrated qc_flag
    qc_share: float = 0.1  # share of validation cases the qc_flag rule flags
    # Volumes: lesions (3D components of the lesion class) smaller than this are not listed in tumours.csv,
    # only counted (docs/liver.md: 65 mm3 is a sphere of 5 mm diameter); 0 lists every component.
    min_lesion_volume_mm3: float = 65.0


@dataclass
class InferConfig:
    """How a trained model is run on new images (``medseg predict``, ``medseg serve``)."""

    sliding_window: bool = False  # windows of the training size over the image at its own resolution (MONAI)
    window: list[int] | None = None  # window (H, W); None: data.patch_size, else data.image_size
    overlap: float = 0.25  # fraction of a window shared with its neighbour
    batch_size: int = 4  # images (or windows) per forward pass
    # A cascade's second stage: the stage-1 model (run folder, relative to this run or absolute; or a zoo
    # name) whose organ box this model segments in (medseg.inference.cascade); None: a single model.
    stage1: str | None = None
    precision: str = "float32"  # PyTorch: float32, bfloat16 autocast, or auto (check it: medseg check-precision)


@dataclass
class EnsembleConfig:
    """Networks trained side by side and averaged (``medseg train``, :mod:`medseg.experiments.members`).

    ``members``: one list of ``KEY=VALUE`` overrides per network (``[]``: the config as written), in
    ``train.*``, ``augment.*`` or ``model.*`` only, since every member must read its images and write
    its masks as the others do. Empty: one network.
    """

    members: list[list[str]] = field(default_factory=list)


MEMBER_SECTIONS = ("train.", "augment.", "model.")


@dataclass
class Config:
    name: str = "experiment"
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    infer: InferConfig = field(default_factory=InferConfig)
    ensemble: EnsembleConfig = field(default_factory=EnsembleConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def member_configs(config: Config) -> list[Config]:
    """The config of each member of ``config.ensemble`` (the config with that member's overrides).

    Raises:
        ConfigError: fewer than two members, an override outside ``train``/``augment``/``model``, or a
        member config that is not valid (the message names the member).
    """
    members = config.ensemble.members
    if len(members) < 2:
        raise ConfigError(f"ensemble.members: give two or more members (lists of overrides), got {len(members)}")
    configs = []
    for index, overrides in enumerate(members):
        where = f"ensemble.members[{index}]"
        for item in overrides:
            if not item.strip().startswith(MEMBER_SECTIONS):
                raise ConfigError(
                    f"{where}: {item!r}: a member may only change {', '.join(s + '*' for s in MEMBER_SECTIONS)} "
                    "(the members' probabilities are averaged, so they must read images and write masks alike)"
                )
        values = {**config.to_dict(), "ensemble": {"members": []}}
        configs.append(config_from_dict(apply_overrides(values, list(overrides)), where))
    return configs


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Converts YAML scalars to the annotated type (YAML reads ``1e-3`` as a string)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        non_none = [a for a in args if a is not type(None)]
        return _coerce(value, non_none[0], where)
    if dataclasses.is_dataclass(annotation):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return _build(annotation, value, where)
    try:
        if annotation is float:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if annotation is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if annotation is bool:
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("true", "yes", "1"):
                return True
            if str(value).lower() in ("false", "no", "0"):
                return False
            raise ValueError
        if annotation is str:
            if not isinstance(value, str):
                raise ValueError
            return value
        if origin is list:
            if not isinstance(value, list | tuple):
                raise ValueError
            return [_coerce(v, args[0], where) for v in value] if args else list(value)
        if origin is dict:
            if not isinstance(value, dict):
                raise ValueError
            return dict(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {value!r} is not a valid {_type_name(annotation)}") from None
    return value


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", str(annotation))


def _build(cls: type, values: dict[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in values if k not in names]
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; valid keys: {', '.join(names)}")
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}") for k, v in values.items()}
    return cls(**kwargs)


def config_from_dict(values: dict[str, Any], source: str = "config") -> Config:
    """Builds a validated :class:`Config`; ``source`` names the origin in error messages.

    Raises:
        ConfigError: unknown keys, wrong types, or values out of range (see :func:`validate_config`).
    """
    if not isinstance(values, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of sections")
    config = _build(Config, values, source)
    validate_config(config, source)
    if config.ensemble.members:
        member_configs(config)  # every member checked before anything trains
    return config


def resolve_config_path(path: str | Path) -> Path:
    """A path as given, or the name of a packaged recipe in ``medseg/recipes/`` (``hc18_unet``, ``hc18_unet.yaml``)."""
    candidate = Path(path)
    if candidate.is_file():
        return candidate
    for name in (str(path), f"{path}.yaml"):
        packaged = PACKAGED_RECIPES / name
        if packaged.is_file():
            return packaged
    known = ", ".join(p.stem for p in sorted(PACKAGED_RECIPES.glob("*.yaml")))
    raise ConfigError(f"{path}: config file not found (packaged configs: {known})")


def load_config(path: str | Path, overrides: list[str] | None = None) -> Config:
    """Reads a YAML config and applies ``section.key=value`` overrides.

    Raises:
        ConfigError: unreadable YAML, unknown keys, wrong value types, bad overrides.
    """
    path = resolve_config_path(path)
    try:
        values = safe_yaml(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}): save the config as UTF-8") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: invalid YAML{where}: {problem}") from None
    values = apply_overrides(values, overrides or [])
    return config_from_dict(values, str(path))


def apply_overrides(values: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Returns a copy of ``values`` with ``a.b.c=value`` assignments applied (values parsed as YAML)."""
    result = yaml.safe_load(yaml.safe_dump(values)) or {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected section.key=value")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        if len(parts) < 2:
            raise ConfigError(f"override {item!r}: name the section, e.g. train.lr=1e-3")
        node = result
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {part!r} is not a section")
        try:
            node[parts[-1]] = safe_yaml(raw)
        except yaml.YAMLError as exc:
            if "alias" in str(exc):
                raise ConfigError(f"override {key.strip()}: {exc}") from None
            node[parts[-1]] = raw
    return result


def save_config(config: Config, path: str | Path) -> None:
    """Writes the config as YAML (atomically)."""
    from medseg.io import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(config.to_dict(), sort_keys=False))
