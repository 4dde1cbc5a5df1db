"""Progress and log lines: bars only on a terminal, plain lines in a redirected log, levels, log files."""

from __future__ import annotations

import io
import logging

import pytest
from tqdm import tqdm

from medseg import logs
from medseg.logs import log


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _info_level():
    yield
    logs.set_verbosity()


def test_redirected_stderr_gets_plain_periodic_lines_without_carriage_returns(capsys, monkeypatch):
    monkeypatch.setattr(logs, "PLAIN_INTERVAL_S", 0.0)
    for _ in logs.progress(range(3), desc="volume ct", unit="slice"):
        pass
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = err.strip().splitlines()
    assert lines[0].startswith("volume ct: 1/3 slice") and lines[-1].startswith("volume ct: 3/3 slice")


def test_a_short_task_in_a_redirected_log_writes_no_progress_lines(capsys):
    with logs.progress(total=5, desc="slices") as bar:
        bar.update(5)
    assert capsys.readouterr().err == ""


def test_a_terminal_gets_a_tqdm_bar(monkeypatch):
    monkeypatch.setattr("sys.stderr", _Terminal())
    bar = logs.progress(total=2, desc="x")
    assert isinstance(bar, tqdm) and not bar.disable
    bar.close()
    logs.set_verbosity(quiet=True)  # --quiet: no bar on a terminal either
    assert logs.progress(total=2).disable


def test_quiet_hides_progress_lines_and_verbose_shows_debug_lines(capsys):
    logs.set_verbosity(quiet=True)
    log("volume 1/1")
    log("something is wrong", logging.WARNING)
    assert capsys.readouterr().err == "something is wrong\n"
    logs.set_verbosity(verbose=True)
    log("details", logging.DEBUG)
    assert capsys.readouterr().err == "details\n"
    logs.set_verbosity()
    log("details", logging.DEBUG)
    assert capsys.readouterr().err == ""


def test_log_to_file_keeps_the_console_lines(tmp_path, capsys):
    with logs.log_to_file(tmp_path / "train.log") as path:
        log("epoch 1/2  train_loss 0.5")
    log("after the block")
    assert capsys.readouterr().err == "epoch 1/2  train_loss 0.5\nafter the block\n"
    lines = path.read_text().splitlines()
    assert len(lines) == 1 and lines[0].endswith(" epoch 1/2  train_loss 0.5")
