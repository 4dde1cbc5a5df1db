"""The model registry: ``@MODELS.register("name")`` on a factory, ``create_model(name, ...)`` to build one.

An architecture module imports :data:`MODELS` from here (never from the package ``__init__``), and
``medseg/models/__init__.py`` imports the module once so that its factory is registered.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from medseg.errors import ConfigError, OptionError
from medseg.registry import Registry

MODELS: Registry = Registry("model")


def create_model(name: str, in_channels: int = 1, classes: int = 2, **params: Any) -> nn.Module:
    """Builds a registered model; it maps ``(N, in_channels, H, W)`` to logits ``(N, classes, H, W)``.

    Raises:
        ConfigError: unknown name (lists the known ones) or an unknown parameter.
        OptionError: a parameter out of range (a ``ConfigError`` and a ``ValueError``; the message
            names the parameter and what to change).
    """
    try:
        factory = MODELS.get(name)
    except KeyError as exc:
        raise ConfigError(str(exc.args[0])) from None
    try:
        return factory(in_channels=in_channels, classes=classes, **params)
    except TypeError as exc:
        raise ConfigError(f"model {name!r}: {exc}") from None
    except ValueError as exc:
        raise OptionError(f"model {name!r}: {exc}") from None


def list_models() -> list[str]:
    """Names of the registered models, sorted."""
    return MODELS.names()
