"""The in-memory record every dataset reader yields, whatever the on-disk format."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from crosskd.errors import DataError

log = logging.getLogger(__name__)

BAD_CLIP_POLICIES = ("error", "skip")


def add_clip_file(found: dict[Any, Path], key: Any, path: Path, clip: str,
                  twins: dict[Any, tuple[Path, str]] | None = None) -> None:
    """Index ``path`` as clip ``key``. A second file for one clip (``a01_s1`` beside
    ``a1_s1``, ``Walking.csv`` beside ``walking.csv``) is never a silent pick: it raises a
    DataError naming both or, with ``twins``, is recorded there as (path, problem) for the
    reader to report under its ``on_bad_clip`` policy, for the actions it reads only."""
    if key not in found:
        found[key] = path
        return
    problem = f"names the same clip ({clip}) as {found[key]}; keep one"
    if twins is None:
        raise DataError(path, problem)
    twins.setdefault(key, (path, problem))


@dataclass
class Sample:
    """One paired clip: wearable inertial signals and the skeleton of the same action.

    Arrays are float64, time first. ``skeleton`` is (T, V, 3) in metres, joints ordered as
    the named ``layout`` (see :mod:`crosskd.data.layouts`). ``acc`` is (N, 3) in g and
    ``gyro`` (N, 3) in deg/s (or None where the dataset has none), both on one clock at
    ``inertial_rate`` Hz. The two streams cover the same action but do not share a clock.
    """

    dataset: str
    sample_id: str  # unique within the dataset, e.g. "a1_s1_t1"
    action: int  # the dataset's own 1-based action number
    action_name: str
    subject: int
    trial: int
    acc: np.ndarray
    inertial_rate: float
    skeleton: np.ndarray
    skeleton_rate: float
    layout: str
    gyro: np.ndarray | None = None

    @property
    def duration_inertial(self) -> float:
        return len(self.acc) / self.inertial_rate

    @property
    def duration_skeleton(self) -> float:
        return len(self.skeleton) / self.skeleton_rate


@dataclass
class ReadReport:
    """What a read saw: how many clips it yielded and every clip it skipped, with the reason."""

    read: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)

    def bad(self, path: str | Path | None, problem: str, on_bad_clip: str) -> None:
        """A bad or unpaired clip: raise (policy "error") or log and count the skip."""
        if on_bad_clip not in BAD_CLIP_POLICIES:
            raise ValueError(f"on_bad_clip must be one of {BAD_CLIP_POLICIES}, "
                             f"got {on_bad_clip!r}")
        if on_bad_clip == "error":
            raise DataError(path, problem)
        log.warning("skipping %s: %s", path, problem)
        self.skipped.append((str(path), problem))
