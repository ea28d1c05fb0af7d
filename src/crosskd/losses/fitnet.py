"""``fitnet``: hint regression through a learned regressor (Romero et al. 2015).

Cross-modal mapping (:mod:`crosskd.losses.shapes`): student map -> (B, C_s, L_s) (GAF
(B, C, H, W): mean over W; 1D (B, C, L) as is), teacher map (B, C_t, T, V) -> mean over
joints -> (B, C_t, T); the longer sequence is average-pooled to the shorter length; the
regressor is a learned 1x1 conv C_s -> C_t on the student side (linear, one per teacher and
map pair). hint = sum over pairs of MSE(regressor(s), t), averaged over teachers.

total = ce * CE + hint * hint. Weights: ``ce``, ``hint`` (RepDistiller: 100).
Options: ``pairs``: ``"last"`` (default: the deepest map of each, one hint as in FitNet),
``"aligned"`` (maps aligned from the deep end) or an explicit list of
``[student_map, teacher_map]``. Needs widths (FeatureDims or ``bind``): it owns parameters.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crosskd.losses.base import DistillLoss, FeatureDims, cross_entropy, mean_over_teachers
from crosskd.losses.registry import register_loss
from crosskd.losses.shapes import ChannelAdapter, aligned_sequences, resolve_pairs
from crosskd.models.output import ModelOutput


@register_loss("fitnet")
class FitNetLoss(DistillLoss):
    """CE + MSE between regressed student maps and teacher maps."""

    uses_maps = True
    weight_names = ("ce", "hint")
    option_defaults = {"pairs": "last"}
    needs_dims = True

    def setup(self, student: FeatureDims, teachers: Sequence[FeatureDims]) -> None:
        self.pairs: list[list[tuple[str, str]]] = []
        self.regressors = nn.ModuleList()
        for dims in teachers:
            pairs = resolve_pairs(self.name, self.options["pairs"], list(student.maps),
                                  list(dims.maps))
            self.pairs.append(pairs)
            self.regressors.append(
                nn.ModuleList(ChannelAdapter(student.maps[s], dims.maps[t]) for s, t in pairs)
            )

    def terms(
        self, student: ModelOutput, teachers: list[ModelOutput], labels: Tensor
    ) -> dict[str, Tensor]:
        per_teacher = []
        for teacher, pairs, regs in zip(teachers, self.pairs, self.regressors, strict=True):
            hint = torch.zeros((), device=student.logits.device)
            for (s_name, t_name), reg in zip(pairs, regs, strict=True):
                s, t = aligned_sequences(student.maps[s_name], teacher.maps[t_name])
                hint = hint + F.mse_loss(reg(s), t)
            per_teacher.append(hint)
        hint_term = mean_over_teachers(per_teacher)
        ce = cross_entropy(student.logits, labels, self.label_smoothing)
        return {"ce": ce, "hint": hint_term}
