"""Adaptive graph convolutional network (2s-AGCN, Shi et al. CVPR 2019), one stream, one person.

Used for both PSKD teachers: Teacher_sk (``imu_nodes=0``, skeleton joints only) and
Teacher_fu (``imu_nodes>0``: Fusion-GCN's IMU nodes appended after the joints, each linked
to the layout's centre joint; see :mod:`crosskd.models.graph`).

Faithful to the reference block, with the three per-subset branches computed in batched
form (one theta conv, one phi conv and one output conv over the concatenated subsets, which
is the same function as summing three per-subset 1x1 convs).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

from crosskd.data.layouts import get_layout
from crosskd.errors import ConfigError
from crosskd.models.graph import fused_num_nodes, graph_adjacency
from crosskd.models.output import ModelOutput
from crosskd.models.registry import register_model


def _conv_init(conv: nn.Conv2d) -> None:
    nn.init.kaiming_normal_(conv.weight, mode="fan_out")
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)


def _bn_init(bn: nn.BatchNorm1d | nn.BatchNorm2d, scale: float) -> None:
    nn.init.constant_(bn.weight, scale)
    nn.init.zeros_(bn.bias)


def _conv_bn(in_channels: int, out_channels: int, kernel: int, stride: int) -> nn.Sequential:
    """Temporal conv (kernel x 1) + BN: the 2s-AGCN ``unit_tcn`` (no activation inside)."""
    conv = nn.Conv2d(
        in_channels, out_channels, (kernel, 1), padding=((kernel - 1) // 2, 0), stride=(stride, 1)
    )
    bn = nn.BatchNorm2d(out_channels)
    _conv_init(conv)
    _bn_init(bn, 1.0)
    return nn.Sequential(conv, bn)


class AdaptiveGraphConv(nn.Module):
    """Spatial graph conv with adjacency A_k + B_k + C_k per subset k (2s-AGCN ``unit_gcn``).

    A_k: fixed normalised partition (buffer ``A``). B_k: free, learned (``B``, init 1e-6 so
    training starts from the physical graph). C_k: sample-dependent embedded similarity,
    softmax(theta(x)^T phi(x)) normalised over source nodes. Output: BN(sum_k W_k x (A+B+C)_k)
    plus a (projected) residual, then ReLU.
    """

    def __init__(
        self, in_channels: int, out_channels: int, adjacency: np.ndarray, coff_embedding: int = 4
    ) -> None:
        super().__init__()
        num_subsets, num_nodes, _ = adjacency.shape
        self.num_subsets = num_subsets
        self.inter_channels = max(1, out_channels // coff_embedding)
        self.register_buffer("A", torch.as_tensor(adjacency, dtype=torch.float32))
        self.B = nn.Parameter(torch.full((num_subsets, num_nodes, num_nodes), 1e-6))
        self.theta = nn.Conv2d(in_channels, num_subsets * self.inter_channels, 1)
        self.phi = nn.Conv2d(in_channels, num_subsets * self.inter_channels, 1)
        self.conv = nn.Conv2d(num_subsets * in_channels, out_channels, 1)
        self.bn = nn.BatchNorm2d(out_channels)
        self.down: nn.Module = nn.Identity()
        if in_channels != out_channels:
            self.down = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1), nn.BatchNorm2d(out_channels)
            )
            _conv_init(self.down[0])
            _bn_init(self.down[1], 1.0)
        _conv_init(self.theta)
        _conv_init(self.phi)
        # 2s-AGCN conv_branch_init: std sqrt(2 / (out * in * subsets)).
        nn.init.normal_(
            self.conv.weight, 0.0, math.sqrt(2.0 / (out_channels * in_channels * num_subsets))
        )
        nn.init.zeros_(self.conv.bias)
        # Near-zero BN scale: each block starts close to its residual path (as 2s-AGCN).
        _bn_init(self.bn, 1e-6)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        b, c, t, v = x.shape
        k, ci = self.num_subsets, self.inter_channels
        theta = self.theta(x).reshape(b, k, ci * t, v)
        phi = self.phi(x).reshape(b, k, ci * t, v)
        sim = torch.einsum("bkcv,bkcw->bkvw", theta, phi) / (ci * t)
        adj = sim.softmax(dim=-2) + (self.A + self.B)  # (b, k, v, w): weight of v into w
        agg = torch.einsum("bctv,bkvw->bkctw", x, adj).reshape(b, k * c, t, v)
        y = self.bn(self.conv(agg)) + self.down(x)
        return self.relu(y)


class AGCNLayer(nn.Module):
    """GCN unit + temporal conv, with a residual around the whole unit (``TCN_GCN_unit``)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        adjacency: np.ndarray,
        stride: int = 1,
        residual: bool = True,
        temporal_kernel: int = 9,
        coff_embedding: int = 4,
    ) -> None:
        super().__init__()
        self.gcn = AdaptiveGraphConv(in_channels, out_channels, adjacency, coff_embedding)
        self.tcn = _conv_bn(out_channels, out_channels, temporal_kernel, stride)
        self.residual: nn.Module | None
        if not residual:
            self.residual = None
        elif in_channels == out_channels and stride == 1:
            self.residual = nn.Identity()
        else:
            self.residual = _conv_bn(in_channels, out_channels, 1, stride)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        y = self.tcn(self.gcn(x))
        if self.residual is not None:
            y = y + self.residual(x)
        return self.relu(y)


def _stage_ends(channels: list[int], strides: list[int]) -> list[int]:
    """Indices of layers that end a stage: the next layer changes width or time resolution."""
    n = len(channels)
    return [
        i for i in range(n) if i == n - 1 or channels[i + 1] != channels[i] or strides[i + 1] > 1
    ]


@register_model("agcn")
class AGCN(nn.Module):
    """2s-AGCN classifier on (B, C, T, V') skeleton (+ IMU node) sequences.

    Args:
        num_classes: number of actions.
        layout: skeleton layout name (:mod:`crosskd.data.layouts`).
        channels: output width of each layer; paper: [64]*4 + [128]*3 + [256]*3.
        strides: temporal stride of each layer; paper: 2 at layers 5 and 8 (index 4, 7).
        imu_nodes: extra IMU nodes appended after the joints (0: Teacher_sk, >0: Teacher_fu).
        in_channels: per-node input channels (3: xyz, or an IMU axis triple).
        embedding_dim: if set, ``fc0`` (Linear + ReLU) maps the pooled feature to this width
            and its output is the embedding, so teacher and student semantic features can
            have equal width; if None the pooled feature (width ``channels[-1]``) is.
        dropout: dropout on the embedding before the classifier.
        temporal_kernel: temporal conv size (9 in the paper).
        coff_embedding: theta/phi width is ``out_channels // coff_embedding`` (4 in the paper).

    ``maps`` holds ``"stage1"``, ``"stage2"``, ...: the output (B, C, T_s, V') of the last
    layer of each stage, a stage being a run of layers with one width and no stride inside
    (a stage ends where the next layer changes the channel count or strides, or at the last
    layer). Paper config: stage1 = layer 4 (64, T), stage2 = layer 7 (128, T/2),
    stage3 = layer 10 (256, T/4). ``map_channels`` gives each map's width.
    """

    def __init__(
        self,
        num_classes: int,
        layout: str,
        channels: list[int],
        strides: list[int],
        imu_nodes: int = 0,
        in_channels: int = 3,
        embedding_dim: int | None = None,
        dropout: float = 0.0,
        temporal_kernel: int = 9,
        coff_embedding: int = 4,
    ) -> None:
        super().__init__()
        channels, strides = list(channels), list(strides)
        if not channels or len(channels) != len(strides):
            raise ConfigError(
                f"agcn: channels and strides need one entry per layer, got {len(channels)} "
                f"channels and {len(strides)} strides"
            )
        if any(c < 1 for c in channels) or any(s < 1 for s in strides):
            raise ConfigError(f"agcn: channels {channels} and strides {strides} must be >= 1")
        if num_classes < 1 or in_channels < 1 or imu_nodes < 0:
            raise ConfigError(
                f"agcn: need num_classes >= 1, in_channels >= 1, imu_nodes >= 0; got "
                f"{num_classes}, {in_channels}, {imu_nodes}"
            )
        if embedding_dim is not None and embedding_dim < 1:
            raise ConfigError(f"agcn: embedding_dim must be >= 1 or null, got {embedding_dim}")
        if temporal_kernel < 1 or temporal_kernel % 2 == 0:
            raise ConfigError(f"agcn: temporal_kernel must be odd, got {temporal_kernel}")
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"agcn: dropout must be in [0, 1), got {dropout}")
        try:
            lay = get_layout(layout)
        except KeyError as err:
            raise ConfigError(f"agcn: {err.args[0]}") from None

        self.layout = lay.name
        self.imu_nodes = imu_nodes
        self.in_channels = in_channels
        self.num_nodes = fused_num_nodes(lay, imu_nodes)
        adjacency = graph_adjacency(lay, imu_nodes)

        self.data_bn = nn.BatchNorm1d(self.num_nodes * in_channels)
        _bn_init(self.data_bn, 1.0)
        layers = []
        prev = in_channels
        for i, (width, stride) in enumerate(zip(channels, strides, strict=True)):
            layers.append(
                AGCNLayer(
                    prev,
                    width,
                    adjacency,
                    stride=stride,
                    residual=i > 0,  # 2s-AGCN: no unit residual on the input layer
                    temporal_kernel=temporal_kernel,
                    coff_embedding=coff_embedding,
                )
            )
            prev = width
        self.layers = nn.ModuleList(layers)
        self.stage_layers = {
            f"stage{s + 1}": i for s, i in enumerate(_stage_ends(channels, strides))
        }
        self.map_channels = {name: channels[i] for name, i in self.stage_layers.items()}

        self.fc0: nn.Module | None = None
        self.embedding_dim = channels[-1]
        if embedding_dim is not None:
            self.fc0 = nn.Sequential(nn.Linear(channels[-1], embedding_dim), nn.ReLU(inplace=True))
            self.embedding_dim = embedding_dim
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(self.embedding_dim, num_classes)
        nn.init.normal_(self.fc.weight, 0.0, math.sqrt(2.0 / num_classes))
        nn.init.zeros_(self.fc.bias)

    def forward(self, x: Tensor) -> ModelOutput:
        """x: (B, C, T, V') with V' = joints + imu_nodes (IMU nodes last)."""
        if x.dim() != 4 or x.shape[1] != self.in_channels or x.shape[3] != self.num_nodes:
            raise ValueError(
                f"agcn ({self.layout}, imu_nodes={self.imu_nodes}) expects input of shape "
                f"(B, {self.in_channels}, T, {self.num_nodes}), got {tuple(x.shape)}"
            )
        b, c, t, v = x.shape
        # Input BN per (node, channel) over batch and time: absorbs the different scales of
        # joint coordinates and IMU readings.
        x = x.permute(0, 3, 1, 2).reshape(b, v * c, t)
        x = self.data_bn(x).reshape(b, v, c, t).permute(0, 2, 3, 1).contiguous()
        maps: dict[str, Tensor] = {}
        ends = {i: name for name, i in self.stage_layers.items()}
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i in ends:
                maps[ends[i]] = x
        pooled = x.mean(dim=(2, 3))
        embedding = pooled if self.fc0 is None else self.fc0(pooled)
        logits = self.fc(self.dropout(embedding))
        return ModelOutput(logits=logits, embedding=embedding, maps=maps)
