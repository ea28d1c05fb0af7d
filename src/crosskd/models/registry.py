"""One name -> model-class registry, so params.yaml selects architectures by name."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TypeVar

from torch import nn

from crosskd.errors import ConfigError
from crosskd.registry import Registry

_MODELS: Registry[Callable[..., nn.Module]] = Registry("model")

F = TypeVar("F", bound=Callable[..., nn.Module])


def register_model(name: str) -> Callable[[F], F]:
    """Class/factory decorator: make ``build_model(name, ...)`` construct it."""
    return _MODELS.register(name)  # type: ignore[return-value]


def model_names() -> list[str]:
    """Registered model names, sorted."""
    return _MODELS.names()


def build_model(name: str, **kwargs: object) -> nn.Module:
    """Construct the model registered as ``name`` with ``kwargs`` (from params.yaml).

    Unknown names and unknown/missing arguments are configuration errors, reported with
    what is accepted, before the constructor runs.
    """
    factory = _MODELS.get(name)
    sig = inspect.signature(factory)
    try:
        sig.bind(**kwargs)
    except TypeError as err:
        accepted = [p for p in sig.parameters if p != "self"]
        raise ConfigError(f"model {name!r}: {err}; accepted arguments: {accepted}") from None
    return factory(**kwargs)
