"""What a config's values may be: ranges, enumerations and names (:data:`RULES`), and
:func:`validate_config`, which checks them and how values fit together."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from medseg.errors import ConfigError

if TYPE_CHECKING:
    from medseg.config import Config

NORMALIZATIONS = ("zscore", "minmax", "none")
EQUALIZATIONS = ("none", "hist", "clahe")
DEVICES = ("auto", "cpu", "cuda")
OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULE_NAMES = ("none", "cosine", "cosine_time", "step", "multistep", "polyp_step", "poly", "plateau")
MONITORS = ("train_loss", "val_loss", "val_dice", "val_pixel_accuracy")
DEEP_SUPERVISION = ("equal", "halving")
INFER_PRECISIONS = ("float32", "bfloat16", "auto")  # auto: bfloat16 where the CPU has it natively


def _finite(low: float, high: float = math.inf, low_open: bool = False, high_open: bool = True) -> Any:
    def check(v: float) -> bool:
        return math.isfinite(v) and (v > low if low_open else v >= low) and (v < high if high_open else v <= high)

    return check


def _sizes(count: int) -> Any:
    return lambda v: len(v) == count and all(x >= 1 for x in v)


def _one_of(names: tuple[str, ...]) -> tuple[Any, str]:
    return (lambda v: str(v).lower() in names), f"one of {', '.join(names)}"


def _optional(check: Any) -> Any:
    return lambda v: v is None or check(v)


# (key, check, what is allowed): checked in this order, the first failure is reported
RULES: list[tuple[str, Any, str]] = [
    ("data.image_size", _sizes(2), "two sizes >= 1 [H, W]"),
    ("data.patch_size", _optional(_sizes(2)), "null or two sizes >= 1 [H, W]"),
    ("data.channels", lambda v: v >= 1, "at least 1 (1 grey, 3 RGB)"),
    ("data.num_classes", lambda v: v >= 2, "at least 2 (background included)"),
    ("data.normalize", *_one_of(NORMALIZATIONS)),
    ("data.equalize", *_one_of(EQUALIZATIONS)),
    ("data.val_fraction", _finite(0, 1), "a fraction in [0, 1)"),
    ("data.test_fraction", _finite(0, 1), "a fraction in [0, 1)"),
    (
        "data.window",
        _optional(lambda v: len(v) == 2 and all(map(math.isfinite, v)) and v[1] > 0),
        "null or [centre, width > 0]",
    ),
    ("data.median_filter", lambda v: v == 0 or (v >= 3 and v % 2 == 1), "0 (off) or an odd size >= 3"),
    ("data.clahe_clip", _finite(0, 1, low_open=True, high_open=False), "in (0, 1]"),
    ("data.crop", _optional(lambda v: len(v) == 4 and all(x >= 0 for x in v)), "null or four margins >= 0"),
    ("data.max_pixels", lambda v: v >= 1, "at least 1"),
    ("data.max_voxels", lambda v: v >= 1, "at least 1"),
    ("data.split_seed", lambda v: 0 <= v < 2**32, "an integer in [0, 2**32)"),
    ("data.crop_foreground", _optional(_finite(-math.inf)), "null or a finite intensity"),
    ("train.seed", lambda v: 0 <= v < 2**32, "an integer in [0, 2**32)"),
    ("infer.overlap", _finite(0, 1), "a fraction in [0, 1)"),
    ("infer.batch_size", lambda v: v >= 1, "at least 1"),
    ("infer.window", _optional(_sizes(2)), "null or two sizes >= 1 [H, W]"),
    ("infer.precision", lambda v: v in INFER_PRECISIONS, f"one of {', '.join(INFER_PRECISIONS)}"),
    ("augment.prob", _finite(0, 1, high_open=False), "a probability in [0, 1]"),
    ("augment.rotate_deg", _finite(0), "a finite value >= 0"),
    ("augment.scale", _finite(0), "a finite value >= 0"),
    ("augment.intensity", _finite(0), "a finite value >= 0"),
    ("augment.noise", _finite(0), "a finite value >= 0"),
    ("augment.color", _finite(0), "a finite value >= 0"),
    ("augment.grid_distortion", _finite(0, 1), "in [0, 1)"),
    ("train.epochs", lambda v: v >= 1, "at least 1"),
    ("train.batch_size", lambda v: v >= 1, "at least 1"),
    ("train.lr", _finite(0, low_open=True), "a finite value > 0"),
    ("train.momentum", _finite(0, 1), "in [0, 1)"),
    ("train.weight_decay", _finite(0), "a finite value >= 0"),
    ("train.optimizer", *_one_of(OPTIMIZERS)),
    ("train.scheduler", *_one_of(SCHEDULE_NAMES)),
    ("train.monitor", lambda v: v in MONITORS, f"one of {', '.join(MONITORS)}"),
    ("train.early_stopping_monitor", _optional(lambda v: v in MONITORS), f"null or one of {', '.join(MONITORS)}"),
    (
        "train.device",
        lambda v: v in DEVICES or (v.startswith("cuda:") and v[5:].isdigit()),
        "auto, cpu, cuda or cuda:N",
    ),
    ("train.num_workers", _optional(lambda v: v >= 0), "null or at least 0"),
    ("train.threads", _optional(lambda v: v >= 1), "null or at least 1"),
    ("train.cpu_bf16_epochs", _optional(lambda v: v >= 0), "null or at least 0"),
    ("train.init_weights", _optional(lambda v: bool(v.strip())), "null or the path of a checkpoint or run folder"),
    ("train.max_minutes", _optional(_finite(0, low_open=True)), "null or a finite value > 0"),
    ("train.iterations_per_epoch", _optional(lambda v: v >= 1), "null or at least 1"),
    ("train.val_every", lambda v: v >= 1, "at least 1"),
    ("train.early_stopping_patience", _optional(lambda v: v >= 1), "null or at least 1"),
    ("train.early_stopping_min_delta", _finite(0), "a finite value >= 0"),
    ("train.grad_clip_norm", _optional(_finite(0, low_open=True)), "null or a finite value > 0"),
    ("train.deep_supervision", *_one_of(DEEP_SUPERVISION)),
    ("eval.hausdorff_percentile", _optional(_finite(0, 100, low_open=True, high_open=False)), "null or in (0, 100]"),
    ("eval.qc_share", _finite(0, 1, low_open=True), "a fraction in (0, 1)"),
    ("eval.min_lesion_volume_mm3", _finite(0), "a finite volume in mm3 >= 0 (0 lists every lesion)"),
    ("postprocess.ellipse_keep", _finite(0.5, 1, high_open=False), "a share in [0.5, 1]"),
    ("postprocess.threshold", _finite(0, 1, low_open=True), "a probability in (0, 1)"),
]


MAX_NAME = 64


def _plain_name(name: Any) -> bool:
    """A class name that is text, not a path: printable, short, no separators, not ``.``/``..``."""
    return (
        isinstance(name, str)
        and 0 < len(name) <= MAX_NAME
        and name.isprintable()
        and not any(c in name for c in "/\\")
        and ".." not in name
        and name.strip() not in ("", ".")
    )


def progressive_resize_problem(schedule: list[Any]) -> str:
    """Why ``schedule`` is not a valid ``train.progressive_resize`` (``[[last_epoch, [H, W]], ...]``), or ``""``."""
    last = 0
    for step in schedule:
        if not (isinstance(step, (list, tuple)) and len(step) == 2 and isinstance(step[1], (list, tuple))):
            return f"each step is [last_epoch, [H, W]], got {step!r}"
        epoch, size = step
        if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch <= last:
            return f"the last epochs must be whole numbers >= 1 in increasing order, got {epoch!r} after {last}"
        if len(size) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in size):
            return f"each size is [H, W] with whole numbers >= 1, got {size!r}"
        last = epoch
    return ""


def validate_config(config: Config, source: str = "config") -> None:
    """Checks ranges and enumerations (:data:`RULES`) and how values fit together; the message names
    the key, its value and what is allowed.

    Names registered by higher layers (models, losses, reader layouts) are checked where they are
    looked up (:func:`medseg.experiments.train.check_names`).

    Raises:
        ConfigError: the first value that is not allowed.
    """

    def fail(key: str, value: Any, allowed: str) -> None:
        raise ConfigError(f"{source}: {key}={value!r} is not allowed; {allowed}")

    for key, check, allowed in RULES:
        section, name = key.split(".")
        value = getattr(getattr(config, section), name)
        if not check(value):
            fail(key, value, allowed)
    schedule_problem = progressive_resize_problem(config.train.progressive_resize)
    if schedule_problem:
        fail("train.progressive_resize", config.train.progressive_resize, schedule_problem)
    d = config.data
    if len(d.class_names) != d.num_classes:
        fail("data.class_names", d.class_names, f"one name per class (data.num_classes = {d.num_classes})")
    for name in d.class_names:
        if not _plain_name(name):
            fail("data.class_names", name, f"names of at most {MAX_NAME} printable characters without / \\ or ..")
    if d.val_fraction + d.test_fraction >= 1:
        fail("data.val_fraction + data.test_fraction", d.val_fraction + d.test_fraction, "the sum must be below 1")
    if config.model.out_channels not in (None, 1, d.num_classes):
        fail("model.out_channels", config.model.out_channels, f"null, 1 (binary) or data.num_classes ({d.num_classes})")
