"""``at``: attention transfer (Zagoruyko & Komodakis 2017), activation-based, p = 2.

Attention of a map: a = mean over channels of |f|^p, so channel counts never need to
match. Cross-modal mapping: the attention of a GCN map is (B, T, V) -> mean over joints;
of a GAF map (B, H, W) -> mean over W; of a 1D map (B, L) as is (the energy at each time
step; :func:`crosskd.losses.shapes.to_sequence` applied after the channel reduction, so
energies are averaged, not signed activations). The longer of the two is average-pooled to
the shorter length, each is L2-normalised over time, and the pair term is the mean squared
difference (RepDistiller's form, which its beta = 1000 is tuned for). at = sum over pairs,
averaged over teachers.

total = ce * CE + at * at. Weights: ``ce``, ``at`` (RepDistiller: 1000).
Options: ``p`` (2), ``pairs`` (``"aligned"``: every student/teacher map pair aligned from the
deep end, as AT transfers at every group; or ``"last"``, or explicit name pairs).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from crosskd.losses.base import DistillLoss, cross_entropy, mean_over_teachers
from crosskd.losses.registry import register_loss
from crosskd.losses.shapes import match_length, resolve_pairs, to_sequence
from crosskd.models.output import ModelOutput


def attention_sequence(x: Tensor, p: float) -> Tensor:
    """(B, C, T[, X]) map -> (B, 1, L) channel-mean of |x|^p, non-time axis averaged."""
    return to_sequence(x.abs().pow(p).mean(dim=1, keepdim=True))


def at_pair(student_map: Tensor, teacher_map: Tensor, p: float = 2.0) -> Tensor:
    """Mean squared difference of the normalised attention sequences of two maps."""
    a_s, a_t = match_length(attention_sequence(student_map, p), attention_sequence(teacher_map, p))
    a_s = F.normalize(a_s.flatten(1), dim=1)
    a_t = F.normalize(a_t.flatten(1), dim=1)
    return (a_s - a_t).pow(2).mean()


@register_loss("at")
class ATLoss(DistillLoss):
    """CE + attention-map matching over map pairs."""

    uses_maps = True
    weight_names = ("ce", "at")
    option_defaults = {"p": 2.0, "pairs": "aligned"}

    def check_options(self, options: dict[str, Any]) -> None:
        self._require_positive(options, "p")

    def terms(
        self, student: ModelOutput, teachers: list[ModelOutput], labels: Tensor
    ) -> dict[str, Tensor]:
        p = self.options["p"]
        per_teacher = []
        for t in teachers:
            pairs = resolve_pairs(self.name, self.options["pairs"], list(student.maps),
                                  list(t.maps))
            per_teacher.append(
                torch.stack([at_pair(student.maps[s], t.maps[m], p) for s, m in pairs]).sum()
            )
        ce = cross_entropy(student.logits, labels, self.label_smoothing)
        return {"ce": ce, "at": mean_over_teachers(per_teacher)}
