"""One name -> model-class registry, so params.yaml selects architectures by name."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TypeVar

from torch import nn

from crosskd.errors import ConfigError

_MODELS: dict[str, Callable[..., nn.Module]] = {}

F = TypeVar("F", bound=Callable[..., nn.Module])


def _qualname(obj: object) -> str:
    return f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', repr(obj))}"


def register_model(name: str) -> Callable[[F], F]:
    """Class/factory decorator: make ``build_model(name, ...)`` construct it."""

    def deco(factory: F) -> F:
        known = _MODELS.get(name)
        # Re-registering the same object (module re-import) is harmless; two different
        # models under one name would silently shadow each other.
        if known is not None and _qualname(known) != _qualname(factory):
            raise ValueError(f"model name {name!r} already registered by {known!r}")
        _MODELS[name] = factory
        return factory

    return deco


def model_names() -> list[str]:
    """Registered model names, sorted."""
    return sorted(_MODELS)


def build_model(name: str, **kwargs: object) -> nn.Module:
    """Construct the model registered as ``name`` with ``kwargs`` (from params.yaml).

    Unknown names and unknown/missing arguments are configuration errors, reported with
    what is accepted, before the constructor runs.
    """
    try:
        factory = _MODELS[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; known models: {model_names()}") from None
    sig = inspect.signature(factory)
    try:
        sig.bind(**kwargs)
    except TypeError as err:
        accepted = [p for p in sig.parameters if p != "self"]
        raise ConfigError(f"model {name!r}: {err}; accepted arguments: {accepted}") from None
    return factory(**kwargs)
