"""A tiny name -> factory registry shared by models, losses, readers and recipes.

A registry may also hold *lazy entries*: a table ``name -> module`` of the module whose
``@REGISTRY.register(name)`` defines the entry. The module is imported the first time ``get(name)``
asks for it, so listing the names (``--help`` choices, config checks) never imports the modules and
what they pull in (OpenCV, SciPy ...).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

T = TypeVar("T", bound=Callable[..., Any])


class Registry(Generic[T]):
    """Maps names to factories, registered directly or loaded from a table of lazy entries.

    Example:
        >>> MODELS = Registry("model")
        >>> @MODELS.register("unet")
        ... def unet(**kw): ...
        >>> MODELS.get("unet")

    With ``Registry("reader", lazy={"hc18": "medseg.data.readers.hc18"})``, ``"hc18" in READERS``
    and ``READERS.names()`` import nothing; ``READERS.get("hc18")`` imports the module once, whose
    ``@READERS.register("hc18")`` adds the entry. The table is kept by reference: an entry added to
    it later (a plug-in, a test's toy) is seen.
    """

    def __init__(self, kind: str, lazy: Mapping[str, str] | None = None) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._lazy: Mapping[str, str] = lazy if lazy is not None else {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator registering ``fn`` under ``name``; names are unique."""

        def decorator(fn: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[name] = fn
            return fn

        return decorator

    def unregister(self, name: str) -> None:
        """Removes the registered ``name`` (a temporary entry, e.g. a test's); an unknown name is ignored.

        A lazy entry stays in its table (the table's owner removes it there).
        """
        self._items.pop(name, None)

    def get(self, name: str) -> T:
        """Returns the factory for ``name``, importing its module first when it is a lazy entry.

        Raises:
            KeyError: unknown name; the message lists the known ones.
            ImportError: the module listed for ``name`` is missing, or does not register ``name``.
        """
        if name not in self._items and name in self._lazy:
            self._load(name, self._lazy[name])
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(self.names()) or "(none)"
            raise KeyError(f"unknown {self.kind} {name!r}; known: {known}") from None

    def _load(self, name: str, module: str) -> None:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as error:
            if error.name is None or not (module == error.name or module.startswith(error.name + ".")):
                raise  # the module exists; something it imports does not
            raise ImportError(
                f"{self.kind} {name!r} is listed under module {module!r}, which is not found: "
                "fix the module path in the table"
            ) from error
        if name not in self._items:
            raise ImportError(
                f"{self.kind} {name!r} is listed under module {module!r}, but importing it did not register "
                f"{name!r}: give the table the module that registers it, or register it there"
            )

    def names(self) -> list[str]:
        """Every name, registered or lazy (importing nothing), sorted."""
        return sorted(set(self._items) | set(self._lazy))

    def __contains__(self, name: object) -> bool:
        return name in self._items or name in self._lazy

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
