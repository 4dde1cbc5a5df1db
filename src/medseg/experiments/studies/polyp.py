"""The polyp study: Improved Attention MobileU-Net against U-Net, ResU-Net and U-Net++ on Kvasir-SEG
and CVC-ClinicDB.

``medseg reproduce polyp --data DIR --out OUT`` where ``DIR`` holds ``kvasir-seg/`` and
``cvc-clinicdb/`` trains every model of :data:`~medseg.experiments.studies.polyp_design.MODELS`
(sizes in its recipe, ``src/medseg/recipes/polyp_<model>.yaml``) on every split of
:data:`~medseg.experiments.studies.polyp_design.SPLITS`, evaluates it on that
split's held-out test images and writes ``OUT/table.md`` and ``OUT/table.csv``: parameters, F1
(Dice), IoU, precision, recall and Hausdorff distance (pixels: these datasets publish no pixel
spacing) per model and split, beside the paper's figures.

Layout: ``OUT/<split>/<model>/`` is an ordinary run folder (``medseg evaluate`` and ``medseg
predict`` work on it) with its test evaluation in ``test/``. ``--table-only`` trains nothing: it
scores finished runs not yet tested (when ``--data`` is given) and rebuilds the table from whatever
run folders exist; ``--resume`` keeps finished runs, continues interrupted ones and
runs the rest. ``--quick`` runs the same code on generated endoscopy phantoms at tiny sizes.
``--only SPLIT/MODEL`` (or ``--only SPLIT``, ``--only MODEL``; repeatable) runs part of the study,
so that several processes can share the work (``bench/polyp_parallel.py`` runs every part at once
on one GPU); ``--set KEY=VALUE`` overrides the recipes' settings for every run (e.g.
``train.device=cuda``).

Splits: Kvasir-SEG has no patient identifiers, so its split is by image (80/10/10, seeded).
CVC-ClinicDB frames of one video sequence show the same polyp, so its split is by sequence; the
paper's random split by frame is also run, labelled leaky, so the two can be compared.
``cvc_from_kvasir`` trains on the same CVC sequence split, starting from the weights of the same
model's Kvasir-SEG run (``train.init_weights``): what the more varied Kvasir images add on polyps of
unseen videos. It runs after the Kvasir run; the test images are those of ``cvc``.
``cvc_with_kvasir`` also starts from the Kvasir run, and trains on the CVC training sequences together
with the Kvasir-SEG training images (those of the ``kvasir`` split); it is validated and tested on the
CVC sequences of ``cvc``. ``kvasir_with_cvc`` is the other way round, from scratch: the Kvasir-SEG
training images together with the CVC training sequences (those of ``cvc``), validated and tested on
the Kvasir-SEG images of ``kvasir``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from medseg.config import Config, load_config
from medseg.data.case import Case
from medseg.data.readers import read_dataset
from medseg.data.splits import Split, load_split, select, split_cases
from medseg.errors import ConfigError, DataError, RunDirError
from medseg.experiments.evaluate import evaluate_cases
from medseg.experiments.reproduce import StudyRequest, register_study
from medseg.experiments.rundir import claim
from medseg.experiments.studies.polyp_design import MODELS, SPLITS, TEST, SplitSpec
from medseg.experiments.studies.polyp_table import table_row, write_table_files
from medseg.experiments.train import train_run
from medseg.inference import Predictor
from medseg.io import atomic_write_text
from medseg.logs import log
from medseg.run_folder import RunFolder

QUICK_PARAMS = {
    "mobile_unet": {"filters": 4, "depth": 2, "bridge_blocks": 2},
    "unet": {"channels": [4, 8, 16]},
    "res_unet": {"channels": [4, 8, 16]},
    "unet_plus_plus": {"channels": [4, 8, 16]},
}
QUICK_OVERRIDES = [
    "data.image_size=[32,32]",
    "train.epochs=2",
    "train.batch_size=4",
    "train.threads=1",
    "train.tensorboard=false",
    "train.scheduler=none",
]
# How the test images are predicted: chosen on the validation split (docs/polyp.md).
TEST_INFERENCE: dict[str, Any] = {"tta": True, "scales": (1.0,)}  # flip TTA: +0.020 val Dice; scales: no gain


def study_config(model: str, spec: SplitSpec, quick: bool, extra: tuple[str, ...] = ()) -> Config:
    """The model's recipe with the split's data settings (tiny sizes with ``quick``), then ``extra``
    overrides (``--set``)."""
    overrides = [
        f"data.layout={spec.layout}",
        f"data.val_fraction={spec.val_fraction}",
        f"data.test_fraction={spec.test_fraction}",
    ]
    if quick:
        overrides += QUICK_OVERRIDES
    config = load_config(f"polyp_{model}", overrides + list(extra))
    if quick:
        config.model.params = dict(QUICK_PARAMS[model])
    return replace(config, name=f"polyp_{spec.name}_{model}")


def selected_runs(only: tuple[str, ...]) -> list[tuple[SplitSpec, str]]:
    """The ``(split, model)`` pairs that ``--only`` names (every pair when empty).

    Raises:
        ConfigError: a name that is neither a split, a model nor ``split/model``.
    """
    pairs = [(spec, model) for spec in SPLITS for model in MODELS]
    if not only:
        return pairs
    splits, models = {spec.name for spec in SPLITS}, set(MODELS)
    chosen: set[tuple[str, str]] = set()
    for name in only:
        split, _, model = name.partition("/")
        if model:
            if split not in splits or model not in models:
                raise ConfigError(f"--only {name}: splits are {sorted(splits)}, models {sorted(models)}")
            chosen.add((split, model))
        elif split in splits:
            chosen.update((split, m) for m in MODELS)
        elif split in models:
            chosen.update((s, split) for s in splits)
        else:
            raise ConfigError(f"--only {name}: neither a split {sorted(splits)} nor a model {sorted(models)}")
    return [(spec, model) for spec, model in pairs if (spec.name, model) in chosen]


def regroup_by_frame(cases: list[Case]) -> list[Case]:
    """The same cases, each its own group: a split of these is a random split by frame."""
    return [Case(c.id, c.image, c.mask, {**c.meta, "group": c.id}, c.source) for c in cases]


def run_finished(run_dir: Path) -> bool:
    """A run whose training ended (``run.json`` holds its result)."""
    info = RunFolder(run_dir).run_info
    return info.is_file() and "result" in json.loads(info.read_text())


def start_source(out: Path, spec: SplitSpec, model: str) -> Path | None:
    """The run whose best weights start this split's run of ``model`` (None: a split trained from scratch)."""
    return out / spec.start_from / model if spec.start_from else None


def start_weights_overrides(out: Path, spec: SplitSpec, model: str) -> tuple[str, ...]:
    """``train.init_weights`` of a split that starts from another split's run (none otherwise)."""
    source = start_source(out, spec, model)
    return (f"train.init_weights={source}",) if source else ()


def check_start_weights(config: Config, out: Path, spec: SplitSpec, model: str) -> None:
    """Raises RunDirError when a split that starts from another split's run finds no such run."""
    source = start_source(out, spec, model)
    if source and config.train.init_weights == str(source) and not RunFolder(source).best.is_file():
        raise RunDirError(
            f"{out / spec.name / model}: starts from the weights of {source}, which has no "
            f"checkpoints/best.pt; train {spec.start_from}/{model} first (--only {spec.start_from}/{model})"
        )


def train_and_test(
    config: Config,
    data_path: Path,
    cases: list[Case],
    split: Split,
    run_dir: Path,
    resume: bool,
    overwrite: bool = False,
) -> None:
    """Trains the run on ``split`` of ``cases``, then evaluates its best checkpoint on the test split.

    ``resume`` keeps a finished run (and its test scores) and continues an interrupted one (with
    the split it saved); ``overwrite`` retrains a finished run, whose folder is replaced only once
    the new training has finished (:func:`medseg.experiments.train.train_run`).
    """
    if not run_finished(run_dir) or (overwrite and not resume):
        can_resume = resume and RunFolder(run_dir).last.is_file()
        log(f"polyp study: {'resuming' if can_resume else 'training'} {run_dir}")
        train_run(
            config,
            data_path,
            run_dir,
            overwrite=not can_resume,
            resume=can_resume,
            cases=cases,
            split=None if can_resume else split,
        )
    elif resume and RunFolder(run_dir).results(TEST).metrics.is_file():
        return
    score_run(run_dir, cases)


def split_of(name: str) -> SplitSpec:
    """The study's split called ``name``."""
    return next(spec for spec in SPLITS if spec.name == name)


def dataset_reader(root: Path) -> Callable[[SplitSpec], list[Case]]:
    """A function giving a split's cases from ``root``; each dataset folder is read once."""
    cache: dict[str, list[Case]] = {}

    def read(spec: SplitSpec) -> list[Case]:
        if spec.folder not in cache:
            cache[spec.folder] = read_dataset(spec.layout, root / spec.folder)
        return cache[spec.folder]

    return read


def study_cases(spec: SplitSpec, read: Callable[[SplitSpec], list[Case]], seed: int) -> tuple[list[Case], Split]:
    """The cases a run of ``spec`` uses and how they are split (``read`` gives a split's cases).

    With ``spec.train_also``, the training images of that split (split with its own fractions and
    the same seed) join this split's training images; validation and test stay this split's.

    Raises:
        DataError: a case id found in both datasets.
    """
    cases = regroup_by_frame(read(spec)) if spec.by_frame else read(spec)
    split = split_cases(cases, spec.val_fraction, spec.test_fraction, seed)
    if not spec.train_also:
        return cases, split
    other = split_of(spec.train_also)
    other_cases = read(other)
    train_ids = set(split_cases(other_cases, other.val_fraction, other.test_fraction, seed)["train"])
    extra = [case for case in other_cases if case.id in train_ids]
    clash = sorted({case.id for case in extra} & {case.id for case in cases})
    if clash:
        raise DataError(other.folder, f"case ids also in {spec.folder}, cannot train on both: {clash[:5]}")
    return cases + extra, {**split, "train": split["train"] + [case.id for case in extra]}


def part_test_sets(part: str, root: Path, seed: int) -> dict[str, Any]:
    """Where a zoo model trained as study part ``part`` (``SPLIT/MODEL``) is tested, inside ``root``
    (the folder holding the datasets).

    Returns:
        ``{"data_folder": the part's own dataset folder (its test split is the card's test),
        "other_tests": [{"name", "label", "folder", "layout", "ids"}], "split_by": how its images
        were split, in words}``; the other tests: for a split trained on another dataset's training
        images too (``train_also``), that dataset's own held-out test.
    """
    split_name, _, model = part.partition("/")
    if split_name not in {spec.name for spec in SPLITS} or model not in MODELS:
        raise ConfigError(f"polyp study part {part!r}: give SPLIT/MODEL, e.g. kvasir_with_cvc/res_unet")
    spec = split_of(split_name)
    others = []
    split_by = _SPLIT_BY.get(spec.layout, "image") if not spec.by_frame else "frame (leaky)"
    if spec.train_also:
        other = split_of(spec.train_also)
        _, split = study_cases(other, dataset_reader(root), seed)
        test = {"name": other.name, "label": other.title, "folder": other.folder, "layout": other.layout}
        others.append({**test, "ids": split[TEST]})
        split_by += f"; the added {other.folder} training images: by {_SPLIT_BY.get(other.layout, 'image')}"
    return {"data_folder": spec.folder, "other_tests": others, "split_by": split_by}


_SPLIT_BY = {
    "kvasir": "image (Kvasir-SEG publishes no patient identifiers)",
    "cvc_clinicdb": "video sequence (all frames of one polyp on one side)",
}


def score_run(run_dir: Path, cases: list[Case]) -> None:
    """Scores the run's best checkpoint on its own held-out test images (``run_dir/test``)."""
    run = RunFolder(run_dir)
    split = load_split(run.split)
    predictor = Predictor.from_run(run_dir, "best", device="auto", **TEST_INFERENCE)
    log(f"polyp study: testing {run_dir} on {len(split['test'])} held-out images")
    evaluate_cases(predictor, select(cases, split["test"]), run.results(TEST).root, overlays=False)
    atomic_write_text(run.results(TEST).root / "inference.json", json.dumps({**TEST_INFERENCE, "checkpoint": "best"}))
    claim(run_dir, TEST)  # the run's own: --overwrite may replace it with the run


def score_untested_runs(request: StudyRequest) -> None:
    """``--table-only`` with data: tests the finished runs that have no test scores yet (no training)."""
    root = request.out / "phantoms" if request.quick else request.data
    if root is None:
        return
    read = dataset_reader(root)
    for spec in SPLITS:
        for model in MODELS:
            run_dir = request.out / spec.name / model
            if not run_finished(run_dir) or RunFolder(run_dir).results(TEST).metrics.is_file():
                continue
            score_run(run_dir, read(spec))  # the test images are picked by id: grouping does not matter


def prepare_study_dir(request: StudyRequest) -> None:
    """Creates ``request.out`` or checks that it may be reused. Nothing is deleted here: with
    ``--overwrite`` each selected run is replaced by its retrained self, the others stay.

    Raises:
        RunDirError: the folder holds files and neither overwrite, resume nor table-only was asked,
            or overwrite was asked for a folder that is not a polyp study.
    """
    out = request.out
    marker = out / "study.json"
    busy = out.exists() and any(out.iterdir())
    if request.table_only:
        if not out.is_dir():
            raise RunDirError(f"{out}: no study folder to build a table from")
        return
    if busy and not (request.overwrite or request.resume):
        raise RunDirError(f"{out}: study folder exists and is not empty; pass --overwrite or --resume")
    if busy and request.overwrite and not request.resume and not marker.is_file():
        raise RunDirError(f"{out}: not written by medseg reproduce polyp (no study.json); not replacing it")
    out.mkdir(parents=True, exist_ok=True)
    if not marker.is_file():
        atomic_write_text(
            marker,
            json.dumps({"study": "polyp", "quick": request.quick, "created": time.strftime("%Y-%m-%d %H:%M:%S")}),
        )


def data_root(request: StudyRequest) -> Path:
    """The folder holding the datasets: ``--data``, or phantoms written into the study folder."""
    if request.quick:
        from medseg.data.phantoms.endoscopy import write_cvc_dataset, write_kvasir_dataset

        root = request.out / "phantoms"
        if not (root / "kvasir-seg").is_dir():
            write_kvasir_dataset(root / "kvasir-seg", n_images=20, seed=0)
        if not (root / "cvc-clinicdb").is_dir():
            write_cvc_dataset(root / "cvc-clinicdb", frames_per_sequence=(3,) * 8, layout="jpg", seed=0)
        return root
    if request.data is None:
        raise DataError(".", "the polyp study needs --data, a folder holding kvasir-seg/ and cvc-clinicdb/")
    for spec in SPLITS:
        if not (request.data / spec.folder).is_dir():
            raise DataError(request.data / spec.folder, "dataset folder not found (the polyp study needs it)")
    return request.data


@register_study(
    "polyp", "MobileU-Net vs U-Net, ResU-Net, U-Net++ on Kvasir-SEG and CVC-ClinicDB (--data: their parent)"
)
def run_polyp_study(request: StudyRequest) -> Path:
    """Trains and tests every model on every split (or only rebuilds the table); returns ``table.md``."""
    prepare_study_dir(request)
    if request.table_only:
        score_untested_runs(request)
    else:
        runs = selected_runs(request.only)
        configs = {
            (spec.name, model): study_config(
                model, spec, request.quick, start_weights_overrides(request.out, spec, model) + request.overrides
            )
            for spec, model in runs
        }
        root = data_root(request)
        read = dataset_reader(root)
        for spec, model in runs:
            config = configs[spec.name, model]
            cases, split = study_cases(spec, read, config.data.split_seed)
            run_dir = request.out / spec.name / model
            if not run_finished(run_dir):
                check_start_weights(config, request.out, spec, model)
            train_and_test(config, root / spec.folder, cases, split, run_dir, request.resume, request.overwrite)
    rows = [table_row(request.out, model, spec) for spec in SPLITS for model in MODELS]
    return write_table_files(request.out, rows, request.quick)
