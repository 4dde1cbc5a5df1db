"""``medseg convert`` and ``medseg check``: converting and checking datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from medseg.cli.base import check_option, console, fail
from medseg.cli.choices import Conversion, Layout, value
from medseg.errors import MedsegError


def convert(
    kind: Annotated[Conversion, typer.Argument(help="ircadb or dicom (-> LiTS NIfTI), nnunet (-> nnU-Net raw)")],
    src: Annotated[Path, typer.Argument(help="source dataset folder")],
    out: Annotated[Path, typer.Argument(help="output folder")],
    layout: Annotated[Layout | None, typer.Option(help="nnunet: medseg reader of SRC")] = None,
    option: Annotated[list[str] | None, typer.Option(help="nnunet: reader option key=value (repeatable)")] = None,
    labels: Annotated[str | None, typer.Option(help="nnunet: class names in label order, comma-separated")] = None,
    overwrite: Annotated[
        bool, typer.Option(help="replace an earlier conversion in OUT (once the new one is done)")
    ] = False,
) -> None:
    """Convert a dataset: 3D-IRCADb or DICOM series to LiTS NIfTI, or any medseg layout to nnU-Net raw."""
    kind, layout = value(kind), value(layout)
    from medseg.experiments.convert import convert_dataset

    try:
        options = _reader_options(option)
        written = convert_dataset(kind, src, out, layout, options, labels.split(",") if labels else None, overwrite)
    except MedsegError as error:
        fail(error)
    for path in written:
        console.print(str(path), highlight=False)


def _reader_options(items: list[str] | None) -> dict:
    import yaml

    from medseg.errors import ConfigError

    options = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--option {item!r}: expected key=value")
        key, value = item.split("=", 1)
        try:
            options[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            options[key.strip()] = value
    return options


def check(
    data: Annotated[Path, typer.Argument(help="dataset root in its native layout")],
    layout: Annotated[Layout | None, typer.Option(help="reader of DATA (default: recognised from its files)")] = None,
    option: Annotated[list[str] | None, typer.Option(help="reader option key=value (repeatable)")] = None,
    max_pixels: Annotated[int | None, typer.Option(help="refuse larger images (width x height)")] = None,
    classes: Annotated[int | None, typer.Option(help="number of classes: mask labels must be below it")] = None,
    max_voxels: Annotated[int | None, typer.Option(help="refuse larger volumes (as data.max_voxels)")] = None,
) -> None:
    """Read every case of a dataset and list every problem (file: problem); exit 1 if any."""
    from medseg.data.readers import check_dataset
    from medseg.data.readers.detect import detect_layout
    from medseg.data.volumes.base import voxel_limit

    try:
        check_option("--max-pixels", max_pixels, max_pixels is not None and max_pixels >= 1, "at least 1")
        check_option("--max-voxels", max_voxels, max_voxels is not None and max_voxels >= 1, "at least 1")
        check_option(
            "--classes", classes, classes is not None and classes >= 2, "at least 2 (background and one class)"
        )
        name = value(layout)
        if name is None:
            name = detect_layout(data)
            console.print(f"layout: {name} (recognised; --layout to choose another)", highlight=False)
        options = _reader_options(option)
        with voxel_limit(max_voxels):
            cases, problems = check_dataset(
                name, data, max_pixels=max_pixels, max_label=classes - 1 if classes else None, **options
            )
    except MedsegError as error:
        fail(error)
    for problem in problems:
        console.print(f"{problem.path}: {problem.problem}", markup=False, highlight=False, soft_wrap=True)
    count = f"{len(problems)} problem{'' if len(problems) == 1 else 's'}"
    console.print(f"{len(cases)} cases read, {count} ({data}, layout {name})", highlight=False)
    if problems:
        raise typer.Exit(1)
