"""The HTML page: an upload form, and the overlay, measurements and mask download of a result.

Plain server-rendered HTML (no script, nothing loaded from elsewhere): the form posts to ``/``.
"""

from __future__ import annotations

from html import escape
from typing import Any

from medseg.measure.units import split_unit

STYLE = """
body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222}
form{border:1px solid #ccc;padding:1em;border-radius:6px}label{display:block;margin:.5em 0}
.error{color:#a00;font-weight:bold}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}img{max-width:100%;border:1px solid #ccc}
.note{color:#666;font-size:.9em}
"""

# what each measurement is; its unit comes from the end of its name (medseg.measure.units)
LABELS = {
    "hc": "Head circumference",
    "pixel_size": "Pixel size",
    "center_x": "Ellipse centre x",
    "center_y": "Ellipse centre y",
    "semi_axes_a": "Semi-axis a",
    "semi_axes_b": "Semi-axis b",
    "angle": "Ellipse angle",
    "slices": "Slices",
    "shown_slice": "Slice shown",
}


def _label(key: str) -> str:
    """``"hc_px"`` -> ``"Head circumference (px)"``: the unit is read from the name, nowhere else."""
    stem, unit = split_unit(key)
    if stem in LABELS:
        text = LABELS[stem]
    elif stem.startswith("area_"):
        text = f"Area of {stem[5:]}"
    elif unit == "ml":
        text = f"Volume of {stem}"
    elif stem.endswith("_burden_pct"):
        return f"{stem[:-11].capitalize()} burden (% of the organ)"
    elif stem.endswith("_diameter"):
        text = stem[:-9].replace("_", " ").capitalize() + " diameter"
    else:
        text = stem
    return f"{text} ({unit})" if unit else text


def _value(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) >= 0.1 or value == 0 else f"{value:.4g}"
    return escape(str(value))


def views_note(model: dict[str, Any]) -> str:
    """``", averaging the flipped view and input scales 1, 1.1, 1.2"``, or ``""`` for one plain pass."""
    views = ["the flipped view"] if model.get("tta") else []
    scales = model.get("scales") or [1.0]
    if list(scales) != [1.0]:
        views.append("input scales " + ", ".join(f"{s:g}" for s in scales))
    return f", averaging {' and '.join(views)}" if views else ""


def render_page(model: dict[str, Any], result: dict[str, Any] | None = None, error: str | None = None) -> str:
    """The whole page; ``result`` as returned by :func:`medseg.serve.analysis.analyze`."""
    classes = ", ".join(model["class_names"][1:])
    measures = ", ".join(model["measurements"]) or "areas"
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>medseg: {escape(model['name'])}</title><style>{STYLE}</style></head><body>",
        f"<h1>medseg: {escape(model['name'])}</h1>",
        f"<p class='note'>{escape(model['architecture'])} segmenting {escape(classes)}; measures {escape(measures)}; "
        f"runs on {escape(model['backend'])}{escape(views_note(model))}. Nothing you upload is stored.</p>",
        "<form method='post' action='/' enctype='multipart/form-data'>",
        "<label>Image: <input type='file' name='file' id='file' required "
        "accept='.png,.jpg,.jpeg,.tif,.tiff,.dcm,.nii,.nii.gz,image/png,image/jpeg,image/tiff,application/dicom'>"
        "</label>",
        f"<p class='note'>{escape(model['accepts'])}; at most {model['max_upload_mb']:g} MB.</p>",
        "<label>Pixel size (mm), if the file does not carry it: "
        "<input type='number' name='pixel_size_mm' id='pixel_size_mm' step='any' min='0'></label>",
        "<button type='submit' id='submit'>Segment</button></form>",
    ]
    if error:
        parts.append(f"<p class='error' id='error'>{escape(error)}</p>")
    if result:
        parts.append(_render_result(result))
    parts.append("</body></html>")
    return "\n".join(parts)


def _render_result(result: dict[str, Any]) -> str:
    rows = [
        f"<tr id='m-{escape(key)}'><th>{escape(_label(key))}</th><td>{_value(value)}</td></tr>"
        for key, value in result["measurements"].items()
    ]
    if result.get("mask_png"):
        href, name = f"data:image/png;base64,{result['mask_png']}", "mask.png"
    else:
        href, name = f"data:application/gzip;base64,{result['mask_nifti_gz']}", "labels.nii.gz"
    size = result["pixel_size_mm"]
    size_note = (
        f"pixel size {size:.4g} mm ({'entered' if result['pixel_size_source'] == 'form' else 'from the file'})"
        if size is not None
        else "no pixel size: lengths in pixels (px), areas in square pixels (px²)"
    )
    overlay_src = f"data:image/png;base64,{result['overlay_png']}"
    return "\n".join(
        [
            "<section id='result'>",
            f"<h2>Result: {escape(result['filename'])}</h2>",
            f"<p class='note'>{escape(result['format'])}, {result['width']}x{result['height']}"
            f"{', ' + str(result['measurements'].get('slices')) + ' slices' if result['kind'] == 'volume' else ''}; "
            f"{escape(size_note)}; {result['seconds']:.2f} s on {escape(result['backend'])}.</p>",
            f"<table id='measurements'>{''.join(rows)}</table>",
            f"<p><a id='download' href='{href}' download='{name}'>Download the mask ({name})</a></p>",
            f"<img id='overlay' alt='prediction outlined on the image' src='{overlay_src}'>",
            "</section>",
        ]
    )
