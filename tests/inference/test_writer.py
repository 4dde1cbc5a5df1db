"""The background writer: jobs run in order, errors reach the caller, nothing queued is dropped."""

from __future__ import annotations

import threading
import time

import pytest

from medseg.errors import DataError
from medseg.inference.timing import Stopwatch
from medseg.inference.writer import BackgroundWriter


def test_jobs_run_in_the_order_given_on_another_thread():
    done: list[tuple[int, str]] = []
    with BackgroundWriter(pending=2) as writer:
        for index in range(20):
            writer.submit(lambda i: (time.sleep(0.001), done.append((i, threading.current_thread().name))), index)
    assert [index for index, _ in done] == list(range(20))
    assert all(name.startswith("medseg-writer") for _, name in done)


def test_a_failed_job_raises_on_close_and_later_jobs_do_not_run():
    ran: list[int] = []

    def fail() -> None:
        raise DataError("out/masks/a.png", "could not encode image as PNG")

    with pytest.raises(DataError, match="a.png"), BackgroundWriter() as writer:
        writer.submit(ran.append, 1)
        writer.submit(fail)
        writer.submit(ran.append, 2)
    assert ran == [1]


def test_the_blocks_own_error_wins_and_queued_files_are_still_written():
    ran: list[int] = []
    with pytest.raises(ValueError, match="corrupt"), BackgroundWriter() as writer:
        writer.submit(lambda: (time.sleep(0.05), ran.append(1)))
        raise ValueError("corrupt input")
    assert ran == [1]


def test_waiting_for_the_writer_counts_as_write():
    watch = Stopwatch()
    with watch.running(), BackgroundWriter() as writer:
        writer.submit(time.sleep, 0.1)
    assert watch.seconds["write"] >= 0.09
