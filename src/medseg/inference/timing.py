"""Where a prediction's time goes: the pipeline's stages report to the stopwatch of the block they run in.

:func:`stage` wraps a step (``with stage("network"): ...``); inside :meth:`Stopwatch.running` its time
adds to that stopwatch's stage, elsewhere it costs one context-variable lookup. Stages do not nest:
each step of the pipeline belongs to one of :data:`STAGES`.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator
from contextlib import contextmanager

# read the input, prepare the network's input, run the network, back to labels in the input's geometry
# (resize, argmax, 2D and 3D post-processing), measure, flip-QC predictions, write the files
STAGES = ("read", "preprocess", "network", "postprocess", "measure", "qc", "write")
_CURRENT: contextvars.ContextVar[Stopwatch | None] = contextvars.ContextVar("stopwatch", default=None)


class Stopwatch:
    """Seconds per stage (:data:`STAGES`) and in all, of the blocks run under :meth:`running`."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = dict.fromkeys(STAGES, 0.0)
        self.total = 0.0

    @contextmanager
    def running(self) -> Iterator[Stopwatch]:
        """Within the block, :func:`stage` adds to this stopwatch; the block's time adds to ``total``."""
        token = _CURRENT.set(self)
        start = time.perf_counter()
        try:
            yield self
        finally:
            self.total += time.perf_counter() - start
            _CURRENT.reset(token)

    def summary(self) -> str:
        """One line: ``12.3 s: read 2.1 s, preprocess 0.8 s, network 7.0 s, ...`` (the stages that ran;
        ``other`` is the rest of the total; milliseconds below a second)."""
        parts = [f"{name} {_duration(seconds)}" for name, seconds in self.seconds.items() if seconds > 0]
        other = self.total - sum(self.seconds.values())
        if other >= 0.0005:
            parts.append(f"other {_duration(other)}")
        return f"{_duration(self.total)}: " + ", ".join(parts)


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds >= 1 else f"{1000 * seconds:.0f} ms"


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Adds the block's time to stage ``name`` of the running stopwatch (none running: only runs the block)."""
    watch = _CURRENT.get()
    if watch is None:
        yield
        return
    start = time.perf_counter()
    try:
        yield
    finally:
        watch.seconds[name] = watch.seconds.get(name, 0.0) + time.perf_counter() - start
