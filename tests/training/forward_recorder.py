"""A callback that records, epoch by epoch, what the model's forward passes show (dtypes, input sizes ...)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from medseg.training.callbacks import Callback


class ForwardsPerEpoch(Callback):
    """``by_epoch[k]``: the set of ``seen(module, inputs, output)`` over epoch ``k + 1``'s forward passes
    (training and validation); a ``None`` from ``seen`` is not recorded."""

    def __init__(self, seen: Callable[[Any, Any, Any], Any]) -> None:
        self.seen = seen
        self.by_epoch: list[set[Any]] = []
        self.current: set[Any] = set()

    def on_fit_start(self, model, start_epoch, iteration):
        model.register_forward_hook(self._record)

    def _record(self, module, inputs, output) -> None:
        value = self.seen(module, inputs, output)
        if value is not None:
            self.current.add(value)

    def on_epoch_end(self, epoch, iteration, scores):
        self.by_epoch.append(self.current)
        self.current = set()
        return False
