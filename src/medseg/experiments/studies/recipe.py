"""``medseg reproduce fetal_head`` and ``medseg reproduce liver``: one recipe, one run, its test table.

These studies are a single training of the paper's own recipe on the dataset's subject-grouped
split, scored on the held-out test subjects:

- ``fetal_head``: HC18 (``DATA`` the HC18 root), recipe ``hc18_unet_paper`` (U-Net, SGD with
  momentum, lr 1e-3, 20 epochs); Dice, Hausdorff distance and the head circumference error (mm).
- ``liver``: 3D-IRCADb, LiTS or MSD (``DATA`` the dataset root), recipe
  ``liver_res_attention_unet_paper`` (residual attention U-Net, Focal Tversky, Adam 1e-4); Dice
  per slice and per volume, liver and tumour volumes (ml).

Without ``--data`` (or with ``--quick``) the study runs on generated phantoms at a tiny size, and the
table says so. ``--set key=value`` overrides the recipe. Written into ``OUT``: ``run/`` (the run,
its evaluation and ``evaluation/test/report.html``), ``table.md``, ``table.csv`` and ``study.json``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medseg.config import load_config
from medseg.experiments.evaluate import evaluate_run
from medseg.experiments.report import write_evaluation_report
from medseg.experiments.reproduce import StudyRequest, register_study
from medseg.experiments.rundir import OutputDir
from medseg.experiments.train import train_run
from medseg.io import atomic_write_text, json_safe, write_table
from medseg.run_folder import RunFolder

PHANTOM_NOTE = "Generated phantoms at a tiny size: a check that the recipe runs end to end, not a result."


@dataclass(frozen=True)
class RecipeStudy:
    """One recipe trained once and scored on the test split.

    Attributes:
        name: the study's name; title: the table's heading; recipe: the packaged config.
        quick: overrides that shrink the recipe to seconds (phantoms).
        metrics: summary keys of the table (per image and, for volumes, ``volume_`` ones).
    """

    name: str
    title: str
    recipe: str
    quick: tuple[str, ...]
    metrics: tuple[str, ...]
    summary: str

    def phantoms(self, out: Path) -> Path:
        """A tiny generated dataset in the study's layout."""
        if self.name == "fetal_head":
            from medseg.data.phantoms.fetal_head import write_fetal_head_dataset

            return write_fetal_head_dataset(out / "phantom_data", n_subjects=10, shape=(64, 96), seed=0)
        from medseg.data.phantoms import write_lits_dataset

        return write_lits_dataset(out / "phantom_data", n_volumes=5, shape=(8, 40, 40), seed=0)

    def run(self, request: StudyRequest) -> Path:
        """Trains, evaluates and writes the table; returns the path of ``table.md``."""
        output = OutputDir.plan(request.out, "study", [request.data], request.overwrite, request.resume)
        with output.prepare():
            self._run(output.work, request)
        return output.path / "table.md"

    def _run(self, out: Path, request: StudyRequest) -> None:
        started = time.monotonic()
        phantom = request.data is None or request.quick
        data = self.phantoms(out) if phantom else Path(request.data)  # type: ignore[arg-type]
        shrink = list(self.quick) if phantom else []
        config = load_config(self.recipe, [*shrink, "train.tensorboard=false", *request.overrides])
        run_dir = out / "run"
        info = RunFolder(run_dir).run_info
        finished = info.is_file() and "result" in json.loads(info.read_text())
        if not (request.resume and finished):
            train_run(config, data, run_dir, overwrite=True)
        _, rows, summary, _, volume_summary, _ = evaluate_run(run_dir, data, "test")
        write_evaluation_report(run_dir, "test")
        everything = {**summary, **volume_summary}
        table = [
            {"metric": key, "mean": everything[key]["mean"], "sd": everything[key]["std"], "n": everything[key]["n"]}
            for key in self.metrics
            if key in everything
        ]
        write_table(out / "table.csv", table)
        lines = [f"# {self.title}" + (" (phantoms)" if phantom else ""), ""]
        lines += [PHANTOM_NOTE if phantom else f"Data: `{data}`; recipe `{self.recipe}`.", ""]
        lines += [f"Test split ({len(rows)} images), `run/evaluation/test/`:", "", "| metric | mean | sd | n |"]
        lines.append("|---|---|---|---|")
        lines += [f"| {r['metric']} | {r['mean']:.4f} | {r['sd']:.4f} | {r['n']} |" for r in table]
        atomic_write_text(out / "table.md", "\n".join(lines) + "\n")
        info: dict[str, Any] = {
            "study": self.name,
            "recipe": self.recipe,
            "data": str(Path(data).resolve()),
            "phantoms": phantom,
            "minutes": (time.monotonic() - started) / 60,
        }
        atomic_write_text(out / "study.json", json.dumps(json_safe(info), indent=1))


TINY = ("model.params.channels=[8,16,32]", "train.epochs=2", "train.batch_size=4", "train.threads=1")
FETAL_HEAD = RecipeStudy(
    "fetal_head",
    "Fetal head (HC18): U-Net, the study's recipe",
    "hc18_unet_paper",
    ("data.image_size=[64,96]", *TINY),
    ("dice_head", "iou_head", "hd_mm_head", "hc_absdiff_mm", "hc_diff_mm"),
    "HC18 fetal head: the study's U-Net recipe trained once; Dice, HD, HC error on test subjects",
)
LIVER = RecipeStudy(
    "liver",
    "Liver and tumours (CT): residual attention U-Net, the study's recipe",
    "liver_res_attention_unet_paper",
    ("data.image_size=[40,40]", *TINY),
    ("dice_liver", "dice_tumour", "volume_dice_liver", "volume_dice_tumour", "volume_liver_ml_diff_pct"),
    "CT liver and tumours: the study's residual attention U-Net recipe trained once; test patients",
)
for _study in (FETAL_HEAD, LIVER):
    register_study(_study.name, _study.summary)(_study.run)
