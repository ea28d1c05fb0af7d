"""``kd``: Hinton et al. 2015 soft targets ("ST" in PSKD Table 4).

total = ce * CE + kd * mean_k T^2 KL(softmax(z_k / T) || softmax(z_S / T)), KL summed over
classes and averaged over the batch; T^2 keeps the soft-target gradients on the scale of
the hard-label ones. Several teachers: equal-weight mean (fixed-weight multi-teacher KD).
Weights: ``ce``, ``kd`` (RepDistiller's CIFAR setting: ce 0.1, kd 0.9; PSKD eq. 1: ce 1,
kd = alpha). Options: ``temperature`` (4, as PSKD and VSKD).
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor

from crosskd.losses.base import DistillLoss, cross_entropy, mean_over_teachers
from crosskd.losses.registry import register_loss
from crosskd.models.output import ModelOutput


def kd_kl(student_logits: Tensor, teacher_logits: Tensor, temperature: float) -> Tensor:
    """T^2 * KL(p_T || p_S) at temperature T, batch mean (the Hinton soft-target term)."""
    log_ps = F.log_softmax(student_logits / temperature, dim=1)
    log_pt = F.log_softmax(teacher_logits / temperature, dim=1)
    kl = F.kl_div(log_ps, log_pt, reduction="batchmean", log_target=True)
    return kl * temperature * temperature


@register_loss("kd")
class KDLoss(DistillLoss):
    """CE + soft-target KL, averaged over teachers."""

    weight_names = ("ce", "kd")
    option_defaults = {"temperature": 4.0}

    def check_options(self, options: dict[str, Any]) -> None:
        self._require_positive(options, "temperature")

    def terms(
        self, student: ModelOutput, teachers: list[ModelOutput], labels: Tensor
    ) -> dict[str, Tensor]:
        t = self.options["temperature"]
        return {
            "ce": cross_entropy(student.logits, labels, self.label_smoothing),
            "kd": mean_over_teachers([kd_kl(student.logits, x.logits, t) for x in teachers]),
        }
