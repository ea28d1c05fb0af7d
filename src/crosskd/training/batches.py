"""Paired in-memory batches: every modality of a clip travels in the same batch.

One index array drives all modalities, so a teacher and the student always see the same
clips in the same order (the public reference code zipped two independently shuffled
loaders: defect 1 in REFERENCE.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

Augment = Callable[[np.ndarray, np.random.Generator], np.ndarray]


@dataclass
class PairedArrays:
    """Modalities (name -> (N, ...) array), labels (N,) and sample ids (N,)."""

    arrays: dict[str, np.ndarray]
    labels: np.ndarray
    sample_ids: np.ndarray
    augment: dict[str, Augment] = field(default_factory=dict)  # train-time only
    device: torch.device | str = "cpu"  # where "y" and the modalities go; "idx" stays on CPU

    def __post_init__(self) -> None:
        n = len(self.labels)
        for name, arr in self.arrays.items():
            if len(arr) != n:
                raise ValueError(f"modality {name!r} has {len(arr)} rows, labels have {n}")

    def batches(self, indices: np.ndarray, batch_size: int, *, shuffle: bool = False,
                seed: int | None = None, train: bool = False) -> Iterator[dict[str, torch.Tensor]]:
        """Yield dict batches {"idx", "y", <modality>...}; shuffled from ``seed`` if asked.
        Augmentation runs on the CPU (numpy) before the batch moves to ``device``."""
        order = np.asarray(indices)
        rng = np.random.default_rng(seed)
        if shuffle:
            order = order[rng.permutation(len(order))]
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            if train and len(idx) == 1 and len(order) > 1:
                continue  # BatchNorm cannot train on a single sample
            batch = {"idx": torch.as_tensor(idx),
                     "y": torch.as_tensor(self.labels[idx], device=self.device)}
            for name, arr in self.arrays.items():
                x = arr[idx]
                if train and name in self.augment:
                    x = self.augment[name](x, rng)
                batch[name] = torch.as_tensor(np.ascontiguousarray(x), dtype=torch.float32,
                                              device=self.device)
            yield batch
