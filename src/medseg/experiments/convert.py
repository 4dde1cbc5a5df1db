"""``medseg convert``: datasets to LiTS NIfTI or nnU-Net raw, into a medseg output folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medseg.errors import ConfigError, DataError
from medseg.experiments.rundir import OutputDir, check_output_dir

CONVERSIONS = ("dicom", "ircadb", "nnunet")


def convert_dataset(
    kind: str,
    src: str | Path,
    out: str | Path,
    layout: str | None = None,
    options: dict[str, Any] | None = None,
    labels: list[str] | None = None,
    overwrite: bool = False,
) -> list[Path]:
    """Converts ``src`` into ``out`` (a new folder, or an earlier conversion with ``overwrite``).

    ``out`` follows :mod:`medseg.experiments.rundir`: never mixed with other files, replaced only
    when the new conversion is complete.

    Returns:
        The written files, as they lie in ``out``.

    Raises:
        ConfigError: unknown conversion, missing ``layout``; RunDirError: ``out`` refused;
        DataError: unreadable source files.
    """
    if kind not in CONVERSIONS:
        raise ConfigError(f"unknown conversion {kind!r}; known: {', '.join(CONVERSIONS)}")
    if kind == "nnunet" and layout is None:
        raise ConfigError("convert nnunet needs --layout, the reader of SRC (e.g. kvasir)")
    src, out = Path(src), Path(out)
    check_output_dir(out, "convert", [src], overwrite)
    cases = None
    if kind == "nnunet":
        from medseg.data.checks import summarize_problems
        from medseg.data.readers import check_dataset

        cases, problems = check_dataset(layout, src, **(options or {}))
        if problems:
            raise summarize_problems(problems, src, layout)
    with OutputDir.create(
        out, "convert", [src], overwrite, info={"kind": kind, "source": str(src.resolve())}
    ) as output:
        work = output.work
        if kind == "ircadb":
            from medseg.data.readers.ircadb import convert_ircadb

            written = [p for pair in convert_ircadb(src, work) for p in pair]
        elif kind == "dicom":
            from medseg.data.readers.dicom import convert_dicom

            written = [p for pair in convert_dicom(src, work) for p in pair if p is not None]
        else:
            from medseg.data.nnunet import export_nnunet

            try:
                written = [export_nnunet(cases, work, labels) / "dataset.json"]
            except ValueError as exc:
                raise DataError(src, str(exc)) from None
    return [out / Path(p).relative_to(work) for p in written]
