"""Train / validation / test indices. Validation is carved from the training side only.

Model selection uses validation; the test indices are returned for the final report and
nothing in training reads them (``tests/test_training.py`` checks this).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crosskd.data.fused_h5 import FusedData
from crosskd.errors import ConfigError

VAL_GROUPS = ("clip", "subject")


@dataclass(frozen=True)
class Split:
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def __post_init__(self) -> None:
        sets = [set(self.train.tolist()), set(self.val.tolist()), set(self.test.tolist())]
        if sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2]:
            raise ValueError("train, validation and test indices overlap")


def make_split(data: FusedData, protocol: str, *, val_fraction: float, val_group: str,
               seed: int) -> Split:
    """Split by ``protocol``; hold out ``val_fraction`` of the training side.

    ``val_group="clip"``: a class-stratified random fraction of training clips;
    ``"subject"``: whole training subjects (at least one), for cross-subject selection.
    """
    if protocol not in data.splits:
        raise ConfigError(f"params.yaml: protocol {protocol!r} is not in the fused file "
                          f"(has {sorted(data.splits)})")
    if not 0.0 < val_fraction < 1.0:
        raise ConfigError(f"params.yaml: validation fraction must be in (0, 1), got {val_fraction}")
    if val_group not in VAL_GROUPS:
        raise ConfigError(f"params.yaml: validation group must be one of {VAL_GROUPS}")
    train_mask = data.splits[protocol]
    pool = np.flatnonzero(train_mask)
    test = np.flatnonzero(~train_mask)
    rng = np.random.default_rng([seed, 7919])
    if val_group == "subject":
        subjects = np.unique(data.subject[pool])
        if len(subjects) < 2:
            raise ConfigError("validation by subject needs at least two training subjects")
        k = min(len(subjects) - 1, max(1, round(val_fraction * len(subjects))))
        held = rng.choice(subjects, size=k, replace=False)
        val = pool[np.isin(data.subject[pool], held)]
    else:
        val_parts = []
        for c in np.unique(data.label[pool]):
            members = pool[data.label[pool] == c]
            k = int(round(val_fraction * len(members)))
            if len(members) > 1:
                k = min(max(k, 1), len(members) - 1)
                val_parts.append(rng.choice(members, size=k, replace=False))
        val = np.sort(np.concatenate(val_parts)) if val_parts else np.array([], dtype=int)
    if len(val) == 0:
        raise ConfigError(f"params.yaml: train.validation.fraction {val_fraction} leaves no "
                          "validation clips; raise it")
    train = np.setdiff1d(pool, val)
    return Split(train=train, val=np.sort(val), test=test)
