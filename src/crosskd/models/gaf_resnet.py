"""The GAF student: ResNet18 on accelerometer Gramian-Angular-Field images (VSKD / PSKD).

ResNet18 trunk -> global average pool (512) -> fc0 Linear(512, embedding_dim) + ReLU ->
classifier. fc0 is PSKD's extra layer: its output is the "semantic" embedding compared with
the teachers' (equal width), VSKD's equivalent is 300 wide.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from crosskd.errors import ConfigError, DataError
from crosskd.models.output import ModelOutput
from crosskd.models.registry import register_model
from crosskd.models.tv import import_torchvision

_LAYERS = ("layer1", "layer2", "layer3", "layer4")


@register_model("gaf_resnet18")
class GafResNet18(nn.Module):
    """ResNet18 student on (B, in_channels, H, W) GAF images (H, W >= 32 keeps layer4 >= 1x1).

    Args:
        num_classes: number of actions.
        embedding_dim: width of fc0 / the semantic embedding (PSKD: teacher width; VSKD 300).
        in_channels: image channels (3: one GAF per accelerometer axis).
        weights_path: optional local torchvision-ResNet18 state_dict (e.g. ImageNet) loaded
            into the trunk; its ``fc.*`` entries are ignored. Nothing is ever downloaded:
            None trains from scratch.

    ``maps``: ``"layer1"``..``"layer4"``, (B, 64/128/256/512, H/4..H/32, W/4..W/32).
    """

    def __init__(
        self,
        num_classes: int,
        embedding_dim: int = 256,
        in_channels: int = 3,
        weights_path: str | None = None,
    ) -> None:
        super().__init__()
        if num_classes < 1 or embedding_dim < 1 or in_channels < 1:
            raise ConfigError(
                f"gaf_resnet18: need num_classes, embedding_dim, in_channels >= 1; got "
                f"{num_classes}, {embedding_dim}, {in_channels}"
            )
        tv = import_torchvision()
        trunk = tv.models.resnet18(weights=None)
        if in_channels != 3:
            trunk.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
            nn.init.kaiming_normal_(trunk.conv1.weight, mode="fan_out", nonlinearity="relu")
        trunk.fc = nn.Identity()  # the trunk ends at the 512-d pooled feature
        self.trunk = trunk
        self.in_channels = in_channels
        self.embedding_dim = embedding_dim
        self.map_channels = {"layer1": 64, "layer2": 128, "layer3": 256, "layer4": 512}
        if weights_path is not None:
            self.load_trunk_weights(weights_path)
        self.fc0 = nn.Sequential(nn.Linear(512, embedding_dim), nn.ReLU(inplace=True))
        self.fc = nn.Linear(embedding_dim, num_classes)

    def load_trunk_weights(self, path: str | Path) -> None:
        """Load a torchvision ResNet18 state_dict from a local file into the trunk.

        ``fc.*`` is dropped (different head). With ``in_channels != 3`` a 3-channel conv1 is
        averaged over RGB and repeated (the usual transfer for non-RGB inputs). Any other
        missing or unexpected key is an error: a silently partial load would look like a
        pretrained run.
        """
        path = Path(path)
        if not path.is_file():
            raise DataError(path, "student.weights_path: gaf_resnet18 weights file not found")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # pickle, zip and unpickler errors: not a weights file
            raise DataError(path, f"not a readable state_dict ({type(exc).__name__})") from None
        if not isinstance(state, dict):
            raise DataError(path, f"expected a state_dict, got {type(state).__name__}")
        state = {k.removeprefix("module."): v for k, v in state.items()}
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
        w = state.get("conv1.weight")
        if w is not None and w.shape[1] != self.in_channels:
            mean = w.mean(dim=1, keepdim=True)
            state["conv1.weight"] = mean.repeat(1, self.in_channels, 1, 1)
        missing, unexpected = self.trunk.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise DataError(path, f"not a ResNet18 state_dict (missing {missing[:5]}, "
                            f"unexpected {unexpected[:5]})")

    def forward(self, x: Tensor) -> ModelOutput:
        """x: (B, in_channels, H, W) GAF images."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"gaf_resnet18 expects input of shape (B, {self.in_channels}, H, W), "
                f"got {tuple(x.shape)}"
            )
        t = self.trunk
        x = t.maxpool(t.relu(t.bn1(t.conv1(x))))
        maps: dict[str, Tensor] = {}
        for name in _LAYERS:
            x = getattr(t, name)(x)
            maps[name] = x
        pooled = torch.flatten(t.avgpool(x), 1)
        embedding = self.fc0(pooled)
        return ModelOutput(logits=self.fc(embedding), embedding=embedding, maps=maps)
