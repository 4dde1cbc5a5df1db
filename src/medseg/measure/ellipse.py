"""Ellipses: least-squares fit to contours, rasterisation, perimeter.

Coordinates are image pixels: ``x`` along columns, ``y`` along rows (down), angles in radians
measured from the x axis towards the y axis, as OpenCV uses them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage
from skimage import measure

from medseg.measure.components import fill_holes as fill_mask_holes


@dataclass(frozen=True)
class Ellipse:
    """An ellipse in pixel coordinates.

    Attributes:
        cx, cy: centre (column, row).
        a: semi-axis along the direction ``angle``.
        b: semi-axis perpendicular to it.
        angle: radians.
    """

    cx: float
    cy: float
    a: float
    b: float
    angle: float

    @property
    def perimeter(self) -> float:
        """Perimeter in pixels by Ramanujan's first approximation."""
        return ramanujan_perimeter(self.a, self.b)

    def scaled(self, sx: float, sy: float | None = None) -> Ellipse:
        """The same ellipse with coordinates multiplied by ``sx`` (and ``sy``; isotropic if None)."""
        sy = sx if sy is None else sy
        if not math.isclose(sx, sy, rel_tol=1e-6):
            raise ValueError("anisotropic scaling of an ellipse is not supported; resample the image first")
        return Ellipse(self.cx * sx, self.cy * sy, self.a * sx, self.b * sx, self.angle)


def ramanujan_perimeter(a: float, b: float) -> float:
    """Ellipse perimeter from semi-axes ``a`` and ``b`` (Ramanujan, error < 1e-4 % for heads)."""
    return math.pi * (3 * (a + b) - math.sqrt((3 * a + b) * (a + 3 * b)))


def fit_ellipse(points_xy: np.ndarray) -> Ellipse:
    """Least-squares ellipse through points (OpenCV's ``fitEllipse``, Fitzgibbon's method).

    Args:
        points_xy: ``(N, 2)`` array of ``(x, y)``, N >= 5.

    Raises:
        ValueError: fewer than 5 points.
    """
    points = np.asarray(points_xy, dtype=np.float32).reshape(-1, 2)
    if len(points) < 5:
        raise ValueError(f"an ellipse needs at least 5 contour points, got {len(points)}")
    (cx, cy), (width, height), angle_deg = cv2.fitEllipse(points)
    return Ellipse(float(cx), float(cy), float(width) / 2, float(height) / 2, math.radians(angle_deg))


def point_distances(ellipse: Ellipse, points_xy: np.ndarray) -> np.ndarray:
    """Approximate distance (pixels) of each ``(x, y)`` point to the ellipse's outline.

    Uses the first-order (Sampson) approximation: the implicit function's value over its gradient's
    norm, accurate for points near the outline.
    """
    points = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
    cos, sin = math.cos(ellipse.angle), math.sin(ellipse.angle)
    dx, dy = points[:, 0] - ellipse.cx, points[:, 1] - ellipse.cy
    u, v = dx * cos + dy * sin, -dx * sin + dy * cos
    a2, b2 = max(ellipse.a, 1e-6) ** 2, max(ellipse.b, 1e-6) ** 2
    value = u**2 / a2 + v**2 / b2 - 1.0
    gradient = 2.0 * np.sqrt((u / a2) ** 2 + (v / b2) ** 2)
    return np.abs(value) / np.maximum(gradient, 1e-12)


def fit_ellipse_trimmed(points_xy: np.ndarray, keep: float = 0.9, rounds: int = 2) -> Ellipse:
    """Least-squares ellipse refitted without the contour points that fit it worst.

    A mask edge that bulges (a neighbouring structure merged into the head) or is cut (shadowing)
    pulls a plain least-squares fit; dropping the worst ``1 - keep`` of the points and refitting,
    ``rounds`` times, follows the rest of the outline.

    Args:
        points_xy: ``(N, 2)`` contour points.
        keep: share of points kept in each refit (0.5-1).
        rounds: refits after the first fit.

    Raises:
        ValueError: fewer than 5 points, or ``keep`` outside [0.5, 1].
    """
    if not 0.5 <= keep <= 1.0:
        raise ValueError(f"keep must lie in [0.5, 1], got {keep}")
    points = np.asarray(points_xy, dtype=np.float32).reshape(-1, 2)
    ellipse = fit_ellipse(points)
    for _ in range(rounds):
        distances = point_distances(ellipse, points)
        kept = points[distances <= np.quantile(distances, keep)]
        if len(kept) < 5:
            break
        ellipse = fit_ellipse(kept)
    return ellipse


def fit_ellipse_to_outline(outline: np.ndarray) -> Ellipse:
    """Fits an ellipse through the pixels of a drawn outline (e.g. an HC18 annotation).

    Args:
        outline: ``(H, W)`` array, non-zero on the outline.
    """
    rows, cols = np.nonzero(outline)
    return fit_ellipse(np.stack([cols, rows], axis=1))


def largest_component(mask: np.ndarray, fill_holes: bool = True) -> np.ndarray:
    """Keeps the largest 8-connected foreground component of a binary mask (``(H, W)`` bool)."""
    mask = np.asarray(mask).astype(bool)
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if count > 1:
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        mask = labels == int(np.argmax(sizes))
    if fill_holes:
        mask = fill_mask_holes(mask)
    return mask


def mask_contour(mask: np.ndarray) -> np.ndarray:
    """Sub-pixel outer contour of a binary (or probability) mask at level 0.5.

    The 0.5 iso-line lies half-way between inside and outside pixel centres, which is where a
    filled region's true edge lies on average; fitting pixel centres instead shrinks the fit by
    about half a pixel.

    Returns:
        ``(N, 2)`` ``(x, y)`` points of the longest contour (empty when the mask is empty).
    """
    padded = np.pad(np.asarray(mask, dtype=np.float32), 1)
    contours = measure.find_contours(padded, 0.5)
    if not contours:
        return np.zeros((0, 2), dtype=np.float32)
    longest = max(contours, key=len) - 1.0  # undo the padding
    return longest[:, ::-1].astype(np.float32)  # (row, col) -> (x, y)


def fit_ellipse_to_mask(mask: np.ndarray) -> Ellipse | None:
    """Ellipse fitted to the contour of the largest component; ``None`` if it is too small."""
    region = largest_component(mask)
    contour = mask_contour(region)
    if len(contour) < 5:
        return None
    return fit_ellipse(contour)


def rasterize_ellipse(ellipse: Ellipse, shape: tuple[int, int]) -> np.ndarray:
    """Filled ellipse as a ``(H, W)`` bool mask: pixels whose centre lies inside.

    Only the ellipse's bounding box (plus a pixel) is evaluated; no pixel outside it can be inside.
    """
    a, b = max(ellipse.a, 1e-6), max(ellipse.b, 1e-6)
    cos, sin = math.cos(ellipse.angle), math.sin(ellipse.angle)
    half_w, half_h = math.hypot(a * cos, b * sin), math.hypot(a * sin, b * cos)
    window = (ellipse.cx - half_w, ellipse.cx + half_w, ellipse.cy - half_h, ellipse.cy + half_h)
    if all(math.isfinite(v) for v in window):
        c0, c1 = max(0, math.floor(window[0]) - 1), min(shape[1], math.ceil(window[1]) + 2)
        r0, r1 = max(0, math.floor(window[2]) - 1), min(shape[0], math.ceil(window[3]) + 2)
    else:
        r0, r1, c0, c1 = 0, shape[0], 0, shape[1]
    mask = np.zeros(shape, dtype=bool)
    if r0 >= r1 or c0 >= c1:
        return mask
    rows, cols = np.mgrid[r0:r1, c0:c1].astype(np.float64)
    dx, dy = cols - ellipse.cx, rows - ellipse.cy
    u = dx * cos + dy * sin
    v = -dx * sin + dy * cos
    mask[r0:r1, c0:c1] = (u / a) ** 2 + (v / b) ** 2 <= 1.0
    return mask


def ellipse_outline_points(ellipse: Ellipse, n: int = 720) -> np.ndarray:
    """``(n, 2)`` ``(x, y)`` points on the ellipse."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    cos, sin = math.cos(ellipse.angle), math.sin(ellipse.angle)
    u, v = ellipse.a * np.cos(t), ellipse.b * np.sin(t)
    return np.stack([ellipse.cx + u * cos - v * sin, ellipse.cy + u * sin + v * cos], axis=1)
