"""Writing a prediction's files on a second thread, so that encoding and syncing them overlaps the
next images' network pass and post-processing.

PNG encoding (OpenCV) and file syncing release the GIL, so on two cores the writer costs the
prediction loop little of its time. Jobs run one at a time in the order they were given: a file's
progress record, given after its masks, is never written before them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any

from medseg.inference.timing import stage


class BackgroundWriter:
    """Runs write jobs on one thread, in order; at most ``pending`` wait at a time.

    Use as a context manager: leaving the block waits for every job and raises the first job's
    error (after the block's own error, if it raised one). After a failed job the jobs given later
    do not run.
    """

    def __init__(self, pending: int = 8) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="medseg-writer")
        self._slots = threading.BoundedSemaphore(pending)
        self._futures: list[Future] = []
        self._failed = threading.Event()

    def submit(self, job: Callable[..., Any], *args: Any) -> None:
        """Queues ``job(*args)``; blocks while ``pending`` jobs wait (the time counts as ``write``)."""
        self.raise_failure()
        with stage("write"):
            self._slots.acquire()
        self._futures.append(self._pool.submit(self._run, job, args))

    def _run(self, job: Callable[..., Any], args: tuple) -> None:
        try:
            if not self._failed.is_set():
                job(*args)
        except BaseException:
            self._failed.set()
            raise
        finally:
            self._slots.release()

    def raise_failure(self) -> None:
        """Raises the error of the first failed job, if one failed."""
        if self._failed.is_set():
            for future in self._futures:
                if future.done() and future.exception() is not None:
                    raise future.exception()

    def close(self) -> None:
        """Waits for every job (the time counts as ``write``) and raises the first job's error."""
        with stage("write"):
            self._pool.shutdown(wait=True)
        for future in self._futures:
            if future.exception() is not None:
                raise future.exception()

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if error is None:
            self.close()
        else:  # the block's error comes first; the files already queued are still written
            self._pool.shutdown(wait=True)
