"""``ce``: no distillation, the student baseline every method is compared with.

total = ce * CE(student logits, labels). Teachers are ignored (may be empty).
Weights: ``ce`` (1.0).
"""

from __future__ import annotations

from torch import Tensor

from crosskd.losses.base import DistillLoss, cross_entropy
from crosskd.losses.registry import register_loss
from crosskd.models.output import ModelOutput


@register_loss("ce")
class CELoss(DistillLoss):
    """Cross-entropy on the ground truth only."""

    weight_names = ("ce",)
    needs_teachers = False

    def terms(
        self, student: ModelOutput, teachers: list[ModelOutput], labels: Tensor
    ) -> dict[str, Tensor]:
        return {"ce": cross_entropy(student.logits, labels, self.label_smoothing)}
