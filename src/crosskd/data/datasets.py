"""The datasets the pipeline knows: reader, generator, protocols, sensors, official downloads."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crosskd.data.berkeley_mhad import (
    BERKELEY_ACTIONS,
    SENSOR_CHOICES,
    is_train_subject,
    read_berkeley_mhad,
)
from crosskd.data.mmact import ACC_SENSORS, MMACT_ACTIONS, TRAIN_SUBJECTS, read_mmact
from crosskd.data.sample import ReadReport, Sample
from crosskd.data.utd_mhad import UTD_MHAD_ACTIONS, read_utd_mhad
from crosskd.errors import ConfigError


@dataclass(frozen=True)
class Protocol:
    """A train/test split; ``is_train(subject, trial)`` decides each clip."""

    name: str
    description: str
    is_train: Callable[[int, int], bool]


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    class_names: tuple[str, ...]  # index i is action number i + 1
    layout: str
    root_markers: tuple[str, ...]  # folders that identify the dataset's root after extraction
    read: Callable[..., Iterator[Sample]]
    generate: Callable[..., int]  # writes the synthetic stand-in in the official format
    protocols: tuple[Protocol, ...]
    official_urls: tuple[str, ...]
    default_actions: tuple[int, ...] | None = None  # `data.actions: default`; None = all
    sensors: tuple[str, ...] = ()  # choices of `data.sensor` (first = default); () = fixed
    skeletons_from_video: bool = False  # no skeletons ship: the skeletons stage makes them

    def protocol(self, name: str) -> Protocol:
        for p in self.protocols:
            if p.name == name:
                return p
        raise ConfigError(
            f"params.yaml: unknown protocol {name!r} for {self.name}; "
            f"known: {[p.name for p in self.protocols]}"
        )

    def split_masks(self, subjects: np.ndarray, trials: np.ndarray) -> dict[str, np.ndarray]:
        """Protocol name -> boolean train mask."""
        pairs = list(zip(subjects.tolist(), trials.tolist(), strict=True))
        return {p.name: np.array([p.is_train(s, t) for s, t in pairs]) for p in self.protocols}

    def sensor(self, choice: str | None) -> str | None:
        """The worn sensor the student reads (``data.sensor``; None: the dataset's default)."""
        if not self.sensors:
            if choice not in (None, "default"):
                raise ConfigError(f"params.yaml: {self.name} has one fixed sensor; "
                                  f"data.sensor must be default, got {choice!r}")
            return None
        if choice in (None, "default"):
            return self.sensors[0]
        if choice not in self.sensors:
            raise ConfigError(f"params.yaml: data.sensor {choice!r} is not one of "
                              f"{list(self.sensors)} for {self.name}")
        return choice


def _generate_utd(out_dir: Path, **kwargs) -> int:
    # Generators are imported lazily: only the synthetic source needs them.
    from crosskd.data.synthetic.utd import generate_utd_mhad

    return generate_utd_mhad(out_dir, **kwargs)


def _generate_mmact(out_dir: Path, **kwargs) -> int:
    from crosskd.data.synthetic.mmact import generate_mmact

    return generate_mmact(out_dir, **kwargs)


UTD_MHAD = DatasetSpec(
    name="utd_mhad",
    class_names=UTD_MHAD_ACTIONS,
    layout="kinect_v1",
    root_markers=("Inertial", "Skeleton"),
    read=read_utd_mhad,
    generate=_generate_utd,
    protocols=(
        Protocol("cross_subject", "odd subjects train, even subjects test",
                 lambda s, t: s % 2 == 1),
        Protocol("trial_split", "trials 1-2 train, trials 3-4 test", lambda s, t: t in (1, 2)),
    ),
    # The official page (https://personal.utdallas.edu/~kehtar/UTD-MHAD.html) serves one zip
    # per modality; no digests are published, so only params can supply sha256 values.
    official_urls=(
        "https://www.utdallas.edu/~kehtar/UTD-MAD/Inertial.zip",
        "https://www.utdallas.edu/~kehtar/UTD-MAD/Skeleton.zip",
    ),
    # A small default: arm gestures plus leg actions the wrist barely sees.
    default_actions=(1, 2, 3, 4, 9, 10, 22, 23, 26, 27),
)

MMACT = DatasetSpec(
    name="mmact",
    class_names=MMACT_ACTIONS,
    layout="mediapipe_pose33",
    root_markers=("acc_watch_clip", "gyro_clip", "RGB"),
    read=read_mmact,
    generate=_generate_mmact,
    protocols=(
        Protocol("cross_subject", "subjects 1-16 train, subjects 17-20 test",
                 lambda s, t: s in TRAIN_SUBJECTS),
    ),
    # Data by request (https://mmact19.github.io/2019/): nothing to download.
    official_urls=(),
    default_actions=(1, 2, 3, 4, 5, 6),
    sensors=("acc_watch", *(s for s in ACC_SENSORS if s != "acc_watch")),
    skeletons_from_video=True,
)

def _generate_berkeley(out_dir: Path, **kwargs) -> int:
    from crosskd.data.synthetic.berkeley import generate_berkeley_mhad

    return generate_berkeley_mhad(out_dir, **kwargs)


BERKELEY_MHAD = DatasetSpec(
    name="berkeley_mhad",
    class_names=BERKELEY_ACTIONS,
    layout="berkeley_mocap",
    root_markers=("Accelerometer", "Mocap"),
    read=read_berkeley_mhad,
    generate=_generate_berkeley,
    protocols=(
        Protocol("cross_subject", "subjects 1-7 train, subjects 8-12 test", is_train_subject),
    ),
    # https://tele-immersion.citris-uc.org/berkeley_mhad/ serves the release behind a form
    # and is often down; no stable archive URL or digest to pin here.
    official_urls=(),
    default_actions=None,  # all 11
    sensors=SENSOR_CHOICES,
)

DATASETS: dict[str, DatasetSpec] = {d.name: d for d in (UTD_MHAD, MMACT, BERKELEY_MHAD)}


def get_dataset(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise ConfigError(
            f"params.yaml: unknown dataset {name!r} (data.dataset); known: {sorted(DATASETS)}"
        ) from None


__all__ = ["DATASETS", "DatasetSpec", "Protocol", "ReadReport", "get_dataset"]
