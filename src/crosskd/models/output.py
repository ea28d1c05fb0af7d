"""What every model's forward returns, so distillation losses need no per-model glue."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor


@dataclass
class ModelOutput:
    """Logits, the penultimate "semantic" vector, and named intermediate feature maps.

    ``embedding`` is the vector semantic / relational KD losses compare (teacher and
    student widths are matched by the models' ``embedding_dim``). ``maps`` holds the
    feature maps feature-based losses (FitNet, AT, SP) use: ``"stage1"``.. ``(B, C, T, V)``
    for the GCN teachers, ``"layer1"``..``"layer4"`` ``(B, C, H, W)`` for the ResNet student.
    """

    logits: Tensor  # (B, K)
    embedding: Tensor  # (B, D)
    maps: dict[str, Tensor] = field(default_factory=dict)
