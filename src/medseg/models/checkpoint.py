"""Checkpoints that rebuild their model without the config file, written atomically.

A checkpoint holds tensors and plain data only (dict, list, tuple, str, int, float, bool, None):
:func:`save_checkpoint` converts NumPy values to tensors or Python numbers and refuses anything
else, and :func:`load_checkpoint` reads with ``torch.load(weights_only=True)``, so a planted
pickle cannot run code when a checkpoint is loaded.
"""

from __future__ import annotations

import io
import pickle
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from medseg.errors import RunDirError
from medseg.io import atomic_write_bytes
from medseg.models.base import legacy_key
from medseg.models.registry import create_model
from medseg.run_folder import RunFolder

_PLAIN = (str, int, float, bool, type(None))
_UNSUPPORTED = re.compile(r"(?:Unsupported global: GLOBAL|unsupported GLOBAL) ([\w.]+)")


def plain_state(value: Any, where: str = "state") -> Any:
    """``value`` with NumPy arrays as tensors and NumPy scalars as Python numbers.

    Raises:
        TypeError: a value that is neither a tensor nor plain data (names its key path).
    """
    if isinstance(value, np.generic):  # before the plain types: np.float64 is a float subclass
        return value.item()
    if isinstance(value, (torch.Tensor, *_PLAIN)):
        return value
    if isinstance(value, np.ndarray):
        return torch.from_numpy(
            np.ascontiguousarray(value).astype(np.int64 if value.dtype == np.uint32 else value.dtype)
        )
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {k: plain_state(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        items = [plain_state(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    raise TypeError(f"{where}: a checkpoint holds tensors and plain data only, not {type(value).__name__}")


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Writes ``state`` (made plain by :func:`plain_state`) with ``torch.save``, atomically.

    ``state`` holds at least ``model`` (name, params, in_channels, classes) and ``state_dict``.
    """
    buffer = io.BytesIO()
    torch.save(plain_state(state), buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Reads a checkpoint onto the CPU with ``torch.load(weights_only=True)``: no code runs.

    Raises:
        RunDirError: missing or unreadable file, or a file holding anything but tensors and plain data.
    """
    path = Path(path)
    if not path.is_file():
        raise RunDirError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = _UNSUPPORTED.search(str(exc))
        if found is None:
            raise RunDirError(
                f"{path}: unreadable checkpoint (damaged, not a PyTorch file, or holding data that is not "
                "loaded for safety)"
            ) from None
        what = f" ({found.group(1)})"
        raise RunDirError(
            f"{path}: refused: the checkpoint holds Python objects{what}, not only tensors and plain data "
            "(a tampered file, or one written by another program); it was not loaded"
        ) from None
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds for a damaged file
        raise RunDirError(f"{path}: unreadable checkpoint ({type(exc).__name__}: {str(exc)[:200]})") from None
    if not isinstance(state, dict) or not isinstance(state.get("model"), dict) or "state_dict" not in state:
        raise RunDirError(f"{path}: not a medseg checkpoint (no model spec and state_dict)")
    return state


def checkpoint_path(run_dir: str | Path, name: str) -> Path:
    """The checkpoint file ``name`` of a run: ``best``, ``last`` or a ``.pt`` path inside ``run_dir``.

    The one rule of :meth:`medseg.run_folder.RunFolder.checkpoint`: a bare name means
    ``run_dir/checkpoints/<name>.pt``; a path is taken relative to ``run_dir``. The resolved file
    (links followed) must lie inside ``run_dir``.

    Raises:
        RunDirError: the name leads outside the run folder (``..``, an absolute path elsewhere, a link).
    """
    return RunFolder(run_dir).checkpoint(name)


def model_from_spec(spec: dict[str, Any]) -> nn.Module:
    """A freshly initialised model from its spec (name, params, in_channels, classes), as checkpoints store it."""
    return create_model(spec["name"], in_channels=spec["in_channels"], classes=spec["classes"], **spec["params"])


def model_from_checkpoint(state: dict[str, Any], where: str | Path = "checkpoint") -> nn.Module:
    """Rebuilds the model stored in a checkpoint, in eval mode.

    Raises:
        RunDirError: the stored model spec or weights do not fit together.
    """
    spec = state["model"]
    try:
        model = model_from_spec(spec)
        model.load_state_dict(state["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise RunDirError(f"{where}: the stored model cannot be rebuilt ({str(exc).splitlines()[0][:200]})") from None
    return model.eval()


def initial_weights_path(given: str | Path) -> Path:
    """The checkpoint named by ``train.init_weights``: a ``.pt`` file, or a run folder's ``best.pt``.

    Raises:
        RunDirError: nothing there, or a run folder without ``checkpoints/best.pt``.
    """
    path = Path(given)
    if path.is_dir():
        best = RunFolder(path).best
        if not best.is_file():
            raise RunDirError(f"{path}: a run folder without checkpoints/best.pt; name the .pt file to start from")
        return best
    if not path.is_file():
        raise RunDirError(f"{path}: checkpoint not found")
    return path


def initial_weights(spec: dict[str, Any], given: str | Path) -> tuple[Path, dict[str, Any]]:
    """The weights ``train.init_weights`` names, checked against this run's model spec.

    Args:
        spec: this run's model spec (name, params, in_channels, classes); the checkpoint's must be equal.
        given: a checkpoint file or a run folder (its ``checkpoints/best.pt``).

    Returns:
        The checkpoint file read and its ``state_dict``.

    Raises:
        RunDirError: unreadable checkpoint, or one holding another model (names what differs).
    """
    path = initial_weights_path(given)
    state = load_checkpoint(path)
    stored = state["model"]
    differing = [key for key in ("name", "in_channels", "classes", "params") if stored.get(key) != spec[key]]
    if differing:
        what = ", ".join(f"{key} {stored.get(key)!r} here {spec[key]!r}" for key in differing)
        raise RunDirError(f"{path}: holds another model than this run's ({what}); its weights cannot start this run")
    return path, state["state_dict"]


def load_initial_weights(net: nn.Module, spec: dict[str, Any], given: str | Path) -> Path:
    """Copies the weights of another run into ``net`` (a warm start; optimiser and schedule start afresh).

    Args:
        net: the freshly built model of this run, described by ``spec``.
        spec, given: as :func:`initial_weights`.

    Returns:
        The checkpoint file read.

    Raises:
        RunDirError: as :func:`initial_weights`, or weights that do not fit ``net``.
    """
    path, state_dict = initial_weights(spec, given)
    try:
        net.load_state_dict(state_dict)
    except RuntimeError as exc:
        reason = str(exc).splitlines()[0][:200]
        raise RunDirError(f"{path}: its weights do not fit this run's model ({reason})") from None
    return path


def reorder_legacy_optimizer_state(
    model: nn.Module, saved_state_dict: dict[str, Any], optimizer_state: dict[str, Any]
) -> dict[str, Any]:
    """The optimiser state of a checkpoint saved with the models' earlier layout, in today's parameter order.

    An optimiser's state refers to parameters by position. Where an architecture's parts moved
    (attention gates now before the head, U-Net++'s encoder column before its nested nodes), the
    positions of a checkpoint written before differ from ``model.parameters()``; the saved
    ``state_dict``'s key order (the parameters' order then) tells where each one went, through the
    model's ``legacy_prefixes``. A state that needs no reordering (written by the current layout,
    or an optimiser with several parameter groups) is returned unchanged.

    Args:
        model: the model being resumed, as built now.
        saved_state_dict: the checkpoint's model weights (key order as saved).
        optimizer_state: the checkpoint's ``optimizer.state_dict()``, one group over every parameter.
    """
    prefixes = getattr(model, "legacy_prefixes", None) or {}
    position = {name: i for i, (name, _) in enumerate(model.named_parameters())}
    saved_order = [position[new] for key in saved_state_dict if (new := legacy_key(key, prefixes)) in position]
    groups = optimizer_state.get("param_groups", [])
    if (
        saved_order == list(range(len(position)))
        or sorted(saved_order) != list(range(len(position)))
        or len(groups) != 1
        or len(groups[0]["params"]) != len(position)
    ):
        return optimizer_state
    ids = list(groups[0]["params"])
    now = [0] * len(ids)
    for old, new in enumerate(saved_order):
        now[new] = ids[old]
    return {**optimizer_state, "param_groups": [{**groups[0], "params": now}]}
