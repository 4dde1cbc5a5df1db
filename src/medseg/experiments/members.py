"""An ensemble trained side by side: one ``medseg train`` process per member of ``ensemble.members``.

Each member is an ordinary run in ``OUT/member_K`` (the config with member K's overrides); ``OUT``
holds the whole config and the one split all members train on, so ``medseg evaluate OUT``,
``medseg predict OUT`` and ``medseg report OUT`` average the members' probabilities
(:func:`medseg.inference.load_predictor`). The members run at once, each with ``train.threads``
threads: on a CPU, two one-thread trainings side by side finish sooner than one after the other
with two threads each. Why members that differ help: README, fetal head.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medseg.config import Config, member_configs, save_config
from medseg.data.loading import load_cases
from medseg.data.splits import load_split, save_split, split_cases
from medseg.errors import MedsegError
from medseg.experiments.cv import single_process_only
from medseg.experiments.rundir import OutputDir
from medseg.experiments.train import check_names, check_run_dir, code_version, write_run_info
from medseg.logs import log
from medseg.run_folder import RunFolder

TAIL_LINES = 15  # lines of a failed member's output quoted in the error


class MemberError(MedsegError):
    """A member's training failed; the message names the member, its folder and its last output lines."""


@dataclass
class EnsembleResult:
    """What ``medseg train`` of an ensemble reports: each member's run result and the wall time."""

    members: list[dict[str, Any]]
    wall_seconds: float


def train_members(config: Config, data_path: str | Path, out: str | Path, overwrite: bool = False) -> EnsembleResult:
    """Trains the members of ``config.ensemble`` side by side into ``out/member_K``.

    The data, the folder and every member's config are checked before anything is written. If a
    member fails, the others are stopped and the error names it; with ``overwrite`` an earlier
    ensemble in ``out`` is replaced only once all members have finished.

    Raises:
        ConfigError: under ``torchrun``, or a member config is invalid.
        MemberError: a member's training failed.
    """
    single_process_only("train of an ensemble")  # its members are processes of their own
    out = Path(out)
    members = member_configs(config)
    for member in members:
        check_names(member)
    check_run_dir(out, overwrite, False, data_path)
    cases = load_cases(config, data_path)  # the data checked once, before any write
    split = split_cases(cases, config.data.val_fraction, config.data.test_fraction, config.data.split_seed)
    del cases  # each member reads the data itself
    output = OutputDir.plan(out, "train", [data_path], overwrite).prepare()
    try:
        run = RunFolder(output.work)
        save_config(config, run.config)
        save_split(split, run.split)
        write_run_info(
            output.work,
            {
                "data": str(Path(data_path).resolve()),
                "created": time.strftime("%Y-%m-%d %H:%M:%S"),
                "code": code_version(),
                "cases": {k: len(v) for k, v in split.items()},
                "members": [list(m) for m in config.ensemble.members],
            },
        )
        started = time.perf_counter()
        results = _run_side_by_side(members, Path(data_path), run)
        wall = time.perf_counter() - started
        for index in range(len(members)):
            if load_split(run.member(index).split) != split:
                raise MemberError(
                    f"{run.member(index).split}: member {index} trained on another split than {run.split}"
                )
        write_run_info(output.work, {"result": {"members": results, "wall_seconds": wall}})
    except BaseException:
        output.abandon()
        raise
    output.commit()
    return EnsembleResult(results, wall)


def _run_side_by_side(members: list[Config], data_path: Path, run: RunFolder) -> list[dict[str, Any]]:
    """Starts one ``medseg train`` per member, waits for all; stops the rest when one fails."""
    with tempfile.TemporaryDirectory(prefix="medseg-members-") as scratch:
        processes: list[tuple[subprocess.Popen, Any]] = []
        try:
            for index, member in enumerate(members):
                config_path = Path(scratch) / f"member_{index}.yaml"
                save_config(member, config_path)
                env = dict(os.environ)
                if member.train.threads:
                    env["OMP_NUM_THREADS"] = str(member.train.threads)
                command = [sys.executable, "-m", "medseg", "train", str(config_path), "--data", str(data_path)]
                command += ["--out", str(run.member(index).root)]
                lines = open(Path(scratch) / f"member_{index}.out", "wb")  # noqa: SIM115  (closed below)
                processes.append((subprocess.Popen(command, stdout=lines, stderr=subprocess.STDOUT, env=env), lines))
                log(f"member {index}: training in {run.member(index).root} (progress: its train.log)")
            failed = _wait(processes)
        finally:  # on any failure, and on Ctrl-C: no member keeps running
            for process, lines in processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()
                lines.close()
        if failed is not None:
            index, code = failed
            lines = (Path(scratch) / f"member_{index}.out").read_text(errors="replace").splitlines()[-TAIL_LINES:]
            raise MemberError(
                f"{run.member(index).root}: member {index} failed (exit code {code}); the other members were "
                "stopped (start again with --overwrite). Its last lines:\n" + "\n".join(lines)
            )
    return [json.loads(run.member(i).run_info.read_text()).get("result", {}) for i in range(len(members))]


def _wait(processes: list[tuple[subprocess.Popen, Any]]) -> tuple[int, int] | None:
    """Waits until every process has ended, or one has failed: ``(index, exit code)`` of the failure."""
    while True:
        running = False
        for index, (process, _) in enumerate(processes):
            code = process.poll()
            if code is None:
                running = True
            elif code != 0:
                return index, code
        if not running:
            return None
        time.sleep(1.0)
