"""HTML rendering: Jinja2 templates (``reports/templates/``), images embedded as data URIs."""

from __future__ import annotations

import base64
import math
from functools import lru_cache
from typing import Any

import cv2
import jinja2
import numpy as np

from medseg.data.io import encode_image
from medseg.errors import DataError


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The template environment: package templates, autoescaping, strict undefined names."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("medseg.reports", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = format_number
    return env


def render(template: str, **context: Any) -> str:
    """Renders ``templates/<template>`` with ``context``."""
    return environment().get_template(template).render(**context)


def format_number(value: Any, digits: int = 4) -> str:
    """Numbers for tables: ``digits`` significant digits, integers as such, NaN/None as a dash."""
    if value is None or value == "":
        return "–"
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return value
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if not math.isfinite(float(value)):
        return "–"
    if float(value).is_integer() and abs(value) >= 1000:
        return f"{int(value):,}"
    return f"{float(value):.{digits}g}"


def data_uri(data: bytes, mime: str = "image/png") -> str:
    """``data:<mime>;base64,...`` for embedding ``data`` in a self-contained page."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def image_uri(rgb: np.ndarray, max_width: int = 480, quality: int = 88) -> str:
    """An ``(H, W, 3)`` uint8 RGB image, shrunk to at most ``max_width`` pixels wide, as a JPEG data URI.

    Raises:
        DataError: the array is not an RGB image or cannot be encoded.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.size == 0:
        raise DataError("overlay", f"expected an (H, W, 3) image, got shape {rgb.shape}")
    height, width = rgb.shape[:2]
    if width > max_width:
        rgb = cv2.resize(rgb, (max_width, max(1, round(height * max_width / width))), interpolation=cv2.INTER_AREA)
    encoded = encode_image(rgb, ".jpg", where="overlay", params=(cv2.IMWRITE_JPEG_QUALITY, quality))
    return data_uri(encoded, "image/jpeg")
