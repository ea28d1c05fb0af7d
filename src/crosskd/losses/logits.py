"""``logits``: regression on logits (Ba & Caruana 2014, "Logits" in PSKD Table 4).

total = ce * CE + logits * mean_k MSE(z_S, z_k), MSE averaged over batch and classes.
Weights: ``ce``, ``logits`` (1.0 is the usual starting point).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from crosskd.losses.base import DistillLoss, cross_entropy, mean_over_teachers
from crosskd.losses.registry import register_loss
from crosskd.models.output import ModelOutput


@register_loss("logits")
class LogitsLoss(DistillLoss):
    """CE + L2 between student and teacher logits, averaged over teachers."""

    weight_names = ("ce", "logits")

    def terms(
        self, student: ModelOutput, teachers: list[ModelOutput], labels: Tensor
    ) -> dict[str, Tensor]:
        mse = [F.mse_loss(student.logits, t.logits) for t in teachers]
        ce = cross_entropy(student.logits, labels, self.label_smoothing)
        return {"ce": ce, "logits": mean_over_teachers(mse)}
