"""One name -> loss-class registry, so params.yaml selects the distillation method by name."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from crosskd.errors import ConfigError
from crosskd.losses.base import DistillLoss, FeatureDims

_LOSSES: dict[str, type[DistillLoss]] = {}

L = TypeVar("L", bound=type[DistillLoss])


def _qualname(obj: object) -> str:
    return f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', repr(obj))}"


def register_loss(name: str) -> Callable[[L], L]:
    """Class decorator: ``build_loss(name, ...)`` constructs it; sets ``cls.name``."""

    def deco(cls: L) -> L:
        known = _LOSSES.get(name)
        # Re-registering the same class (module re-import) is harmless; two different
        # classes under one name would silently shadow each other.
        if known is not None and _qualname(known) != _qualname(cls):
            raise ValueError(f"loss name {name!r} already registered by {known!r}")
        cls.name = name
        _LOSSES[name] = cls
        return cls

    return deco


def loss_names() -> list[str]:
    """Registered method names, sorted."""
    return sorted(_LOSSES)


def loss_class(name: str) -> type[DistillLoss]:
    """The class registered as ``name`` (its ``weight_names`` / ``option_defaults``)."""
    try:
        return _LOSSES[name]
    except KeyError:
        raise ConfigError(
            f"unknown distillation method {name!r}; known methods: {loss_names()}"
        ) from None


def build_loss(
    name: str,
    weights: Mapping[str, float],
    options: Mapping[str, Any] | None = None,
    *,
    student: FeatureDims | None = None,
    teachers: Sequence[FeatureDims] | None = None,
) -> DistillLoss:
    """Construct method ``name``; unknown names and missing/unknown weights or options are
    ConfigErrors. Pass ``student``/``teachers`` widths (or call ``bind`` later) for methods
    with learnable parameters."""
    return loss_class(name)(weights, options, student=student, teachers=teachers)
