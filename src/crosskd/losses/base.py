"""The one interface every distillation loss implements: no per-method code in the training loop.

A loss is an ``nn.Module`` built from ``weights`` (one coefficient per named term, all
required: a run's params say exactly how its total is made), ``options`` (method settings
with paper defaults: temperature, map pairs, ...) and, for methods that own learnable
parameters, the feature widths of the student and teachers (:class:`FeatureDims`).

``forward(student, teachers, labels)`` returns every named term already multiplied by its
weight, plus ``"total"`` (their sum, what the student backpropagates). Every method has a
``"ce"`` term (cross-entropy on the ground truth, weight ``ce``), so totals of different
methods are built the same way and stay comparable. Teacher outputs are detached here,
once, before any method code sees them: a teacher never gets a gradient from the
student's loss, whatever a method does with its outputs.

Shapes: learnable modules (FitNet regressors, embedding projections) need the widths of the
student's and teachers' embeddings and maps. Give them at construction
(``student=FeatureDims.of_model(student_model)``, ``teachers=[...]``), or call
:meth:`DistillLoss.bind` once on a sample batch; either way before the optimizer is built
(``optimizer = SGD([*student.parameters(), *loss.parameters()])``). A method that needs
widths refuses to run unbound rather than create parameters the optimizer never sees.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crosskd.config import is_number
from crosskd.errors import ConfigError
from crosskd.losses.shapes import check_pairs_option
from crosskd.models.output import ModelOutput


@dataclass(frozen=True)
class FeatureDims:
    """Widths a loss needs to build projections: embedding width, channels per named map.

    ``maps`` keeps the model's depth order (shallow first), which ``pairs`` modes rely on.
    """

    embedding: int
    maps: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of_model(cls, model: nn.Module) -> FeatureDims:
        """From a model exposing ``embedding_dim`` and ``map_channels`` (all project models)."""
        emb = getattr(model, "embedding_dim", None)
        maps = getattr(model, "map_channels", None)
        if not isinstance(emb, int) or not isinstance(maps, Mapping):
            raise ValueError(
                f"{type(model).__name__} does not expose embedding_dim and map_channels; "
                "pass FeatureDims explicitly or call loss.bind() on a sample batch"
            )
        return cls(emb, {str(k): int(v) for k, v in maps.items()})

    @classmethod
    def of_output(cls, out: ModelOutput) -> FeatureDims:
        """From one forward pass's output (what :meth:`DistillLoss.bind` uses)."""
        return cls(int(out.embedding.shape[1]), {k: int(v.shape[1]) for k, v in out.maps.items()})


def detach_output(out: ModelOutput) -> ModelOutput:
    """A copy of ``out`` cut from the autograd graph (teachers are targets, never trained here)."""
    return ModelOutput(
        logits=out.logits.detach(),
        embedding=out.embedding.detach(),
        maps={k: v.detach() for k, v in out.maps.items()},
    )


def cross_entropy(logits: Tensor, labels: Tensor, label_smoothing: float = 0.0) -> Tensor:
    """Mean cross-entropy on the ground truth (the ``ce`` term of every method), with the
    student's label smoothing so a distilled student's hard-label term is its baseline's."""
    return F.cross_entropy(logits, labels, label_smoothing=label_smoothing)


def mean_over_teachers(values: Sequence[Tensor]) -> Tensor:
    """Equal-weight average of a per-teacher term (the fixed-equal multi-teacher baseline)."""
    return torch.stack(list(values)).mean()


class DistillLoss(nn.Module):
    """Base class: validates weights/options, detaches teachers, weights and sums terms.

    Subclasses set ``weight_names`` (the terms they return, ``"ce"`` included),
    ``option_defaults``, ``needs_dims`` (True when they own parameters built from widths),
    and implement :meth:`terms` (unweighted terms) and, if needed, :meth:`setup` and
    :meth:`check_options`.
    """

    name: ClassVar[str] = "distill"  # set by register_loss
    weight_names: ClassVar[tuple[str, ...]] = ("ce",)
    option_defaults: ClassVar[dict[str, Any]] = {}
    needs_dims: ClassVar[bool] = False
    needs_teachers: ClassVar[bool] = True
    uses_maps: ClassVar[bool] = False  # True: reads ModelOutput.maps (else they may be dropped)

    def __init__(
        self,
        weights: Mapping[str, float],
        options: Mapping[str, Any] | None = None,
        student: FeatureDims | None = None,
        teachers: Sequence[FeatureDims] | None = None,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        self.weights: dict[str, float] = self._checked_weights(weights)
        if not 0.0 <= label_smoothing < 1.0:
            raise ConfigError(f"loss {self.name!r}: label_smoothing must be in [0, 1), "
                              f"got {label_smoothing!r}")
        self.label_smoothing = float(label_smoothing)
        self.options: dict[str, Any] = self._checked_options(options or {})
        self.student_dims: FeatureDims | None = None
        self.teacher_dims: tuple[FeatureDims, ...] | None = None
        if (student is None) != (teachers is None):
            raise ValueError(f"loss {self.name!r}: give both student and teachers dims, or neither")
        if student is not None and teachers is not None:
            self._bind_dims(student, list(teachers))

    # ----------------------------------------------------------------- configuration
    def _checked_weights(self, weights: Mapping[str, float]) -> dict[str, float]:
        if not isinstance(weights, Mapping):
            raise ConfigError(
                f"loss {self.name!r}: weights must be a mapping of {list(self.weight_names)}, "
                f"got {type(weights).__name__}"
            )
        missing = [w for w in self.weight_names if w not in weights]
        if missing:
            raise ConfigError(
                f"loss {self.name!r}: missing weight(s) {missing}; this method needs "
                f"weights {list(self.weight_names)}"
            )
        unknown = sorted(set(weights) - set(self.weight_names))
        if unknown:
            raise ConfigError(
                f"loss {self.name!r}: unknown weight(s) {unknown}; accepted weights: "
                f"{list(self.weight_names)}"
            )
        out: dict[str, float] = {}
        for key in self.weight_names:
            value = weights[key]
            if not is_number(value) or value < 0:
                raise ConfigError(
                    f"loss {self.name!r}: weight {key!r} must be a finite number >= 0, "
                    f"got {value!r}"
                )
            out[key] = float(value)
        return out

    def _checked_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(options, Mapping):
            raise ConfigError(f"loss {self.name!r}: options must be a mapping, got {options!r}")
        unknown = sorted(set(options) - set(self.option_defaults))
        if unknown:
            raise ConfigError(
                f"loss {self.name!r}: unknown option(s) {unknown}; accepted options: "
                f"{sorted(self.option_defaults)}"
            )
        merged = {**self.option_defaults, **options}
        for key, default in self.option_defaults.items():
            value = merged[key]
            if key == "pairs":
                check_pairs_option(self.name, value)
                continue
            if isinstance(default, bool):
                ok = isinstance(value, bool)
            elif isinstance(default, float):
                ok = is_number(value)
                value = float(value) if ok else value
            elif isinstance(default, int):
                ok = isinstance(value, int) and not isinstance(value, bool)
            else:
                ok = isinstance(value, type(default))
            if not ok:
                raise ConfigError(
                    f"loss {self.name!r}: option {key!r} must be {type(default).__name__}, "
                    f"got {value!r}"
                )
            merged[key] = value
        self.check_options(merged)
        return merged

    def check_options(self, options: dict[str, Any]) -> None:
        """Method-specific option checks (ranges, choices); raise ConfigError."""

    def _require_positive(self, options: dict[str, Any], key: str) -> None:
        if options[key] <= 0:
            raise ConfigError(f"loss {self.name!r}: option {key!r} must be > 0, got {options[key]}")

    # ----------------------------------------------------------------- shapes
    @property
    def is_bound(self) -> bool:
        return self.student_dims is not None

    def bind(self, student: ModelOutput, teachers: Sequence[ModelOutput]) -> DistillLoss:
        """Build learnable parts from one sample batch's outputs, on the student's device.

        Call before building the optimizer. Idempotent for the same shapes; a second call
        with different widths is an error (the parameters would silently change).
        """
        s = FeatureDims.of_output(student)
        ts = tuple(FeatureDims.of_output(t) for t in teachers)
        if self.is_bound:
            if (s, ts) != (self.student_dims, self.teacher_dims):
                raise ValueError(
                    f"loss {self.name!r} is already bound to student {self.student_dims} and "
                    f"teachers {self.teacher_dims}; got student {s} and teachers {ts}"
                )
            return self
        self._bind_dims(s, list(ts))
        self.to(student.embedding.device)
        return self

    def _bind_dims(self, student: FeatureDims, teachers: list[FeatureDims]) -> None:
        if self.needs_teachers and not teachers:
            raise ConfigError(f"loss {self.name!r} distils from teachers; none were given")
        self.student_dims = student
        self.teacher_dims = tuple(teachers)
        self.setup(student, teachers)

    def setup(self, student: FeatureDims, teachers: Sequence[FeatureDims]) -> None:
        """Create learnable modules from widths (default: none)."""

    # ----------------------------------------------------------------- forward
    def forward(
        self, student: ModelOutput, teachers: Sequence[ModelOutput], labels: Tensor
    ) -> dict[str, Tensor]:
        """Weighted named terms and their sum ``"total"``; teachers are detached first."""
        teachers = [detach_output(t) for t in teachers]
        self._check_inputs(student, teachers, labels)
        raw = self.terms(student, teachers, labels)
        if set(raw) != set(self.weight_names):
            raise RuntimeError(
                f"loss {self.name!r} returned terms {sorted(raw)}, expected "
                f"{sorted(self.weight_names)}"
            )
        out = {k: raw[k] * self.weights[k] for k in self.weight_names}
        out["total"] = torch.stack(list(out.values())).sum()
        return out

    def terms(
        self, student: ModelOutput, teachers: list[ModelOutput], labels: Tensor
    ) -> dict[str, Tensor]:
        """Unweighted terms, one per name in ``weight_names`` (teachers already detached)."""
        raise NotImplementedError

    def _check_inputs(
        self, student: ModelOutput, teachers: list[ModelOutput], labels: Tensor
    ) -> None:
        logits = student.logits
        if logits.dim() != 2:
            raise ValueError(f"loss {self.name!r}: student logits must be (B, K), got "
                             f"{tuple(logits.shape)}")
        b = logits.shape[0]
        if labels.shape != (b,) or labels.dtype not in (torch.int64, torch.int32):
            raise ValueError(
                f"loss {self.name!r}: labels must be integer class indices of shape ({b},), got "
                f"{labels.dtype} {tuple(labels.shape)}"
            )
        if self.needs_teachers and not teachers:
            raise ValueError(f"loss {self.name!r} distils from teachers; none were given")
        for k, t in enumerate(teachers):
            if t.logits.shape != logits.shape or t.embedding.shape[0] != b:
                raise ValueError(
                    f"loss {self.name!r}: teacher {k} logits {tuple(t.logits.shape)} / embedding "
                    f"{tuple(t.embedding.shape)} do not match the student's batch/classes "
                    f"{tuple(logits.shape)}"
                )
        if self.needs_dims:
            if not self.is_bound:
                raise RuntimeError(
                    f"loss {self.name!r} owns learnable parameters built from feature widths: "
                    "construct it with student/teachers FeatureDims or call bind() on a sample "
                    "batch before building the optimizer"
                )
            assert self.teacher_dims is not None
            if len(teachers) != len(self.teacher_dims):
                raise ValueError(
                    f"loss {self.name!r} was built for {len(self.teacher_dims)} teacher(s), "
                    f"got {len(teachers)}"
                )
