"""medseg: medical image segmentation with the U-Net family.

From Python (see docs/python.md)::

    import medseg

    model = medseg.load("runs/hc18")
    result = model.predict("image.png", pixel_size_mm=0.12)
"""

from __future__ import annotations

from typing import Any

from medseg.version import __version__

__all__ = ["ImageResult", "Model", "__version__", "load"]


def __getattr__(name: str) -> Any:
    # The API pulls in PyTorch and the inference stack: imported on first use, so that
    # ``import medseg.x`` and ``medseg --help`` stay quick.
    if name in ("load", "Model", "ImageResult"):
        from medseg import api

        return getattr(api, name)
    raise AttributeError(f"module 'medseg' has no attribute {name!r}")
