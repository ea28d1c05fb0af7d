"""The datasets the pipeline knows: reader, generator, protocols and official downloads."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crosskd.data.sample import Sample
from crosskd.data.utd_mhad import UTD_MHAD_ACTIONS, ReadReport, read_utd_mhad
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


def _generate_utd(out_dir: Path, **kwargs) -> int:
    # Imported lazily: the generator is only needed for the synthetic source.
    from crosskd.data.synthetic.utd import generate_utd_mhad

    return generate_utd_mhad(out_dir, **kwargs)


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
)

DATASETS: dict[str, DatasetSpec] = {UTD_MHAD.name: UTD_MHAD}


def get_dataset(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise ConfigError(
            f"params.yaml: unknown dataset {name!r} (data.dataset); known: {sorted(DATASETS)}"
        ) from None


__all__ = ["DATASETS", "DatasetSpec", "Protocol", "ReadReport", "get_dataset"]
