"""``sp``: similarity-preserving KD (Tung & Mori 2019).

For a map pair: G = F F^T over the batch (each sample's map flattened), rows L2-normalised;
term = ||G_T - G_S||_F^2 / B^2. The B x B similarity matrices never depend on map shape or
width, so no cross-modal mapping is needed (the raw maps are used). sp = sum over pairs,
averaged over teachers.

total = ce * CE + sp * sp. Weights: ``ce``, ``sp`` (RepDistiller: 3000).
Options: ``pairs`` (``"last"``: the last map of each, as RepDistiller; ``"aligned"`` or
explicit name pairs).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from crosskd.losses.base import DistillLoss, cross_entropy, mean_over_teachers
from crosskd.losses.registry import register_loss
from crosskd.losses.shapes import resolve_pairs
from crosskd.models.output import ModelOutput


def similarity(x: Tensor) -> Tensor:
    """Row-normalised batch similarity matrix of a (B, ...) feature."""
    f = x.flatten(1)
    return F.normalize(f @ f.t(), dim=1)


def sp_pair(student_map: Tensor, teacher_map: Tensor) -> Tensor:
    """||G_T - G_S||_F^2 / B^2 for one pair of maps."""
    b = student_map.shape[0]
    return (similarity(teacher_map) - similarity(student_map)).pow(2).sum() / (b * b)


@register_loss("sp")
class SPLoss(DistillLoss):
    """CE + batch-similarity matching over map pairs."""

    uses_maps = True
    weight_names = ("ce", "sp")
    option_defaults = {"pairs": "last"}

    def terms(
        self, student: ModelOutput, teachers: list[ModelOutput], labels: Tensor
    ) -> dict[str, Tensor]:
        per_teacher = []
        for t in teachers:
            pairs = resolve_pairs(self.name, self.options["pairs"], list(student.maps),
                                  list(t.maps))
            per_teacher.append(
                torch.stack([sp_pair(student.maps[s], t.maps[m]) for s, m in pairs]).sum()
            )
        ce = cross_entropy(student.logits, labels, self.label_smoothing)
        return {"ce": ce, "sp": mean_over_teachers(per_teacher)}
