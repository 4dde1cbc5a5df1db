"""Predictions in seconds: ``medseg predict`` of the shipped models, timed as a user runs it.

Each row is one whole command in a new process (Python start, imports, model load, reading, network,
post-processing and writing), run ``--rounds`` times in turn, A B C A B C: the wall times are what a
user waits. The split of the time is the command's own: the ``profile:`` line of a 2D folder
(``--profile``), the per-volume line of a volume.

- a 3D-IRCADb patient's ``PATIENT_DICOM.zip`` with the ``liver`` model and with ``liver_cascade``;
- the 28 held-out LIDC-IDRI crops of the ``lung`` card (64x64, cut by the ``lidc`` reader into a
  temporary folder) with its 4-fold ensemble.

The throughput of a folder of 2D images (HC18) is :mod:`bench.hc18_inference`'s section.

    python -m bench.predict_seconds --data ../shared/data [--rounds 2] [--threads 2] [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEADING = "## Predictions in seconds: `medseg predict` as a user runs it"
ZOO = ROOT / "src" / "medseg" / "zoo"


@dataclass
class Job:
    """One timed command and what it printed about its time."""

    name: str
    limit_s: float | None
    args: list[str]
    seconds: list[float] = field(default_factory=list)
    split: str = ""


def medseg(*args: str) -> list[str]:
    return [sys.executable, "-m", "medseg", *args]


def environment(threads: int) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "OMP_NUM_THREADS": str(threads),
    }


def lidc_test_folder(data: Path, work: Path) -> Path:
    """The ``lung`` card's 28 held-out 64x64 crops, cut by the ``lidc`` reader, as ``.npy`` files in ``work``."""
    import numpy as np

    from medseg.data.readers.lidc import read_lidc

    wanted = set(json.loads((ZOO / "lung" / "card.json").read_text())["test_ids"])
    folder = work / "lidc_test"
    folder.mkdir()
    for case in read_lidc(data / "lidc-idri"):
        if case.id in wanted:
            np.save(folder / f"{case.id}.npy", np.asarray(case.image, dtype=np.float32))
    if len(list(folder.iterdir())) != len(wanted):
        raise SystemExit(f"found {len(list(folder.iterdir()))} of the lung card's {len(wanted)} held-out crops")
    return folder


def split_of(output: str) -> str:
    """The time split the command printed: its ``profile:`` line, or a volume's ``N slices in ...``."""
    profile = re.search(r"profile: (.*)", output)
    if profile:
        return profile.group(1).strip()
    volume = re.search(r"(\d+ slices in .*)", output)
    return volume.group(1).strip() if volume else ""


def run_job(job: Job, out: Path, threads: int) -> None:
    started = time.perf_counter()
    done = subprocess.run(
        medseg("predict", *job.args, "--threads", str(threads), "--out", str(out)),
        capture_output=True,
        text=True,
        env=environment(threads),
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{job.name} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    job.seconds.append(elapsed)
    job.split = split_of(done.stdout + done.stderr) or job.split


def jobs(data: Path, work: Path) -> list[Job]:
    zip_path = str(data / "3dircadb" / "3Dircadb1.1" / "PATIENT_DICOM.zip")
    return [
        Job("3D-IRCADb patient 1 zip (129 slices), `liver`", 15.0, ["liver", zip_path]),
        Job("3D-IRCADb patient 1 zip (129 slices), `liver_cascade`", 15.0, ["liver_cascade", zip_path]),
        Job("28 LIDC crops, `lung` (4-fold ensemble)", 3.0, ["lung", str(lidc_test_folder(data, work)), "--profile"]),
    ]


def section(measured: list[Job], threads: int, rounds: int, command: str, load: tuple[float, float]) -> list[str]:
    from bench.roofline import bfloat16_kernels
    from medseg.device import cpu_flags, cpu_name

    lines = [
        HEADING,
        "",
        f"`{command}` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {cpu_name()}: {os.cpu_count()} "
        f"cores, bfloat16 by {bfloat16_kernels(cpu_flags())}, "
        f"`--threads {threads}`, load average {load[0]:.1f} before and {load[1]:.1f} after): each command "
        f"{rounds} times in turn, in a new process, Python start and imports included.",
        "",
        "| prediction | wall s (each round) | median | limit | where the time went (last round, the command's split) |",
        "|---|---|---|---|---|",
    ]
    for job in measured:
        median = statistics.median(job.seconds)
        limit = "-" if job.limit_s is None else f"{job.limit_s:g} s: {'met' if median <= job.limit_s else 'missed'}"
        each = " / ".join(f"{s:.1f}" for s in job.seconds)
        lines.append(f"| {job.name} | {each} | {median:.1f} | {limit} | {job.split or '-'} |")
    return lines


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the folder holding hc18, 3dircadb, lidc-idri")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--write", type=Path, help="replace this section of that Markdown page")
    args = parser.parse_args(argv)
    before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="medseg-predict-seconds-") as tmp:
        work = Path(tmp)
        measured = jobs(args.data, work)
        for round_ in range(args.rounds):
            for index, job in enumerate(measured):
                run_job(job, work / f"out_{index}_{round_}", args.threads)
    command = "python -m bench.predict_seconds " + shlex.join(argv if argv is not None else sys.argv[1:])
    lines = section(measured, args.threads, args.rounds, command, (before, os.getloadavg()[0]))
    from bench.roofline import print_and_write

    return print_and_write(lines, args.write, HEADING)


if __name__ == "__main__":
    main()
