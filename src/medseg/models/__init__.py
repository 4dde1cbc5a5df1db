"""Model zoo: ``create_model(name, in_channels=.., classes=.., **params)``.

Adding an architecture is one new module defining a factory decorated with
``@MODELS.register("name")`` and one import line below. Models return logits ``(N, C, H, W)``.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from medseg.errors import ConfigError
from medseg.registry import Registry

MODELS: Registry = Registry("model")


def create_model(name: str, in_channels: int = 1, classes: int = 2, **params: Any) -> nn.Module:
    """Builds a registered model.

    Raises:
        ConfigError: unknown name (lists the known ones) or invalid parameters.
    """
    try:
        factory = MODELS.get(name)
    except KeyError as exc:
        raise ConfigError(str(exc.args[0])) from None
    try:
        return factory(in_channels=in_channels, classes=classes, **params)
    except TypeError as exc:
        raise ConfigError(f"model {name!r}: {exc}") from None


def list_models() -> list[str]:
    return MODELS.names()


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


from medseg.models import unet  # noqa: E402,F401
