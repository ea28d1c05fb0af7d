"""The watch-class student: a compact temporal CNN on the raw wearable signal (issue #6).

Input ``(B, C, L)``: C = 3 (acc xyz [g]) or 6 (acc xyz [g] + gyro xyz [deg/s], the fused
file's channel order), L time steps. Per-channel standardisation with *training* statistics
is part of the model (buffers set by :meth:`TemporalCNN.set_input_stats`), so a checkpoint or
an exported ONNX file takes raw sensor units and deployment cannot forget (or re-estimate)
the normalisation.

Blocks: ``Conv1d(k, 'same') - BN - ReLU - MaxPool`` (depth = ``len(channels)``), global
average pool over time, ``fc0`` (Linear + ReLU: the semantic embedding compared with the
teachers') and the classifier ``fc``. ``separable=True`` makes every block after the first
depthwise-separable (depthwise conv k + pointwise 1x1): about k times fewer weights per
block for the same width, the usual trade for watch-class models. ``convs_per_block`` and
``residual`` turn the blocks into those of the time-series ResNet (Wang et al. 2017: several
conv-BN layers per block, a 1x1-conv shortcut where the width changes, ReLU after the sum).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from crosskd.errors import ConfigError
from crosskd.models.output import ModelOutput
from crosskd.models.registry import register_model

DEFAULT_CHANNELS = (32, 64, 64, 128, 128)


def input_stats(windows: np.ndarray | Tensor, min_std: float = 1e-3) -> tuple[np.ndarray,
                                                                                np.ndarray]:
    """Per-channel mean and std of training windows ``(N, C, L)`` (over N and L).

    ``min_std`` floors the std so a constant channel (e.g. the zero gyroscope of a dataset
    without one) maps to 0 instead of dividing by zero.
    """
    x = windows.detach().cpu().numpy() if isinstance(windows, Tensor) else np.asarray(windows)
    if x.ndim != 3 or x.shape[0] == 0:
        raise ValueError(f"input_stats expects (N, C, L) windows with N >= 1, got {x.shape}")
    x = x.astype(np.float64)
    mean = x.mean(axis=(0, 2))
    std = np.maximum(x.std(axis=(0, 2)), min_std)
    return mean.astype(np.float32), std.astype(np.float32)


def _conv(c_in: int, c_out: int, kernel: int, separable: bool) -> list[nn.Module]:
    pad = kernel // 2
    if separable:
        return [nn.Conv1d(c_in, c_in, kernel, padding=pad, groups=c_in, bias=False),
                nn.Conv1d(c_in, c_out, 1, bias=False)]
    return [nn.Conv1d(c_in, c_out, kernel, padding=pad, bias=False)]


def _conv_bn_relu(c_in: int, c_out: int, kernel: int, separable: bool, convs: int
                  ) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for i in range(convs):
        layers += [*_conv(c_in if i == 0 else c_out, c_out, kernel, separable),
                   nn.BatchNorm1d(c_out), nn.ReLU(inplace=True)]
    return layers


def _pool(pool: int) -> list[nn.Module]:
    # ceil_mode: a short input never pools to length 0 (any L >= 1 is accepted).
    return [nn.MaxPool1d(pool, ceil_mode=True)] if pool > 1 else []


class _ResidualBlock(nn.Module):
    """The time-series ResNet block: (conv - BN - ReLU) x n without the last ReLU, plus the
    input (through a 1x1 conv - BN where the width changes), ReLU, then the max-pool."""

    def __init__(self, c_in: int, c_out: int, kernel: int, pool: int, separable: bool,
                 convs: int) -> None:
        super().__init__()
        self.body = nn.Sequential(*_conv_bn_relu(c_in, c_out, kernel, separable, convs)[:-1])
        self.shortcut = (nn.Identity() if c_in == c_out else nn.Sequential(
            nn.Conv1d(c_in, c_out, 1, bias=False), nn.BatchNorm1d(c_out)))
        self.pool = nn.Sequential(*_pool(pool))

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(torch.relu(self.body(x) + self.shortcut(x)))


def _block(c_in: int, c_out: int, kernel: int, pool: int, separable: bool, convs: int = 1,
           residual: bool = False) -> nn.Module:
    if residual:
        return _ResidualBlock(c_in, c_out, kernel, pool, separable, convs)
    # A plain Sequential keeps the state_dict keys of models trained before `residual`.
    return nn.Sequential(*_conv_bn_relu(c_in, c_out, kernel, separable, convs), *_pool(pool))


@register_model("temporal_cnn")
class TemporalCNN(nn.Module):
    """Compact 1-D CNN student on raw accelerometer (optionally + gyroscope) windows.

    Args:
        num_classes: number of actions.
        in_channels: 3 (acc) or 6 (acc + gyro).
        channels: output width of each block; its length is the depth.
        kernel_size: odd temporal kernel ('same' padding keeps maps aligned with the input).
        pool: max-pool factor after each block (1 = none); default 2 after every block but
            the last, so the deepest map keeps some time resolution for feature losses.
        embedding_dim: width of fc0 / the semantic embedding (PSKD: the teacher's width).
        dropout: dropout before the classifier (0 = none).
        separable: depthwise-separable convolutions after the first block.
        convs_per_block: conv - BN - ReLU layers per block.
        residual: a shortcut around each block's convs (time-series ResNet).

    ``maps``: ``"block1"``.. ``(B, channels[i], L_i)``, each block's output after its pool.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 3,
        channels: Sequence[int] = DEFAULT_CHANNELS,
        kernel_size: int = 5,
        pool: Sequence[int] | None = None,
        embedding_dim: int = 128,
        dropout: float = 0.0,
        separable: bool = False,
        convs_per_block: int = 1,
        residual: bool = False,
    ) -> None:
        super().__init__()
        channels = [int(c) for c in channels]
        if pool is None:
            pool = [2] * (len(channels) - 1) + [1] if channels else []
        pool = [int(p) for p in pool]
        problems = []
        if num_classes < 1 or embedding_dim < 1:
            problems.append(f"num_classes, embedding_dim >= 1 (got {num_classes}, "
                            f"{embedding_dim})")
        if in_channels < 1:
            problems.append(f"in_channels >= 1 (got {in_channels})")
        if not channels or min(channels) < 1:
            problems.append(f"a non-empty channels list of widths >= 1 (got {channels})")
        if kernel_size < 1 or kernel_size % 2 == 0:
            problems.append(f"an odd kernel_size >= 1 (got {kernel_size})")
        if len(pool) != len(channels) or (pool and min(pool) < 1):
            problems.append(f"one pool factor >= 1 per block (got {pool} for {len(channels)} "
                            "blocks)")
        if convs_per_block < 1:
            problems.append(f"convs_per_block >= 1 (got {convs_per_block})")
        if not 0.0 <= dropout < 1.0:
            problems.append(f"0 <= dropout < 1 (got {dropout})")
        if problems:
            raise ConfigError("temporal_cnn: need " + "; ".join(problems))
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.embedding_dim = embedding_dim
        self.map_channels = {f"block{i}": c for i, c in enumerate(channels, 1)}
        blocks = []
        c_in = in_channels
        for i, (c_out, p) in enumerate(zip(channels, pool, strict=True)):
            blocks.append(_block(c_in, c_out, kernel_size, p, separable and i > 0,
                                 int(convs_per_block), bool(residual)))
            c_in = c_out
        self.blocks = nn.ModuleList(blocks)
        self.fc0 = nn.Sequential(nn.Linear(c_in, embedding_dim), nn.ReLU(inplace=True))
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(embedding_dim, num_classes)
        self.register_buffer("input_mean", torch.zeros(in_channels))
        self.register_buffer("input_std", torch.ones(in_channels))
        for m in self.modules():
            if isinstance(m, nn.Conv1d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def set_input_stats(self, mean: Sequence[float] | np.ndarray | Tensor,
                        std: Sequence[float] | np.ndarray | Tensor) -> None:
        """Store the training set's per-channel mean and std (raw units) in the model.

        Call before training (statistics of the *training* windows only: test statistics
        would leak). They are buffers, so checkpoints and the ONNX export carry them.
        """
        m = torch.as_tensor(np.asarray(mean, dtype=np.float32)).flatten()
        s = torch.as_tensor(np.asarray(std, dtype=np.float32)).flatten()
        c = self.in_channels
        if m.numel() != c or s.numel() != c:
            raise ValueError(f"temporal_cnn: need {c} means and stds, got {m.numel()} and "
                             f"{s.numel()}")
        if not (torch.isfinite(m).all() and torch.isfinite(s).all() and (s > 0).all()):
            raise ValueError(f"temporal_cnn: input stats must be finite with std > 0, got "
                             f"mean {m.tolist()}, std {s.tolist()}")
        self.input_mean.copy_(m)
        self.input_std.copy_(s)

    @property
    def has_input_stats(self) -> bool:
        """False while the stats are still the identity (0, 1): a likely forgotten call."""
        return not (bool((self.input_mean == 0).all()) and bool((self.input_std == 1).all()))

    def forward(self, x: Tensor) -> ModelOutput:
        """x: (B, in_channels, L) raw windows (acc [g], gyro [deg/s])."""
        if x.dim() != 3 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"temporal_cnn expects input of shape (B, {self.in_channels}, L), "
                f"got {tuple(x.shape)}"
            )
        x = (x - self.input_mean.view(1, -1, 1)) / self.input_std.view(1, -1, 1)
        maps: dict[str, Tensor] = {}
        for i, block in enumerate(self.blocks, 1):
            x = block(x)
            maps[f"block{i}"] = x
        embedding = self.fc0(x.mean(dim=2))
        logits = self.fc(self.dropout(embedding))
        return ModelOutput(logits=logits, embedding=embedding, maps=maps)
