"""Make a student feature comparable with a teacher's, across modalities (one helper for all).

Feature maps come in three layouts, all with time on axis 2:

- GCN teacher ``(B, C, T, V)``: V indexes joints (+ IMU nodes);
- GAF ResNet student ``(B, C, H, W)``: both H and W index time (a GAF image is a
  time x time Gram matrix), rows and columns carry the same information;
- 1D-CNN student ``(B, C, L)``.

:func:`to_sequence` averages the last axis of a 4D map away (joints for the teacher, GAF
columns for the student), giving ``(B, C, L)``; 3D maps pass unchanged. Both clip
representations span the whole clip (the fuse stage resamples each stream over its own
duration), so their time axes differ only in resolution: :func:`match_length` brings two
sequences to the shorter length by adaptive average pooling of the longer one (area
resampling: no invented samples, no aliasing of a strided sub-sampling; the same choice as
AT's ``adaptive_avg_pool2d`` in RepDistiller). Channels, which have no common meaning
across networks, are mapped by a learned 1x1 convolution (:class:`ChannelAdapter`) and
embeddings by a learned linear layer (:class:`EmbeddingProjector`), always student ->
teacher: the detached teacher feature is the fixed target.

:func:`resolve_pairs` turns a ``pairs`` option into (student map, teacher map) name pairs.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from crosskd.errors import ConfigError

PAIR_MODES = ("last", "aligned")


def to_sequence(x: Tensor) -> Tensor:
    """(B, C, T, X) -> (B, C, T) by the mean over X; (B, C, L) unchanged."""
    if x.dim() == 4:
        return x.mean(dim=3)
    if x.dim() == 3:
        return x
    raise ValueError(f"feature map must be (B, C, T, X) or (B, C, L), got {tuple(x.shape)}")


def match_length(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """Pool the longer of two (B, C, L) sequences to the shorter one's length."""
    la, lb = a.shape[-1], b.shape[-1]
    if la > lb:
        a = F.adaptive_avg_pool1d(a, lb)
    elif lb > la:
        b = F.adaptive_avg_pool1d(b, la)
    return a, b


def aligned_sequences(student_map: Tensor, teacher_map: Tensor) -> tuple[Tensor, Tensor]:
    """Both maps as (B, C_s, L) and (B, C_t, L) on a common time length L."""
    return match_length(to_sequence(student_map), to_sequence(teacher_map))


class ChannelAdapter(nn.Conv1d):
    """Learned 1x1 conv C_s -> C_t on (B, C, L) sequences (FitNet's regressor, linear)."""

    def __init__(self, student_channels: int, teacher_channels: int) -> None:
        super().__init__(student_channels, teacher_channels, kernel_size=1)


class EmbeddingProjector(nn.Module):
    """Student embedding -> teacher width: identity when widths agree, else learned linear.

    Identity when equal (PSKD makes the widths equal with fc0 on purpose, so nothing extra
    is learned); linear otherwise (VSKD's 300-d student vs a 256-d teacher cannot be
    compared directly, the defect of the reference code).
    """

    def __init__(self, student_dim: int, teacher_dim: int) -> None:
        super().__init__()
        self.proj: nn.Module = (
            nn.Identity() if student_dim == teacher_dim else nn.Linear(student_dim, teacher_dim)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x)


def check_pairs_option(method: str, spec: object) -> None:
    """Validate a ``pairs`` option: "last", "aligned" or a list of [student, teacher] names."""
    if isinstance(spec, str):
        if spec not in PAIR_MODES:
            raise ConfigError(
                f"loss {method!r}: option 'pairs' must be one of {list(PAIR_MODES)} or a list "
                f"of [student_map, teacher_map] pairs, got {spec!r}"
            )
        return
    ok = isinstance(spec, Sequence) and len(spec) > 0
    ok = ok and all(
        isinstance(p, Sequence) and not isinstance(p, str) and len(p) == 2
        and all(isinstance(n, str) for n in p)
        for p in spec
    )
    if not ok:
        raise ConfigError(
            f"loss {method!r}: option 'pairs' must be one of {list(PAIR_MODES)} or a non-empty "
            f"list of [student_map, teacher_map] name pairs, got {spec!r}"
        )


def resolve_pairs(
    method: str, spec: object, student_maps: Sequence[str], teacher_maps: Sequence[str]
) -> list[tuple[str, str]]:
    """(student map, teacher map) pairs, shallow to deep; map lists are in depth order.

    ``"last"``: the deepest map of each. ``"aligned"``: the two lists aligned at their deep
    end and cut to the shorter (ResNet layer1..4 vs AGCN stage1..3 -> layer2/stage1,
    layer3/stage2, layer4/stage3). A list: those names, each checked to exist.
    """
    if not student_maps or not teacher_maps:
        raise ConfigError(
            f"loss {method!r} needs feature maps from the student and every teacher; got "
            f"student maps {list(student_maps)}, teacher maps {list(teacher_maps)}"
        )
    if spec == "last":
        return [(student_maps[-1], teacher_maps[-1])]
    if spec == "aligned":
        n = min(len(student_maps), len(teacher_maps))
        return list(zip(student_maps[-n:], teacher_maps[-n:], strict=True))
    pairs = [(str(s), str(t)) for s, t in spec]  # type: ignore[union-attr]
    for s, t in pairs:
        if s not in student_maps or t not in teacher_maps:
            raise ConfigError(
                f"loss {method!r}: pair [{s!r}, {t!r}] names a map that does not exist; "
                f"student maps: {list(student_maps)}, teacher maps: {list(teacher_maps)}"
            )
    return pairs
