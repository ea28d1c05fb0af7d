"""A name -> object registry: params.yaml picks models and losses by name, through this."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from crosskd.errors import ConfigError

T = TypeVar("T")


def _qualname(obj: object) -> str:
    return f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', repr(obj))}"


class Registry(Generic[T]):
    """Registered objects by name; ``kind`` words the errors ("model", "distillation method")."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator registering a class or factory under ``name``."""

        def deco(obj: T) -> T:
            known = self._items.get(name)
            # Re-registering the same object (module re-import) is harmless; two different
            # ones under one name would silently shadow each other.
            if known is not None and _qualname(known) != _qualname(obj):
                raise ValueError(f"{self.kind} name {name!r} already registered by {known!r}")
            self._items[name] = obj
            return obj

        return deco

    def names(self) -> list[str]:
        return sorted(self._items)

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise ConfigError(
                f"unknown {self.kind} {name!r}; known {self.kind}s: {self.names()}"
            ) from None
