"""Trained models shipped inside medseg, found by name (``medseg predict hc18 ...``, ``medseg.load("hc18")``).

A zoo model is a folder ``medseg/zoo/<name>/`` (in the spirit of a MONAI bundle):

    weights.safetensors   tensors only: the network's state dict, one prefix ``<k>.`` per ensemble member
    model.json            {"format": "medseg-zoo", "version": 1, "name", "members": [model spec, ...],
                          "config": the settings the predictor needs (preprocessing, classes, post-processing)}
    card.json, card.md    the model card: data and licence, split, command and code version, training
                          time and hardware, held-out metrics (mean, sd, n), intended use, failure modes

Nothing here runs code from the folder: the weights are read with ``safetensors`` and the settings
are JSON checked like any config.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from medseg.config import config_from_dict
from medseg.errors import RunDirError
from medseg.inference.predictor import Predictor
from medseg.models.checkpoint import model_from_checkpoint
from medseg.run_folder import ZooFolder

ZOO_DIR = Path(__file__).resolve().parents[1] / "zoo"
FORMAT = "medseg-zoo"
_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


def zoo_root() -> Path:
    """The folder of the zoo (``medseg/zoo``; the ``MEDSEG_ZOO`` environment variable names another)."""
    return Path(os.environ.get("MEDSEG_ZOO") or ZOO_DIR)


def zoo_names(root: Path | None = None) -> list[str]:
    """The names of the zoo's models (folders holding a ``model.json``), sorted."""
    root = root or zoo_root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if _NAME.fullmatch(p.name) and ZooFolder(p).settings.is_file())


def zoo_folder(name: str, root: Path | None = None) -> Path | None:
    """The folder of zoo model ``name``; None when ``name`` is not one (a path, or an unknown name)."""
    root = root or zoo_root()
    if not _NAME.fullmatch(str(name)) or name not in zoo_names(root):
        return None
    return root / name


def read_card(folder: Path) -> dict[str, Any]:
    """The machine-readable model card (``card.json``) of a zoo folder; ``{}`` without one.

    Raises:
        RunDirError: a card that is not a JSON object.
    """
    path = ZooFolder(folder).card_json
    if not path.is_file():
        return {}
    try:
        card = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise RunDirError(f"{path}: not readable as JSON ({exc})") from None
    if not isinstance(card, dict):
        raise RunDirError(f"{path}: expected a JSON object")
    return card


def read_settings(folder: Path) -> dict[str, Any]:
    """``model.json`` of a zoo folder, checked for its format and members.

    Raises:
        RunDirError: missing, not JSON, another format, or no members.
    """
    path = ZooFolder(folder).settings
    try:
        settings = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise RunDirError(f"{path}: not readable as JSON ({exc})") from None
    if not isinstance(settings, dict) or settings.get("format") != FORMAT:
        raise RunDirError(f"{path}: not a medseg zoo model (format {FORMAT!r} expected)")
    members = settings.get("members")
    if not isinstance(members, list) or not members or not all(isinstance(m, dict) for m in members):
        raise RunDirError(f"{path}: 'members' must list the model spec of each network")
    if not isinstance(settings.get("config"), dict):
        raise RunDirError(f"{path}: 'config' must hold the model's settings")
    return settings


def load_zoo_predictor(folder: Path, tta: bool = False, **options: Any) -> Predictor:
    """A :class:`Predictor` for a zoo folder (an ensemble when it holds several members).

    ``options``: ``device``, ``sliding_window``, ``batch_size``, ``precision`` as for :class:`Predictor`.

    Raises:
        RunDirError: unreadable settings or weights, or weights that do not fit the specs.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    files = ZooFolder(folder)
    settings = read_settings(folder)
    config = config_from_dict(settings["config"], str(files.settings))
    try:
        tensors = load_file(files.weights)
    except (OSError, SafetensorError) as exc:
        raise RunDirError(f"{files.weights}: unreadable weights ({exc})") from None
    models = []
    for index, spec in enumerate(settings["members"]):
        prefix = f"{index}."
        state_dict = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        models.append(model_from_checkpoint({"model": spec, "state_dict": state_dict}, files.weights))
    return Predictor(models, config, tta=tta, **options)
