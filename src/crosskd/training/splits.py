"""Train / validation / test indices. Validation is carved from the training side only.

Model selection uses validation; the test indices are returned for the final report and
nothing in training reads them (``tests/test_training.py`` checks this).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crosskd.config import number
from crosskd.data.fused_h5 import FusedData
from crosskd.errors import ConfigError, DataError

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
               seed: int, fold: int | None = None) -> Split:
    """Split by ``protocol``; hold out ``val_fraction`` of the training side.

    ``val_fraction=0``: no validation split; the whole training side trains (a refit with
    settings chosen beforehand; the loop then keeps the last epoch, ``select: last``).
    ``val_group="clip"``: a class-stratified random fraction of training clips;
    ``"subject"``: whole training subjects (at least one), for cross-subject selection.
    With ``"subject"``, ``fold=i`` holds out the i-th block of the sorted training subjects
    (blocks of the same size) instead of a seed-chosen set, so that runs over every fold
    hold out every training subject once (nested, test-free tuning; BENCHMARKS.md).
    """
    if protocol not in data.splits:
        raise ConfigError(f"params.yaml: protocol {protocol!r} is not in the fused file "
                          f"(has {sorted(data.splits)})")
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"params.yaml: validation fraction must be in [0, 1), got {val_fraction}")
    if val_group not in VAL_GROUPS:
        raise ConfigError(f"params.yaml: validation group must be one of {VAL_GROUPS}")
    train_mask = data.splits[protocol]
    pool = np.flatnonzero(train_mask)
    test = np.flatnonzero(~train_mask)
    for side, idx in (("training", pool), ("test", test)):
        if len(idx) == 0:  # e.g. fuse.on_bad_clip: skip dropped every clip of one side
            raise DataError(data.path, f"the {protocol} split has no {side} clips "
                            f"(of {len(train_mask)}): fuse more subjects or trials, or choose "
                            "another train.protocol")
    if val_fraction == 0.0:
        if fold is not None:
            raise ConfigError("params.yaml: train.validation.fold needs a validation split "
                              "(train.validation.fraction > 0)")
        return Split(train=pool, val=np.array([], dtype=int), test=test)
    rng = np.random.default_rng([seed, 7919])
    if val_group == "subject":
        subjects = np.unique(data.subject[pool])
        if len(subjects) < 2:
            raise ConfigError("validation by subject needs at least two training subjects")
        k = _block_size(len(subjects), val_fraction)
        if fold is None:
            held = rng.choice(subjects, size=k, replace=False)
        else:
            held = _fold_subjects(subjects, k, fold)
        val = pool[np.isin(data.subject[pool], held)]
    else:
        if fold is not None:
            raise ConfigError("params.yaml: train.validation.fold needs "
                              "train.validation.group: subject")
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


def subject_folds(data: FusedData, protocol: str, val_fraction: float) -> int:
    """How many ``fold`` values ``make_split`` accepts for subject validation."""
    n = len(np.unique(data.subject[data.splits[protocol]]))
    return n // _block_size(n, val_fraction)


def _block_size(n_subjects: int, val_fraction: float) -> int:
    """Subjects held out for validation: the fraction, rounded, at least one, not all."""
    return min(n_subjects - 1, max(1, round(val_fraction * n_subjects)))


def _fold_subjects(subjects: np.ndarray, k: int, fold: int) -> np.ndarray:
    folds = len(subjects) // k  # a remainder of subjects always stays in training
    if not 0 <= fold < folds:
        raise ConfigError(f"params.yaml: train.validation.fold {fold} is out of range: "
                          f"{len(subjects)} training subjects in blocks of {k} give folds "
                          f"0..{folds - 1}")
    return np.sort(subjects)[fold * k:(fold + 1) * k]


def split_from_params(params: dict, data: FusedData, protocol: str, seed: int) -> Split:
    """``make_split`` with the ``train.validation`` settings of params.yaml."""
    val = params["train"]["validation"]
    fraction = number(params, "train.validation.fraction")
    if fraction == 0.0 and val.get("select", "best") != "last":
        # Caught here, before any data or model is built, not only in the training loop.
        raise ConfigError("params.yaml: train.validation.fraction 0 leaves no validation "
                          "split: set train.validation.select: last to keep the last epoch")
    fold = val.get("fold")
    if fold is not None and (isinstance(fold, bool) or not isinstance(fold, int)):
        raise ConfigError(f"params.yaml: train.validation.fold must be null or an integer, "
                          f"got {fold!r}")
    return make_split(data, protocol, val_fraction=fraction,
                      val_group=val["group"], seed=seed, fold=fold)
