"""Making and checking the zoo's models: a trained run becomes a zoo folder with its card, and
the card's held-out numbers can be measured again.

``package_run`` writes ``medseg/zoo/<name>/`` (see :mod:`medseg.inference.zoo` for the files) from
a run folder that was evaluated on its test split (``medseg evaluate RUN --split test``);
``verify`` evaluates the zoo model on the same test cases and compares with its card.
"""

from __future__ import annotations

import json
import math
import platform
from pathlib import Path
from typing import Any

from medseg.config import config_from_dict
from medseg.data.loading import load_cases
from medseg.data.splits import load_split, select
from medseg.errors import ConfigError, RunDirError
from medseg.experiments.evaluate import evaluate_cases
from medseg.inference.zoo import FORMAT, load_zoo_predictor, read_card, zoo_root
from medseg.io import atomic_write_bytes, atomic_write_text
from medseg.models.checkpoint import load_checkpoint, model_from_spec
from medseg.models.outputs import count_parameters
from medseg.run_folder import RunFolder, ZooFolder

# What each dataset's publisher allows; the card repeats it next to the model trained on it.
DATASETS = {
    "hc18": {
        "dataset": "HC18 grand challenge, training set (fetal head ultrasound)",
        "source": "van den Heuvel et al., PLoS ONE 2018; Zenodo 10.5281/zenodo.1322001",
        "licence": "CC BY 4.0",
    },
    "kvasir_seg": {
        "dataset": "Kvasir-SEG (colonoscopy polyps)",
        "source": "Jha et al., MMM 2020; datasets.simula.no/kvasir-seg",
        "licence": "research and educational use (see the publisher's terms)",
    },
    "ircadb": {
        "dataset": "3D-IRCADb-01 (liver and tumour CT)",
        "source": "IRCAD, Strasbourg",
        "licence": "CC BY-NC-ND 4.0",
    },
}
INTENDED_USE = "Research use only; not a medical device. Not for diagnosis or treatment decisions."
# The card's headline per task: (metric key in metrics.json, better when, what must be reached)
TOLERANCE = {"dice": 0.005, "hc_absdiff_mm": 0.05}  # as the card promises: Dice, mean |HC error| in mm


def package_run(
    run_dir: str | Path,
    name: str,
    dataset: str,
    recipe: str,
    overrides: list[str],
    hardware: str,
    targets: dict[str, float] | None = None,
    root: Path | None = None,
    checkpoint: str = "best",
) -> Path:
    """Writes zoo folder ``root/name`` from ``run_dir`` (weights, settings, card).

    Args:
        dataset: a key of :data:`DATASETS` (data, source and licence on the card).
        recipe, overrides: the config that trained the run (``medseg train RECIPE ... OVERRIDES``),
            kept on the card so that :func:`rebuild` trains it again.
        hardware: where it was trained (CPU model and cores, or the GPU).
        targets: metric key -> the value the model should reach (the card says by how much it
            falls short, if it does).

    Raises:
        RunDirError: the run has no test evaluation (``medseg evaluate RUN --split test``) or no checkpoint.
    """
    from safetensors.torch import save

    run_dir, folder = Path(run_dir), (root or zoo_root()) / name
    if dataset not in DATASETS:
        raise ConfigError(f"dataset {dataset!r} is not known; use one of {', '.join(DATASETS)}")
    run, files = RunFolder(run_dir), ZooFolder(folder)
    metrics_path = run.evaluation("test").metrics
    if not metrics_path.is_file():
        raise RunDirError(f"{metrics_path}: missing; run medseg evaluate {run_dir} --split test first")
    state = load_checkpoint(run.checkpoint(checkpoint))
    tensors = {f"0.{key}": value.detach().float().contiguous() for key, value in state["state_dict"].items()}
    settings = {"format": FORMAT, "version": 1, "name": name, "members": [state["model"]], "config": state["config"]}
    command = " ".join(["medseg train", recipe, "--data DATA --out RUN", *overrides])
    config = config_from_dict(state["config"], str(run.checkpoint(checkpoint)))
    card = _card(run_dir, config, name, dataset, command, hardware, targets or {}, json.loads(metrics_path.read_text()))
    card.update(recipe=recipe, overrides=list(overrides), dataset_key=dataset)
    card["parameters"] = count_parameters(model_from_spec(state["model"]))
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(files.weights, save(tensors, metadata={"format": FORMAT, "name": name}))
    atomic_write_text(files.settings, json.dumps(settings, indent=1))
    atomic_write_text(files.card_json, json.dumps(card, indent=1))
    atomic_write_text(files.card_md, card_markdown(card))
    return folder


def _card(
    run_dir: Path,
    config: Any,
    name: str,
    dataset: str,
    command: str,
    hardware: str,
    targets: dict[str, float],
    metrics: dict[str, dict[str, float]],
) -> dict[str, Any]:
    run = RunFolder(run_dir)
    info = json.loads(run.run_info.read_text()) if run.run_info.is_file() else {}
    split = load_split(run.split)
    result = info.get("result", {})
    test = {key: {k: stats[k] for k in ("mean", "std", "median", "n") if k in stats} for key, stats in metrics.items()}
    shortfalls = {}
    for key, target in targets.items():
        value = test.get(key, {}).get("mean", math.nan)
        lower_is_better = "diff" in key or "error" in key or key.startswith("hd")
        missed = value > target if lower_is_better else value < target
        if missed or math.isnan(value):
            shortfalls[key] = {"target": target, "reached": value, "by": abs(value - target)}
    return {
        "name": name,
        "classes": list(config.data.class_names),
        "model": config.model.name,
        "training_data": {**DATASETS[dataset], "path": info.get("data", "")},
        "split": {
            "by": "subject (all images of one subject on one side)",
            "seed": config.data.split_seed,
            "train": len(split.get("train", [])),
            "val": len(split.get("val", [])),
            "test": len(split.get("test", [])),
        },
        "test_ids": list(split.get("test", [])),
        "command": command,
        "code": info.get("code", {}),
        "training": {
            "seconds": result.get("train_seconds"),
            "epochs": result.get("epochs_run"),
            "hardware": hardware,
            "precision": "bfloat16 autocast" if config.train.cpu_bf16 else "float32",
        },
        "test_metrics": test,
        "targets": targets,
        "shortfalls": shortfalls,
        "evaluation": f"medseg evaluate RUN --split test, without test-time flips (on {len(split.get('test', []))} "
        "held-out images)",
        "intended_use": INTENDED_USE,
        "failure_modes": _failure_modes(run_dir),
        "packaged_on": platform.platform(),
    }


def _failure_modes(run_dir: Path) -> list[str]:
    """The worst test cases by Dice, and what the QC flagged, as plain sentences."""
    import csv

    path = RunFolder(run_dir).evaluation("test").per_case
    if not path.is_file():
        return []
    rows = list(csv.DictReader(path.open()))
    scored = [r for r in rows if _number(r.get("dice_head", r.get("dice", "")))]
    scored.sort(key=lambda r: float(r.get("dice_head", r.get("dice"))))
    notes = []
    for row in scored[:3]:
        error = row.get("hc_absdiff_mm", "")
        extra = f", |HC error| {float(error):.1f} mm" if _number(error) else ""
        notes.append(f"{row.get('id', '?')}: Dice {float(row.get('dice_head', row.get('dice'))):.3f}{extra}")
    flagged = [r for r in rows if r.get("qc_flag") == "review"]
    text = [f"worst held-out cases: {'; '.join(notes)}"] if notes else []
    if flagged:
        text.append(f"{len(flagged)} of {len(rows)} held-out cases flagged for review by the QC (qc_flag)")
    return text


def _number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except (TypeError, ValueError):
        return False


def card_markdown(card: dict[str, Any]) -> str:
    """The model card as Markdown (the same facts as ``card.json``)."""
    data, training = card["training_data"], card["training"]
    lines = [
        f"# {card['name']}: {card['model']} ({', '.join(card['classes'][1:])})",
        "",
        f"**Intended use.** {card['intended_use']}",
        "",
        "## Training data",
        f"- {data['dataset']}; {data['source']}; licence: {data['licence']}",
        f"- split by {card['split']['by']}, seed {card['split']['seed']}: "
        f"{card['split']['train']} train, {card['split']['val']} validation, {card['split']['test']} test images",
        "",
        "## How it was made",
        f"- command: `{card['command']}`",
        f"- code: {', '.join(f'{k} {v}' for k, v in card['code'].items())}",
        f"- training: {_minutes(training['seconds'])}, {training['epochs']} epochs, {training['precision']}, "
        f"on {training['hardware']}",
        f"- {card.get('parameters', 0):,} parameters",
        "",
        "## Held-out test",
        f"Measured with {card['evaluation']}.",
        "",
        "| metric | mean | sd | median | n |",
        "|---|---|---|---|---|",
    ]
    for key, stats in card["test_metrics"].items():
        if key.startswith("qc_"):
            continue
        cells = [_fmt(stats.get(k)) for k in ("mean", "std", "median", "n")]
        lines.append(f"| {key} | {' | '.join(cells)} |")
    if card["shortfalls"]:
        lines += ["", "**Below its targets:**"]
        for key, miss in card["shortfalls"].items():
            lines.append(
                f"- {key}: {_fmt(miss['reached'])} against a target of {miss['target']} (by {_fmt(miss['by'])})"
            )
    elif card["targets"]:
        lines += ["", "Reaches its targets: " + ", ".join(f"{k} {v}" for k, v in card["targets"].items()) + "."]
    if card["failure_modes"]:
        lines += ["", "## Known failure modes"] + [f"- {text}" for text in card["failure_modes"]]
    return "\n".join(lines) + "\n"


def _minutes(seconds: Any) -> str:
    return f"{float(seconds) / 60:.0f} min" if _number(str(seconds)) else "unknown time"


def _fmt(value: Any) -> str:
    if isinstance(value, int):
        return str(value)
    return f"{value:.4g}" if isinstance(value, float) and math.isfinite(value) else "-"


def verify(name: str, data: str | Path, root: Path | None = None, tolerance: dict[str, float] | None = None) -> dict:
    """Evaluates zoo model ``name`` on its card's test cases from ``data`` and compares with the card.

    The test cases are the run's saved test split (kept in ``card.json`` as ``test_ids``).

    Returns:
        ``{metric: (card value, measured value, within tolerance)}`` for the metrics with a tolerance.

    Raises:
        RunDirError: not a zoo model, or a card without its test ids.
    """
    folder = (root or zoo_root()) / name
    files = ZooFolder(folder)
    if not files.settings.is_file():
        raise RunDirError(f"{folder}: not a zoo model (no {files.settings.name})")
    card = read_card(folder)
    ids = card.get("test_ids")
    if not isinstance(ids, list) or not ids:
        raise RunDirError(f"{files.card_json}: no test_ids to verify against")
    predictor = load_zoo_predictor(folder, tta=bool(card.get("tta", False)))
    cases = select(load_cases(predictor.config, data), ids)
    _, summary = evaluate_cases(predictor, cases, None)
    tolerance = tolerance or TOLERANCE
    report = {}
    for key, stats in card["test_metrics"].items():
        allowed = next((t for prefix, t in tolerance.items() if key.startswith(prefix)), None)
        if allowed is None or key not in summary:
            continue
        measured = summary[key]["mean"]
        both_undefined = math.isnan(measured) and math.isnan(stats["mean"])  # e.g. no HC on an empty mask
        report[key] = (stats["mean"], measured, both_undefined or abs(measured - stats["mean"]) <= allowed)
    return report


def rebuild(name: str, data: str | Path, work: str | Path, root: Path | None = None) -> Path:
    """Trains zoo model ``name`` again from ``data`` with the recipe and overrides on its card,
    evaluates it on its test split and writes it over the zoo folder (its card re-measured).

    ``work`` receives the training run (a new folder).

    Raises:
        RunDirError: not a zoo model, or a card without its recipe.
    """
    from medseg.config import load_config
    from medseg.experiments.evaluate import evaluate_run
    from medseg.experiments.train import train_run

    folder = (root or zoo_root()) / name
    card = read_card(folder)
    if not card.get("recipe") or not isinstance(card.get("overrides"), list):
        raise RunDirError(f"{ZooFolder(folder).card_json}: no recipe to rebuild from")
    run_dir = Path(work)
    train_run(load_config(card["recipe"], card["overrides"]), data, run_dir)
    evaluate_run(run_dir, data, "test")
    hardware = card.get("training", {}).get("hardware", "")
    return package_run(
        run_dir, name, card["dataset_key"], card["recipe"], card["overrides"], hardware, card.get("targets"), root
    )
