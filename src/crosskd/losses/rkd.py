"""``rkd``: relational KD (Park et al. 2019), distance + angle, on the embeddings.

Distance: d_ij = ||e_i - e_j||_2 over the B(B-1) ordered pairs i != j, divided by its mean
over those pairs (mu in the paper); L_D = mean Huber/smooth-L1(d^S_ij, d^T_ij).
Angle: cos of the angle at vertex j, <u_ij, u_kj> with u_ij = (e_i - e_j)/||e_i - e_j||,
over triplets of distinct i, j, k; L_A = mean smooth-L1(cos^S, cos^T). Relations are
width-free: no projection. Batches smaller than 2 (3 for angles) give 0.

The student's embedding is the first argument and keeps its graph; the teacher is the
(detached) target. The public VSKD code swapped the two, so its student got no gradient.

total = ce * CE + distance * L_D + angle * L_A, each averaged over teachers.
Weights: ``ce``, ``distance`` (paper: 25), ``angle`` (paper: 50).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from crosskd.losses.base import DistillLoss, cross_entropy, mean_over_teachers
from crosskd.losses.registry import register_loss
from crosskd.models.output import ModelOutput

_EPS = 1e-12


def _safe_norm(x: Tensor) -> Tensor:
    """||x|| along the last axis; finite gradient at 0 (clamped inside the sqrt)."""
    return x.pow(2).sum(-1).clamp_min(_EPS).sqrt()


def rkd_distance(student: Tensor, teacher: Tensor) -> Tensor:
    """Smooth-L1 between mean-normalised pairwise distances (i != j) of two (B, D) batches."""
    student, teacher = student.float(), teacher.float()  # eps below fp16 range: keep fp32
    b = student.shape[0]
    if b < 2:
        return student.sum() * 0.0
    off = ~torch.eye(b, dtype=torch.bool, device=student.device)
    d_s = _safe_norm(student[:, None] - student[None])[off]
    d_t = _safe_norm(teacher[:, None] - teacher[None])[off]
    d_s = d_s / d_s.mean().clamp_min(_EPS)
    d_t = d_t / d_t.mean().clamp_min(_EPS)
    return F.smooth_l1_loss(d_s, d_t)


def _cosines(e: Tensor) -> Tensor:
    """c[j, i, k] = cos of the angle at e_j between e_i and e_k."""
    diff = e[None, :, :] - e[:, None, :]  # diff[j, i] = e_i - e_j
    unit = diff / _safe_norm(diff).unsqueeze(-1)
    return unit @ unit.transpose(1, 2)


def rkd_angle(student: Tensor, teacher: Tensor) -> Tensor:
    """Smooth-L1 between triplet angle cosines (distinct i, j, k) of two (B, D) batches."""
    student, teacher = student.float(), teacher.float()
    b = student.shape[0]
    if b < 3:
        return student.sum() * 0.0
    eye = torch.eye(b, dtype=torch.bool, device=student.device)
    # j is axis 0, i axis 1, k axis 2: keep i != j, k != j, i != k.
    distinct = ~(eye[:, :, None] | eye[:, None, :] | eye[None, :, :])
    return F.smooth_l1_loss(_cosines(student)[distinct], _cosines(teacher)[distinct])


@register_loss("rkd")
class RKDLoss(DistillLoss):
    """CE + RKD distance and angle terms on the embeddings."""

    weight_names = ("ce", "distance", "angle")

    def terms(
        self, student: ModelOutput, teachers: list[ModelOutput], labels: Tensor
    ) -> dict[str, Tensor]:
        s = student.embedding.flatten(1)
        return {
            "ce": cross_entropy(student.logits, labels, self.label_smoothing),
            "distance": mean_over_teachers([rkd_distance(s, t.embedding.flatten(1))
                                            for t in teachers]),
            "angle": mean_over_teachers([rkd_angle(s, t.embedding.flatten(1)) for t in teachers]),
        }
