"""The fused HDF5 file: one per dataset, the hand-off from raw data to every model.

Schema (version 1); N clips, in (action, subject, trial) order:

==========================  ==================  =========================================
dataset                     shape / dtype       meaning
==========================  ==================  =========================================
skeleton                    (N, 3, T, V) f4     normalised joints [m]; C = x, y, z
inertial                    (N, T_i, 6) f4      acc xyz [g], gyro xyz [deg/s] (zeros and
                                                attr has_gyro=False where absent)
label                       (N,) i8             0-based class index into class_names
action                      (N,) i8             the dataset's own 1-based action number
subject, trial              (N,) i8
sample_id                   (N,) str            e.g. "a1_s1_t1"; pairs every modality
class_names                 (K,) str            class_names[label]
skeleton_length,            (N,) i8             frames / samples before resampling
inertial_length
inertial_seconds            (N,) f8             clip duration of the inertial stream [s]
                                                (gives a deployed model its sampling rate)
splits/<protocol>/train     (N,) bool           e.g. cross_subject, trial_split
splits/<protocol>/test      (N,) bool           the complement of train
==========================  ==================  =========================================

Root attributes: schema_version, dataset, source, layout, inertial_channels (JSON),
has_gyro, params (JSON of the fetch/fuse params that made it), skipped (JSON list of
[file, reason]), protocols (JSON name -> description), default_protocol (the dataset's
standard protocol, what ``train.protocol: default`` means).
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from crosskd.atomic import atomic_path
from crosskd.data.h5read import decode_strings, open_h5
from crosskd.errors import ConfigError, DataError

SCHEMA_VERSION = 1
_MISSING = "fused HDF5 file is missing (run the fuse stage)"
INERTIAL_CHANNELS = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")
_STR = h5py.string_dtype("utf-8")


@dataclass
class FusedData:
    skeleton: np.ndarray
    inertial: np.ndarray
    label: np.ndarray
    action: np.ndarray
    subject: np.ndarray
    trial: np.ndarray
    sample_id: np.ndarray
    class_names: list[str]
    splits: dict[str, np.ndarray]  # protocol -> train mask
    attrs: dict[str, Any]
    path: Path | None = None  # the file it was read from, for errors that name it

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def layout(self) -> str:
        return str(self.attrs["layout"])

    def __len__(self) -> int:
        return len(self.label)

    def protocol(self, name: str) -> str:
        """``train.protocol`` resolved against this file: ``default`` is the dataset's standard
        protocol; any other name must be one of the file's splits."""
        return _resolve_protocol(name, self.attrs.get("default_protocol"), self.splits,
                                 self.path)


def _resolve_protocol(name: str, default: object, splits: Collection[str],
                      path: Path | None) -> str:
    if name == "default":
        if default is None:
            raise DataError(path, "names no default_protocol (an older fuse made it): "
                            "re-run the fuse stage")
        name = str(default)
    if name not in splits:
        raise ConfigError(f"params.yaml: train.protocol {name!r} is not a split of the fused "
                          f"data (it has {sorted(splits)})")
    return name


def read_protocol(path: str | Path, name: str) -> str:
    """``FusedData.protocol`` from the file's attributes and split names alone (no arrays)."""
    path = Path(path)
    with open_h5(path, _MISSING) as f:
        if "splits" not in f:
            raise DataError(path, "missing datasets ['splits']")
        return _resolve_protocol(name, f.attrs.get("default_protocol"), list(f["splits"]),
                                 path)


def write_fused(path: str | Path, data: FusedData, lengths: dict[str, np.ndarray]) -> None:
    """Write ``data`` to ``path`` atomically; same inputs give the same bytes."""
    n = len(data)
    _check_consistent(path, data)
    with atomic_path(path) as tmp:
        # track_times=False and a fixed attribute order keep the file byte-reproducible,
        # so an unchanged re-run does not look like a new version to DVC.
        with h5py.File(tmp, "w", track_order=True) as f:
            def put(name: str, arr: np.ndarray, **kw: Any) -> None:
                f.create_dataset(name, data=arr, track_times=False, **kw)

            put("skeleton", data.skeleton.astype(np.float32), chunks=(1, *data.skeleton.shape[1:]))
            put("inertial", data.inertial.astype(np.float32), chunks=(1, *data.inertial.shape[1:]))
            for key in ("label", "action", "subject", "trial"):
                put(key, getattr(data, key).astype(np.int64))
            put("sample_id", np.asarray(data.sample_id, dtype=object), dtype=_STR)
            put("class_names", np.asarray(data.class_names, dtype=object), dtype=_STR)
            for key, arr in lengths.items():
                arr = np.asarray(arr)
                put(key, arr.astype(np.int64 if arr.dtype.kind in "iub" else np.float64))
            for proto, train in data.splits.items():
                put(f"splits/{proto}/train", train.astype(bool))
                put(f"splits/{proto}/test", ~train.astype(bool))
            f.attrs["schema_version"] = SCHEMA_VERSION
            f.attrs["num_samples"] = n
            for key, value in data.attrs.items():
                f.attrs[key] = value if isinstance(value, str | int | float | bool) else json.dumps(
                    value, sort_keys=True
                )


def read_clip_spans(path: str | Path) -> np.ndarray:
    """Per-clip time from the first to the last inertial sample [s], validated.

    That span, not ``inertial_seconds`` (n samples / rate), is what a model's ``window``
    steps cover: resampling keeps both ends of a clip.
    """
    path = Path(path)
    with open_h5(path, _MISSING) as f:
        if "inertial_seconds" not in f or "inertial_length" not in f:
            raise DataError(path, "no inertial_seconds or inertial_length dataset (written by "
                            "an older fuse stage): re-run the fuse stage")
        seconds, length = f["inertial_seconds"][()], f["inertial_length"][()]
    if (seconds.shape != length.shape or not np.all(np.isfinite(seconds))
            or np.any(seconds <= 0) or np.any(length < 2)):
        raise DataError(path, "inertial_seconds / inertial_length hold non-positive, "
                        "non-finite or mismatched values")
    return seconds * (length - 1) / length


def _check_consistent(path: str | Path, d: FusedData) -> None:
    n = len(d.label)
    shapes = {"skeleton": d.skeleton.shape, "inertial": d.inertial.shape}
    if d.skeleton.ndim != 4 or d.skeleton.shape[1] != 3:
        raise DataError(path, f"skeleton must be (N, 3, T, V), got {shapes['skeleton']}")
    if d.inertial.ndim != 3 or d.inertial.shape[2] != 6:
        raise DataError(path, f"inertial must be (N, T_i, 6), got {shapes['inertial']}")
    for name in ("skeleton", "inertial", "action", "subject", "trial", "sample_id"):
        if len(getattr(d, name)) != n:
            raise DataError(path, f"{name} has {len(getattr(d, name))} rows, label has {n}")
    if n and (d.label.min() < 0 or d.label.max() >= len(d.class_names)):
        raise DataError(path, "labels fall outside class_names")
    # fuse never writes NaN/inf (its readers reject them), so one here means a damaged file;
    # training would stop on a NaN loss, but evaluation would quietly score a wrong answer.
    for name in ("skeleton", "inertial"):
        values = getattr(d, name)
        bad = ~np.isfinite(values.reshape(n, -1)).all(axis=1) if n else np.zeros(0, bool)
        if bad.any():
            ids = [str(i) for i in d.sample_id[bad][:5]]
            raise DataError(path, f"{name} has NaN/inf values in {int(bad.sum())} clip(s), "
                            f"e.g. {ids}; re-run the fuse stage (dvc repro -f fuse)")


def read_fused(path: str | Path) -> FusedData:
    """Load and validate a fused file; a missing, truncated or foreign file names itself."""
    path = Path(path)
    with open_h5(path, _MISSING) as f:
        version = f.attrs.get("schema_version")
        if version != SCHEMA_VERSION:
            raise DataError(path, f"schema_version {version!r}, expected {SCHEMA_VERSION}")
        missing = [k for k in ("skeleton", "inertial", "label", "action", "subject", "trial",
                               "sample_id", "class_names", "splits") if k not in f]
        if missing:
            raise DataError(path, f"missing datasets {missing}")
        attrs = {}
        for k, v in f.attrs.items():
            if isinstance(v, str) and v[:1] in "[{":
                v = json.loads(v)
            attrs[k] = v.item() if isinstance(v, np.generic) else v
        data = FusedData(
            skeleton=f["skeleton"][()],
            inertial=f["inertial"][()],
            label=f["label"][()],
            action=f["action"][()],
            subject=f["subject"][()],
            trial=f["trial"][()],
            sample_id=np.array(decode_strings(f["sample_id"][()])),
            class_names=decode_strings(f["class_names"][()]),
            splits={p: f[f"splits/{p}/train"][()] for p in f["splits"]},
            attrs=attrs,
            path=path,
        )
    _check_consistent(path, data)
    return data
