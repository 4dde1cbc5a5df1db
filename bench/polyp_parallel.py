"""Runs the polyp study's trainings side by side (one process per dataset split and model) and
writes the study's table: the way to use one large GPU (or many CPU cores) for the whole study.

Each part is ``medseg reproduce polyp --only SPLIT/MODEL --resume`` with the same ``--set``
overrides, logged to ``OUT/logs/SPLIT_MODEL.log``; when all have ended, ``--table-only`` writes
``OUT/table.md``. With ``--minutes M`` every run anneals its learning rate over M minutes of
training (``cosine_time``) and stops there, so the study ends at a known time whatever the speed
of the machine; the table states the epochs each model reached.

    python bench/polyp_parallel.py --data ../shared/data --out runs/polyp_gpu --minutes 6 \\
        --runs kvasir cvc cvc_random_frames/mobile_unet --set train.batch_size=16
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from medseg.experiments.reproduce import StudyRequest
from medseg.experiments.studies.polyp import data_root, prepare_study_dir, selected_runs


def part_command(args: argparse.Namespace, split: str, model: str) -> list[str]:
    """The ``medseg reproduce polyp`` command line of one part."""
    sets = [
        f"train.device={args.device}",
        f"train.num_workers={args.workers}",
        "train.threads=1",
        "train.tensorboard=false",
    ]
    if args.minutes:
        sets += ["train.scheduler=cosine_time", f"train.max_minutes={args.minutes}", "train.epochs=100000"]
    sets += args.set
    command = [sys.executable, "-m", "medseg", "reproduce", "polyp", "--out", str(args.out), "--resume"]
    command += ["--only", f"{split}/{model}"]
    command += ["--data", str(args.data)] if args.data else ["--quick"]
    for value in sets:
        command += ["--set", value]
    return command


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="folder holding kvasir-seg/ and cvc-clinicdb/ (none: --quick)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--runs", nargs="*", default=[], help="parts of the study (split, model or split/model)")
    parser.add_argument("--minutes", type=float, default=None, help="training time per run (cosine over it)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workers", type=int, default=2, help="data-loading processes per run")
    parser.add_argument("--set", action="append", default=[], help="KEY=VALUE override for every run")
    args = parser.parse_args()

    request = StudyRequest(args.out, args.data, quick=args.data is None, resume=True)
    prepare_study_dir(request)
    data_root(request)  # phantoms (--quick) are written here once, before the parts start
    (args.out / "logs").mkdir(exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    chosen = selected_runs(tuple(args.runs))
    names = {f"{spec.name}/{model}" for spec, model in chosen}
    # A split that starts from another split's run (cvc_from_kvasir) waits for that run when both are launched.
    waiting = {
        f"{spec.name}/{model}": (spec, model, f"{spec.start_from}/{model}")
        for spec, model in chosen
        if spec.start_from and f"{spec.start_from}/{model}" in names
    }
    running: dict[str, tuple[subprocess.Popen, object]] = {}

    def start(spec, model) -> None:
        log = open(args.out / "logs" / f"{spec.name}_{model}.log", "w")  # noqa: SIM115 - closed below
        command = part_command(args, spec.name, model)
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        running[f"{spec.name}/{model}"] = (process, log)

    for spec, model in chosen:
        if f"{spec.name}/{model}" not in waiting:
            start(spec, model)
    print(f"{len(running)} runs started, {len(waiting)} waiting for the run they start from", flush=True)
    failed = []
    while running:
        time.sleep(1)
        for name, (process, log) in list(running.items()):
            code = process.poll()
            if code is None:
                continue
            log.close()
            del running[name]
            print(f"{name}: exit {code} after {time.monotonic() - started:.0f} s", flush=True)
            if code:
                failed.append(name)
            for dependent, (spec, model, source) in list(waiting.items()):
                if source == name:
                    del waiting[dependent]
                    if code:
                        failed.append(dependent)
                        print(f"{dependent}: not started ({name} failed)", flush=True)
                    else:
                        start(spec, model)
    table = [sys.executable, "-m", "medseg", "reproduce", "polyp", "--out", str(args.out), "--table-only"]
    subprocess.run(table, check=False, env=env)
    if failed:
        print(f"failed: {', '.join(failed)} (see {args.out / 'logs'})", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
