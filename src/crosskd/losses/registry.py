"""One name -> loss-class registry, so params.yaml selects the distillation method by name."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from crosskd.losses.base import DistillLoss, FeatureDims
from crosskd.registry import Registry

_LOSSES: Registry[type[DistillLoss]] = Registry("distillation method")

L = TypeVar("L", bound=type[DistillLoss])


def register_loss(name: str) -> Callable[[L], L]:
    """Class decorator: ``build_loss(name, ...)`` constructs it; sets ``cls.name``."""

    def deco(cls: L) -> L:
        cls.name = name
        return _LOSSES.register(name)(cls)

    return deco


def loss_names() -> list[str]:
    """Registered method names, sorted."""
    return _LOSSES.names()


def loss_class(name: str) -> type[DistillLoss]:
    """The class registered as ``name`` (its ``weight_names`` / ``option_defaults``)."""
    return _LOSSES.get(name)


def build_loss(
    name: str,
    weights: Mapping[str, float],
    options: Mapping[str, Any] | None = None,
    *,
    student: FeatureDims | None = None,
    teachers: Sequence[FeatureDims] | None = None,
    label_smoothing: float = 0.0,
) -> DistillLoss:
    """Construct method ``name``; unknown names and missing/unknown weights or options are
    ConfigErrors. Pass ``student``/``teachers`` widths (or call ``bind`` later) for methods
    with learnable parameters. ``label_smoothing`` smooths the ``ce`` term (the student's
    ``student.label_smoothing``, as in its baseline)."""
    return loss_class(name)(weights, options, student=student, teachers=teachers,
                            label_smoothing=label_smoothing)
