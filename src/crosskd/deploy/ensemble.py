"""A seed ensemble: several trained copies of one student run, exported as one model.

The members are the same run (``deploy.model``) trained with different seeds; the
ensemble's logits are the mean of theirs. Averaging logits (rather than probabilities)
keeps the exported graph a plain sum of the members' graphs that int8 quantisation
handles like any other Add, and its argmax is what the deploy figures score.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from crosskd.models.output import ModelOutput


class SeedEnsemble(nn.Module):
    """Mean logits and mean embedding of ``members`` (same input, same classes)."""

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        if not members:
            raise ValueError("SeedEnsemble needs at least one member")
        self.members = nn.ModuleList(members)

    def forward(self, x: Tensor) -> ModelOutput:
        outs = [m(x) for m in self.members]
        return ModelOutput(logits=torch.stack([o.logits for o in outs]).mean(0),
                           embedding=torch.stack([o.embedding for o in outs]).mean(0))
