"""The zoo's model card as Markdown, and the parts of it read from a run's evaluation folder."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from medseg.experiments.evaluate_volumes import VOLUME_PREFIX
from medseg.run_folder import RunFolder


def scored_volumes(run_dir: Path, split: str) -> list[str]:
    """The volumes scored in 3D on ``split`` (``per_volume.csv``), by name."""
    path = RunFolder(run_dir).evaluation(split).per_volume
    return [row["volume"] for row in csv.DictReader(path.open())] if path.is_file() else []


def volume_lines(run_dir: Path, split: str) -> list[str]:
    """One sentence per volume scored in 3D on ``split``: Dice per class and volume differences."""
    path = RunFolder(run_dir).evaluation(split).per_volume
    lines = []
    for row in csv.DictReader(path.open()) if path.is_file() else []:
        scores = [f"{k.removeprefix('dice_')} Dice {float(v):.3f}" for k, v in row.items() if k.startswith("dice_")]
        volume = [
            f"{k.removesuffix('_ml_diff_pct')} volume {float(v):+.1f}%"
            for k, v in row.items()
            if k.endswith("_ml_diff_pct") and number(v)
        ]
        lines.append(f"{row.get('volume', '?')}: {', '.join(scores + volume)}")
    return lines


def failure_modes(run_dir: Path, split: str = "test", classes: list[str] | None = None) -> list[str]:
    """The worst cases by Dice, and what the QC flagged, as plain sentences."""
    evaluation = RunFolder(run_dir).evaluation(split)
    which = "held-out" if split == "test" else split
    text: list[str] = []
    path = evaluation.per_case
    if not path.is_file():
        return text
    rows = list(csv.DictReader(path.open()))
    last = f"dice_{classes[-1]}" if classes else "dice"
    column = next((c for c in ("dice_head", "dice", last) if rows and c in rows[0]), None)
    scored = [r for r in rows if column and number(r.get(column, ""))]
    scored.sort(key=lambda r: float(r[column]))
    notes = []
    for row in scored[:3]:
        error = row.get("hc_absdiff_mm", "")
        extra = f", |HC error| {float(error):.1f} mm" if number(error) else ""
        bsi = row.get("bsi_absdiff_percent", "")
        extra += f", |BSI error| {float(bsi):.2f} points" if number(bsi) else ""
        label = "Dice" if column in ("dice_head", "dice") else column.replace("dice_", "") + " Dice"
        notes.append(f"{row.get('id', '?')}: {label} {float(row[column]):.3f}{extra}")
    flagged = [r for r in rows if r.get("qc_flag") == "review"]
    if notes:
        text.append(f"worst {which} cases: {'; '.join(notes)}")
    if flagged:
        text.append(f"{len(flagged)} of {len(rows)} {which} cases flagged for review by the QC (qc_flag)")
    return text


def number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except (TypeError, ValueError):
        return False


def card_markdown(card: dict[str, Any]) -> str:
    """The model card as Markdown (the same facts as ``card.json``)."""
    data, training = card["training_data"], card["training"]
    held_out = card.get("held_out", True)
    lines = [
        f"# {card['name']}: {card['model']} ({', '.join(card['classes'][1:])})",
        "",
        f"**Intended use.** {card['intended_use']}",
    ]
    if data.get("phantoms"):
        lines += ["", "**Trained and tested on synthetic phantoms; not validated on patient scans.**"]
    if card.get("notes"):
        lines += [""] + [f"- {note}" for note in card["notes"]]
    lines += [
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
        "## Held-out test" if held_out else f"## Its {card.get('evaluated_split', 'training')} data (not held out)",
        f"Measured with {card['evaluation']}.",
        "",
        *STATS_HEADER,
    ]
    for key, stats in card["test_metrics"].items():
        if not key.startswith(("qc_", f"{VOLUME_PREFIX}qc_")):
            lines.append(_stats_row(key, stats))
    if card["shortfalls"]:
        lines += ["", "**Below its targets:**"]
        for key, miss in card["shortfalls"].items():
            lines.append(
                f"- {key}: {_fmt(miss['reached'])} against a target of {miss['target']} (by {_fmt(miss['by'])})"
            )
    elif card["targets"]:
        lines += ["", "Reaches its targets: " + ", ".join(f"{k} {v}" for k, v in card["targets"].items()) + "."]
    if card.get("per_volume"):
        lines += ["", "Per volume (3D, after the 3D post-processing):"] + [f"- {text}" for text in card["per_volume"]]
    for test in card.get("other_tests", []):
        lines += _other_test_markdown(test, card["shortfalls"])
    lines += _expected_markdown(card.get("expected_performance"))
    if card["failure_modes"]:
        lines += ["", "## Known failure modes"] + [f"- {text}" for text in card["failure_modes"]]
    return "\n".join(lines) + "\n"


def _other_test_markdown(test: dict[str, Any], shortfalls: dict[str, Any]) -> list[str]:
    """The model on another held-out test set (``other_tests`` of the card), and its misses there."""
    lines = [
        "",
        f"## Also held out: {test['label']}",
        f"The same model on {len(test['ids'])} images of `{test['folder']}` it never trained on "
        f"(`{test['name']}:` targets refer to these).",
        "",
        *STATS_HEADER,
    ]
    for key, stats in test["metrics"].items():
        if not key.startswith("qc_"):
            lines.append(_stats_row(key, stats))
    return lines


def _expected_markdown(expected: dict[str, Any] | None) -> list[str]:
    if not expected or not expected.get("rows"):
        return []
    columns = list(expected["rows"][0])
    lines = ["", "## Expected performance (not measured on this model)", "", str(expected.get("label", "")), ""]
    lines += ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in expected["rows"]:
        lines.append(
            "| " + " | ".join(_fmt(row.get(c)) if not isinstance(row.get(c), str) else row[c] for c in columns) + " |"
        )
    if expected.get("note"):
        lines += ["", str(expected["note"])]
    if expected.get("commands"):
        lines += ["", "```bash", *expected["commands"], "```"]
    return lines


def _minutes(seconds: Any) -> str:
    return f"{float(seconds) / 60:.0f} min" if number(str(seconds)) else "unknown time"


STATS_HEADER = ("| metric | mean | 95% CI of the mean | sd | median | n |", "|---|---|---|---|---|---|")


def _stats_row(key: str, stats: dict[str, Any]) -> str:
    """One row of a card's metrics table; the interval is ``-`` on a card made before intervals."""
    low, high = stats.get("ci95_low"), stats.get("ci95_high")
    interval = f"{_fmt(low)} to {_fmt(high)}" if isinstance(low, float) and math.isfinite(low) else "-"
    cells = [_fmt(stats.get("mean")), interval, *(_fmt(stats.get(k)) for k in ("std", "median", "n"))]
    return f"| {key} | {' | '.join(cells)} |"


def _fmt(value: Any) -> str:
    if isinstance(value, int):
        return str(value)
    return f"{value:.4g}" if isinstance(value, float) and math.isfinite(value) else "-"
