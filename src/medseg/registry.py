"""A tiny name -> factory registry shared by models, losses, readers and recipes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T", bound=Callable[..., Any])


class Registry(Generic[T]):
    """Maps names to factories.

    Example:
        >>> MODELS = Registry("model")
        >>> @MODELS.register("unet")
        ... def unet(**kw): ...
        >>> MODELS.get("unet")
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator registering ``fn`` under ``name``; names are unique."""

        def decorator(fn: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[name] = fn
            return fn

        return decorator

    def unregister(self, name: str) -> None:
        """Removes ``name`` (a temporary entry, e.g. a test's); an unknown name is ignored."""
        self._items.pop(name, None)

    def get(self, name: str) -> T:
        """Returns the factory for ``name``.

        Raises:
            KeyError: unknown name; the message lists the known ones.
        """
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "(none)"
            raise KeyError(f"unknown {self.kind} {name!r}; known: {known}") from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
