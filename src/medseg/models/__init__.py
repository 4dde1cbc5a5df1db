"""Models: ``create_model(name, in_channels=.., classes=.., **params)`` returns logits ``(N, C, H, W)``.

Adding an architecture is one new module whose factory carries ``@MODELS.register("name")``
(``MODELS`` from :mod:`medseg.models.registry`) and one import line below. This file only
re-exports.
"""

from __future__ import annotations

# One line per architecture module; importing it registers its factory.
from medseg.models import (  # noqa: F401
    attention_unet,
    mobile_unet,
    res_attention_unet,
    res_unet,
    unet,
    unet_plus_plus,
)
from medseg.models.outputs import count_parameters, output_channels, to_probabilities
from medseg.models.registry import MODELS, create_model, list_models

__all__ = ["MODELS", "count_parameters", "create_model", "list_models", "output_channels", "to_probabilities"]
