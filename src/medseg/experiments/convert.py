"""``medseg convert``: datasets to LiTS NIfTI or nnU-Net raw, into a medseg output folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medseg.data.converters import CONVERTERS
from medseg.errors import ConfigError
from medseg.experiments.rundir import OutputDir, check_output_dir


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
    try:
        converter = CONVERTERS.get(kind)
    except KeyError as exc:
        raise ConfigError(str(exc.args[0])) from None
    if converter.reads_layout and layout is None:
        raise ConfigError(f"convert {kind} needs --layout, the reader of SRC (e.g. kvasir)")
    src, out = Path(src), Path(out)
    check_output_dir(out, "convert", [src], overwrite)
    cases = None
    if converter.reads_layout:
        from medseg.data.checks import summarize_problems
        from medseg.data.readers import check_dataset

        cases, problems = check_dataset(layout, src, **(options or {}))
        if problems:
            raise summarize_problems(problems, src, layout)
    with OutputDir.create(
        out, "convert", [src], overwrite, info={"kind": kind, "source": str(src.resolve())}
    ) as output:
        work = output.work
        written = converter(src, work, cases, labels)
    return [out / Path(p).relative_to(work) for p in written]
