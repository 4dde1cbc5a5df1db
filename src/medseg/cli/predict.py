"""``medseg predict``: masks (or label volumes) and measurements for new images."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from medseg.cli.base import check_option, console, fail, parse_scales, warn
from medseg.cli.choices import CHECKPOINT, Backend, Precision, Threads, value
from medseg.errors import MedsegError

if TYPE_CHECKING:
    from medseg.inference.timing import Stopwatch


def predict(
    run_dir: Annotated[
        Path,
        typer.Argument(
            metavar="MODEL", help="a zoo model's name (medseg models), a training run directory, or an exported .onnx"
        ),
    ],
    input_path: Annotated[
        Path,
        typer.Argument(
            metavar="INPUT",
            help="a 2D image or a folder of them (or an HC18 root with test_set/), or volumes: a NIfTI file or folder, "
            "a DICOM series folder or zip, a 3D-IRCADb patient folder",
        ),
    ],
    out: Annotated[Path, typer.Option(help="output folder (masks or label volumes, and the measurements)")],
    pixel_size: Annotated[
        Path | None,
        typer.Option(
            metavar="MM|CSV",
            help="one pixel size in mm for every image, or a CSV filename,pixel size(mm) (HC18 format); "
            "images without a size are measured in px",
        ),
    ] = None,
    checkpoint: Annotated[str, typer.Option(metavar=CHECKPOINT, help="the checkpoint to use")] = "best",
    tta: Annotated[bool, typer.Option(help="average with the horizontally flipped prediction")] = False,
    scales: Annotated[
        str,
        typer.Option(help="2D images: input scales averaged, e.g. 1,1.1,1.2 (multi-scale, on PyTorch)"),
    ] = "1",
    postprocess_3d: Annotated[
        bool | None,
        typer.Option(
            "--postprocess-3d/--no-postprocess-3d",
            help="volumes: keep the organ's largest 3D component and the lesions touching it "
            "(default: the run's postprocess.volume_3d)",
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="replace an earlier prediction in OUT (once the new one is done)")
    ] = False,
    resume: Annotated[bool, typer.Option(help="continue an interrupted prediction in OUT")] = False,
    backend: Annotated[Backend, typer.Option(help="auto: ONNX Runtime when exported, else PyTorch")] = Backend.auto,
    batch_size: Annotated[int | None, typer.Option(help="images per forward pass (infer.batch_size)")] = None,
    sliding_window: Annotated[
        bool | None, typer.Option(help="windows at native resolution (infer.sliding_window)")
    ] = None,
    threads: Threads = None,
    qc: Annotated[
        bool | None,
        typer.Option(
            help="QC signals and the run's qc_flag, with the flipped passes' signals (two more network passes per "
            "image); volumes: the flip QC spreads. Default: eval.qc, and the flipped passes only where the run's "
            "qc_flag uses them"
        ),
    ] = None,
    output_format: Annotated[
        str, typer.Option("--format", help="nifti, or dicom-seg: also a DICOM SEG per DICOM series")
    ] = "nifti",
    save_probabilities: Annotated[
        bool, typer.Option(help="keep the class probabilities (probabilities/*.npz) for medseg ensemble")
    ] = False,
    min_lesion_volume: Annotated[
        float | None,
        typer.Option(
            metavar="MM3",
            help="volumes: smaller lesions (3D components) are counted, not listed in tumours.csv; 0 lists all "
            "(default: the run's eval.min_lesion_volume_mm3, 65 mm3 = a 5 mm sphere)",
        ),
    ] = None,
    remove_small_lesions: Annotated[
        bool | None,
        typer.Option(
            "--remove-small-lesions/--keep-small-lesions",
            help="volumes, with the 3D post-processing: lesions under the minimum become organ (or background) "
            "in the label files too (default: the run's postprocess.remove_small_lesions, off)",
        ),
    ] = None,
    precision: Annotated[
        Precision | None,
        typer.Option(
            help="PyTorch: float32, or bfloat16 autocast (faster with AMX or AVX512-BF16; medseg check-precision "
            "measures its Dice on a validation split), or auto (bfloat16 where the CPU has either, else float32); "
            "default: the model's infer.precision"
        ),
    ] = None,
    profile: Annotated[
        bool,
        typer.Option(
            help="2D images: print where the time went (read, preprocess, network, postprocess, measure, write) "
            "and images/s; volumes log it per volume anyway"
        ),
    ] = False,
) -> None:
    """Predict masks at the original image size, with measurements; volumes give label NIfTIs and volumes.csv."""
    backend = value(backend)
    from medseg.experiments.predict import predict_run
    from medseg.inference.timing import Stopwatch
    from medseg.inference.volume_inputs import is_volume_input
    from medseg.measure.units import images_without_size, missing_size_warning

    try:
        check_option("--batch-size", batch_size, batch_size is not None and batch_size >= 1, "at least 1")
        check_option("--threads", threads, threads is not None and threads >= 1, "at least 1")
        volumes = is_volume_input(input_path)
        watch = Stopwatch() if profile and not volumes else None
        if volumes and threads is None and backend != "onnx":
            from medseg.device import busy_cpu_warning

            busy = busy_cpu_warning()
            if busy:
                warn(busy)
        rows = predict_run(
            run_dir,
            input_path,
            out,
            pixel_size,
            checkpoint,
            tta,
            overwrite,
            resume,
            postprocess_3d,
            backend,
            threads,
            sliding_window,
            batch_size,
            qc,
            output_format,
            save_probabilities,
            min_lesion_volume,
            remove_small_lesions,
            timing=watch,
            precision=value(precision),
            scales=parse_scales(scales),
        )
    except MedsegError as error:
        fail(error)
    if volumes:
        console.print(f"{len(rows)} volume(s) -> {out / 'labels'}; measurements in {out / 'volumes.csv'}")
        for row in rows:
            console.print(volume_headline(row), highlight=False, soft_wrap=True)
    else:
        console.print(f"{len(rows)} images -> {out / 'masks'}; measurements in {out / 'measurements.csv'}")
        warning = missing_size_warning(images_without_size(rows))
        if warning:
            warn(warning)
        if len(rows) == 1:
            console.print(headline(rows[0]), highlight=False)
        flagged = sum(row.get("qc_flag") == "review" for row in rows)
        if any("qc_flag" in row for row in rows):
            console.print(f"qc_flag: {flagged} of {len(rows)} images flagged for review (listed first)")
        if watch is not None:
            console.print(profile_line(None if resume else len(rows), watch), highlight=False, soft_wrap=True)


def profile_line(images: int | None, watch: Stopwatch) -> str:
    """``profile: 80 images in 3.9 s (20.5 images/s): read 0.4 s, preprocess 0.3 s, network 2.6 s, ...``.

    ``images``: how many were predicted; None (a resumed prediction, whose earlier images took no time
    here): no count and no rate."""
    if images is None:
        return f"profile: {watch.summary()}"
    rate = f" ({images / watch.total:.1f} images/s)" if watch.total > 0 else ""
    return f"profile: {images} images in {watch.summary().replace(': ', f'{rate}: ', 1)}"


def headline(row: dict) -> str:
    """The measurements of one image on one line: HC, areas and the Bone Scan Index, with their units."""
    import math

    keys = [k for k in row if k.startswith(("hc_", "area_")) or k in ("largest_nodule_diameter_mm", "bsi_percent")]
    parts = []
    for key in keys:
        number = row[key]
        if isinstance(number, float) and math.isfinite(number):
            unit = key.rsplit("_", 1)[-1]
            parts.append(f"{key.rsplit('_', 1)[0]} {number:.1f} {unit}")
    return f"{row.get('filename', '')}: " + (", ".join(parts) if parts else "nothing found")


def volume_headline(row: dict) -> str:
    """One volume's measurements on one line, e.g. ``3Dircadb1.1: liver 1489.4 ml (1378.0 ml without
    tumours); 7 tumours, 111.4 ml, burden 7.5%, largest 82.8 mm; 3 below 65 mm3 not listed (0.1 ml)``."""
    from medseg.measure.volumes import volume_summary

    return f"{row.get('volume', '')}: {volume_summary(row)}"
