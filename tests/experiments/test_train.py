"""``train_run``: the run folder keeps the console's lines in ``train.log``."""

from __future__ import annotations

import re

from medseg.config import load_config
from medseg.experiments.train import train_run
from medseg.run_folder import RunFolder
from tests.conftest import TINY


def test_train_log_in_the_run_folder_holds_the_console_lines(hc18_synthetic, tmp_path, capsys):
    run_dir = tmp_path / "run"
    train_run(load_config("demo", TINY), hc18_synthetic, run_dir)
    console = capsys.readouterr().err.strip().splitlines()
    logged = [
        re.sub(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ", "", line)
        for line in RunFolder(run_dir).train_log.read_text().splitlines()
    ]
    assert logged == console and len(logged) >= 3
    epochs = [line for line in logged if line.startswith("epoch ")]
    assert [line.split()[1] for line in epochs] == ["1/2", "2/2"]
    # each epoch line says its own time and the time elapsed since training started
    assert all(re.search(r"\(epoch \d+ s, elapsed \d+ s\)", line) for line in epochs)
