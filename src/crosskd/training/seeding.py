"""Seeds: python, numpy and torch from one integer, and per-epoch streams for resume.

Every epoch reseeds from (seed, epoch), so a run resumed at epoch e draws the same batch
order, dropout masks and augmentations as an uninterrupted one, without saving RNG states.
"""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (libraries may draw from the global RNG)
    torch.manual_seed(seed)


def epoch_seed(seed: int, epoch: int, stream: int = 0) -> int:
    """A distinct, reproducible 63-bit seed per (run seed, epoch, stream)."""
    return int(np.random.SeedSequence([seed, epoch, stream]).generate_state(1, np.uint64)[0]
               >> np.uint64(1))
