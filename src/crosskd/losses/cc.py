"""``cc``: correlation congruence (Peng et al. 2019), Gaussian-RBF kernel, Taylor form.

On L2-normalised embeddings f_i, the RBF kernel exp(-gamma ||f_i - f_j||^2) equals
exp(-2 gamma) exp(2 gamma f_i.f_j); its order-P Taylor expansion is
k_ij = sum_{p=0..P} exp(-2 gamma) (2 gamma)^p / p! (f_i.f_j)^p (the CCKD paper's form).
cc = mean over the B x B entries of (K_S - K_T)^2, averaged over teachers. The kernel is
width-free, so student and teacher embeddings need no projection (RepDistiller instead
learns a 128-d embedding for both and uses a different, simplified correlation; not
followed here).

total = ce * CE + cc * cc. Weights: ``ce``, ``cc`` (RepDistiller: 0.02 for its form; the
kernel form is O(1) per entry, start near 1). Options: ``gamma`` (0.4), ``order`` (2).
"""

from __future__ import annotations

import math
from typing import Any

import torch.nn.functional as F
from torch import Tensor

from crosskd.errors import ConfigError
from crosskd.losses.base import DistillLoss, cross_entropy, mean_over_teachers
from crosskd.losses.registry import register_loss
from crosskd.models.output import ModelOutput


def correlation_matrix(x: Tensor, gamma: float, order: int) -> Tensor:
    """Order-P Taylor approximation of the RBF kernel matrix of L2-normalised rows of x."""
    f = F.normalize(x.flatten(1).float(), dim=1)
    sim = f @ f.t()
    base = math.exp(-2.0 * gamma)
    out = sim.new_full(sim.shape, base)  # p = 0 term
    for p in range(1, order + 1):
        out = out + base * (2.0 * gamma) ** p / math.factorial(p) * sim.pow(p)
    return out


@register_loss("cc")
class CCLoss(DistillLoss):
    """CE + matching of the batch kernel (correlation) matrices of the embeddings."""

    weight_names = ("ce", "cc")
    option_defaults = {"gamma": 0.4, "order": 2}

    def check_options(self, options: dict[str, Any]) -> None:
        self._require_positive(options, "gamma")
        if options["order"] < 1:
            raise ConfigError(f"loss 'cc': option 'order' must be >= 1, got {options['order']}")

    def terms(
        self, student: ModelOutput, teachers: list[ModelOutput], labels: Tensor
    ) -> dict[str, Tensor]:
        g, order = self.options["gamma"], self.options["order"]
        k_s = correlation_matrix(student.embedding, g, order)
        per_teacher = [F.mse_loss(k_s, correlation_matrix(t.embedding, g, order))
                       for t in teachers]
        ce = cross_entropy(student.logits, labels, self.label_smoothing)
        return {"ce": ce, "cc": mean_over_teachers(per_teacher)}
