"""``acs``: PSKD's Adaptive-Confidence Semantic loss (ACM MM 2022, eq. 1-7).

    L = L_KD + beta * L_MK + gamma * L_S,   L_KD = CE + alpha * L_K          (eq. 7, 1)

Terms returned (weights ``ce`` = 1, ``kd`` = alpha, ``mk`` = beta, ``semantic`` = gamma):

- ``ce``: CE(z_S, y).
- ``kd`` (L_K, eq. 2): mean over the K teachers of T^2 KL(softmax(z_k/T) || softmax(z_S/T)),
  the Hinton term with equal teacher weights (as :mod:`crosskd.losses.kd`).
- ``mk`` (L_MK, eq. 3-5), the adaptive-confidence term. Per sample i, with l_k = CE(z_k, y)
  (eq. 3, T = 1) and l_S = CE(z_S, y), all computed without gradient:

      right_k    = [argmax z_k = y]
      eligible_k = right_k and (l_k <= l_S)             (student gate, option student_gate)
      E = {k : eligible_k},  n = |E|
      w_k = (1/(n-1)) * (1 - exp(l_k) / sum_{j in E} exp(l_j))   k in E, n >= 2 ("soft")
      w_k = 1                                                      k in E, n = 1
      w_k = 0                                                      k not in E
      g   = [n = 0]                                    (ground-truth fallback)

      L_MK = mean_i [ sum_k w_k * T^2 * H(softmax(z_k/T), softmax(z_S/T)) + g * CE(z_S, y) ]

  with H(p, q) = -sum_c p_c log q_c (eq. 5's soft-target cross-entropy). This is the
  stated intent: both teachers right -> both weighted, the more confident one (lower l_k,
  i.e. higher probability on the true class) more (for K = 2, w = softmax(-l) over the
  two); exactly one right -> that one with weight exactly 1, the other exactly 0; both
  wrong -> all weights exactly 0 and the sample's term is the ground-truth CE. The weights
  of a sample sum to 1 (teachers) or g = 1 (label): the target is always a distribution.
  ``selection: hard`` gives weight 1 to the eligible teacher with the lowest l_k instead.
  The gate (eq. 4's second case) drops a correct teacher that is less sure of the label
  than the student already is; with no teacher left the label is followed.
- ``semantic`` (L_S, eq. 6): MSE (batch and feature mean) between the student's fc0
  embedding, through a learned linear projection only if widths differ (PSKD makes them
  equal), and each teacher's embedding; mean over teachers.

Where eq. 4-5 as printed slip, and what is used instead:

1. Eq. 4 has a leading minus: with eq. 5's own minus, L_MK would be a negative
   cross-entropy and push the student away from the teachers. Dropped.
2. Eq. 4's condition compares a teacher's CE with L_KD (eq. 1, CE plus alpha times a KL):
   not the same quantity. The text says "worse than the student", so l_S is used. The two
   printed cases also overlap at equality (<= and >=); equality counts as eligible.
3. Eq. 4 never looks at whether a teacher is right, and when every weight is zero eq. 5
   gives L_MK = 0, not the promised fallback to the label. Hence the ``right_k`` gate and
   the explicit g * CE term.
4. Eq. 5 uses the raw logits Z_T as the target distribution (unbounded, can be negative:
   not a cross-entropy); softmax(z_k/T) is used, with T^2 as for L_K.
5. Eq. 4's 1/(K-1) normalises over all K teachers; here over the eligible set E, so the
   weights sum to one whichever teachers qualify. Notation: K is both the number of
   teachers and an index (L^K_CEKD), alpha both the softmax and the KD weight; eq. 2 sums
   k = 0..m with 1/m and divides probabilities (not logits) by T.

Variants: ``adaptive: false`` (or method ``acs_equal``) sets w_k = 1/K and g = 0 for every
sample: the fixed-equal-weight multi-teacher baseline of the paper's Fig. 4. Table 4's
ablations are weights: "AC w/o S" = ``semantic: 0``; "S w/o AC" = ``mk: 0``.
Options: ``temperature`` (4), ``adaptive`` (true), ``selection`` (soft | hard),
``student_gate`` (true). Needs widths (FeatureDims or ``bind``) for the projection.
The paper publishes no alpha/beta/gamma (grid search); the last sample weights are kept in
``last_weights`` (B, K) and ``last_fallback`` (B,) for logging.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crosskd.errors import ConfigError
from crosskd.losses.base import DistillLoss, FeatureDims, cross_entropy, mean_over_teachers
from crosskd.losses.kd import kd_kl
from crosskd.losses.registry import register_loss
from crosskd.losses.shapes import EmbeddingProjector
from crosskd.models.output import ModelOutput

SELECTIONS = ("soft", "hard")


@torch.no_grad()
def acs_weights(
    student_logits: Tensor,
    teacher_logits: Sequence[Tensor],
    labels: Tensor,
    *,
    adaptive: bool = True,
    selection: str = "soft",
    student_gate: bool = True,
) -> tuple[Tensor, Tensor]:
    """Per-sample teacher weights w (B, K) and ground-truth fallback g (B,), no gradient.

    See the module docstring for the formula; ``adaptive=False`` gives w = 1/K, g = 0.
    """
    k = len(teacher_logits)
    b = labels.shape[0]
    dev, dtype = student_logits.device, student_logits.dtype
    if not adaptive:
        return torch.full((b, k), 1.0 / k, device=dev, dtype=dtype), torch.zeros(
            b, device=dev, dtype=dtype
        )
    z = torch.stack(list(teacher_logits), dim=1)  # (B, K, C)
    idx = labels.view(b, 1, 1).expand(b, k, 1)
    loss_t = -F.log_softmax(z, dim=-1).gather(-1, idx).squeeze(-1)  # (B, K), eq. 3
    eligible = z.argmax(dim=-1) == labels.view(b, 1)
    if student_gate:
        loss_s = F.cross_entropy(student_logits, labels, reduction="none")
        eligible = eligible & (loss_t <= loss_s.view(b, 1))
    n = eligible.sum(dim=1)  # (B,)
    if selection == "hard":
        best = loss_t.masked_fill(~eligible, float("inf")).argmin(dim=1)
        w = F.one_hot(best, k).to(dtype) * (n > 0).to(dtype).view(b, 1)
    else:
        # Softmax of the losses over the eligible set (rows with none: any finite values).
        masked = loss_t.masked_fill(~eligible, float("-inf"))
        masked = torch.where((n > 0).view(b, 1), masked, torch.zeros_like(masked))
        share = torch.softmax(masked, dim=1)
        w = (1.0 - share) / (n - 1).clamp_min(1).to(dtype).view(b, 1)
        w = torch.where((n == 1).view(b, 1), torch.ones_like(w), w)
        w = torch.where(eligible, w, torch.zeros_like(w))
    return w, (n == 0).to(dtype)


def soft_cross_entropy(
    student_logits: Tensor, teacher_logits: Tensor, temperature: float
) -> Tensor:
    """Per-sample T^2 * H(softmax(z_T/T), softmax(z_S/T)), shape (B,)."""
    log_ps = F.log_softmax(student_logits / temperature, dim=1)
    p_t = F.softmax(teacher_logits / temperature, dim=1)
    return -(p_t * log_ps).sum(dim=1) * temperature * temperature


def mk_loss(
    student_logits: Tensor,
    teacher_logits: Sequence[Tensor],
    labels: Tensor,
    weights: Tensor,
    fallback: Tensor,
    temperature: float,
) -> Tensor:
    """L_MK: weighted soft-target CE per teacher plus the ground-truth CE where g = 1."""
    per_teacher = torch.stack(
        [soft_cross_entropy(student_logits, t, temperature) for t in teacher_logits], dim=1
    )
    hard = F.cross_entropy(student_logits, labels, reduction="none")
    return ((weights * per_teacher).sum(dim=1) + fallback * hard).mean()


@register_loss("acs")
class ACSLoss(DistillLoss):
    """CE + alpha L_K + beta L_MK (adaptive confidence) + gamma L_S (semantic)."""

    weight_names = ("ce", "kd", "mk", "semantic")
    option_defaults: dict[str, Any] = {
        "temperature": 4.0,
        "adaptive": True,
        "selection": "soft",
        "student_gate": True,
    }
    needs_dims = True
    last_weights: Tensor | None = None  # (B, K) teacher weights of the last batch
    last_fallback: Tensor | None = None  # (B,) 1 where the last batch followed the label

    def check_options(self, options: dict[str, Any]) -> None:
        self._require_positive(options, "temperature")
        if options.get("selection", "soft") not in SELECTIONS:
            raise ConfigError(
                f"loss {self.name!r}: option 'selection' must be one of {list(SELECTIONS)}, "
                f"got {options['selection']!r}"
            )

    def setup(self, student: FeatureDims, teachers: Sequence[FeatureDims]) -> None:
        self.projectors = nn.ModuleList(
            EmbeddingProjector(student.embedding, t.embedding) for t in teachers
        )

    def _mode(self) -> dict[str, Any]:
        return {k: self.options[k] for k in ("adaptive", "selection", "student_gate")}

    def terms(
        self, student: ModelOutput, teachers: list[ModelOutput], labels: Tensor
    ) -> dict[str, Tensor]:
        temp = self.options["temperature"]
        z_s = student.logits
        z_t = [t.logits for t in teachers]
        w, g = acs_weights(z_s, z_t, labels, **self._mode())
        self.last_weights, self.last_fallback = w, g
        s = student.embedding
        return {
            "ce": cross_entropy(z_s, labels, self.label_smoothing),
            "kd": mean_over_teachers([kd_kl(z_s, t, temp) for t in z_t]),
            "mk": mk_loss(z_s, z_t, labels, w, g, temp),
            "semantic": mean_over_teachers(
                [F.mse_loss(p(s), t.embedding) for p, t in zip(self.projectors, teachers,
                                                               strict=True)]
            ),
        }


@register_loss("acs_equal")
class ACSEqualLoss(ACSLoss):
    """ACS with fixed equal teacher weights in L_MK (w_k = 1/K, no label fallback)."""

    option_defaults: dict[str, Any] = {"temperature": 4.0}

    def _mode(self) -> dict[str, Any]:
        return {"adaptive": False, "selection": "soft", "student_gate": False}
