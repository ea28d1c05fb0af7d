"""``dask``: VSKD's Distance and Angle-wise Semantic Knowledge loss (ICASSP 2022, eq. 9).

L = L_KD + beta (L_D + L_A) + gamma L_S with L_KD = CE + alpha L_K (eq. 2-3):

- ``ce``: CE on the ground truth;
- ``kd``: T^2 KL soft targets (as :mod:`crosskd.losses.kd`), mean over teachers;
- ``distance`` / ``angle``: RKD terms on the embeddings (as :mod:`crosskd.losses.rkd`,
  student with its gradient, not swapped as in the public code), mean over teachers;
- ``semantic``: MSE (mean over batch and features, as the public code's ``nn.MSELoss``;
  eq. 8's sum over features is D times larger) between the student embedding, projected to
  the teacher's width by a learned linear layer when the widths differ (300 vs 256 could
  not run in the public code), and the teacher embedding; mean over teachers.

Eq. 9 uses one beta for L_D and L_A; separate weights keep its Table 4 ablations
expressible (w/o D: distance 0; w/o A: angle 0; w/o S: semantic 0).
Weights: ``ce`` (1), ``kd`` (alpha; the public code used 0.01), ``distance`` and ``angle``
(beta; public code 1), ``semantic`` (gamma; public code 1). Options: ``temperature`` (4).
Needs widths (FeatureDims or ``bind``) for the projection.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from crosskd.losses.base import DistillLoss, FeatureDims, cross_entropy, mean_over_teachers
from crosskd.losses.kd import kd_kl
from crosskd.losses.registry import register_loss
from crosskd.losses.rkd import rkd_angle, rkd_distance
from crosskd.losses.shapes import EmbeddingProjector
from crosskd.models.output import ModelOutput


@register_loss("dask")
class DASKLoss(DistillLoss):
    """CE + KD + RKD distance/angle + semantic embedding MSE."""

    weight_names = ("ce", "kd", "distance", "angle", "semantic")
    option_defaults = {"temperature": 4.0}
    needs_dims = True

    def check_options(self, options: dict[str, Any]) -> None:
        self._require_positive(options, "temperature")

    def setup(self, student: FeatureDims, teachers: Sequence[FeatureDims]) -> None:
        self.projectors = nn.ModuleList(
            EmbeddingProjector(student.embedding, t.embedding) for t in teachers
        )

    def terms(
        self, student: ModelOutput, teachers: list[ModelOutput], labels: Tensor
    ) -> dict[str, Tensor]:
        temp = self.options["temperature"]
        s = student.embedding
        return {
            "ce": cross_entropy(student.logits, labels, self.label_smoothing),
            "kd": mean_over_teachers([kd_kl(student.logits, t.logits, temp) for t in teachers]),
            "distance": mean_over_teachers([rkd_distance(s, t.embedding) for t in teachers]),
            "angle": mean_over_teachers([rkd_angle(s, t.embedding) for t in teachers]),
            "semantic": mean_over_teachers(
                [F.mse_loss(p(s), t.embedding) for p, t in zip(self.projectors, teachers,
                                                               strict=True)]
            ),
        }
