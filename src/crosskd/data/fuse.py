"""The fuse step: raw paired clips -> one fused HDF5 file (schema in crosskd.data.fused_h5)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from crosskd.config import boolean, choice, get, positive_int
from crosskd.data.datasets import ReadReport, get_dataset
from crosskd.data.fetch import resolve_actions
from crosskd.data.fused_h5 import INERTIAL_CHANNELS, FusedData, write_fused
from crosskd.data.layouts import get_layout
from crosskd.data.normalize import CENTER_MODES, normalize_skeleton
from crosskd.data.resample import resample_time
from crosskd.data.sample import Sample
from crosskd.errors import DataError
from crosskd.progress import progress

log = logging.getLogger(__name__)


def fuse_samples(
    samples: list[Sample], *, skeleton_frames: int, inertial_steps: int, center: str,
    rotate: bool,
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Resample and normalise each clip -> skeleton (N, 3, T, V), inertial (N, T_i, 6)."""
    skel_out, iner_out = [], []
    has_gyro = all(s.gyro is not None for s in samples)
    for s in progress(samples, desc="fuse", unit="clip"):
        layout = get_layout(s.layout)
        skel = normalize_skeleton(s.skeleton, layout, center=center, rotate=rotate)
        skel = resample_time(skel, skeleton_frames, axis=0)  # (T, V, 3)
        skel_out.append(skel.transpose(2, 0, 1))  # (3, T, V)
        gyro = s.gyro if s.gyro is not None else np.zeros_like(s.acc)
        iner_out.append(resample_time(np.concatenate([s.acc, gyro], axis=1), inertial_steps))
    return np.stack(skel_out), np.stack(iner_out), has_gyro


def reader_options(spec: Any, params: dict[str, Any],
                   skeleton_dir: str | Path | None) -> dict[str, Any]:
    """Dataset-specific reader arguments: the worn sensor, and where extracted skeletons are."""
    options: dict[str, Any] = {}
    sensor = spec.sensor(get(params, "data.sensor", None))
    if sensor is not None:
        options["sensor"] = sensor
    if spec.skeletons_from_video:
        if skeleton_dir is None:
            raise DataError(None, f"{spec.name} has no skeletons in its release: run the "
                            "skeletons stage and pass its folder")
        options.update(skeleton_dir=skeleton_dir, camera=get(params, "skeletons.camera"))
    return options


def fuse_dataset(params: dict[str, Any], raw_root: str | Path, out_path: str | Path,
                 skeleton_dir: str | Path | None = None) -> FusedData:
    """Read ``raw_root`` as params say, fuse every clip, write ``out_path``."""
    spec = get_dataset(get(params, "data.dataset"))
    actions = resolve_actions(spec, get(params, "data.actions"))
    on_bad = choice(params, "fuse.on_bad_clip", ("error", "skip"))
    center = choice(params, "fuse.center", CENTER_MODES)
    rotate = boolean(params, "fuse.rotate")
    # Resampling keeps both ends of a clip, so it needs two steps at least.
    t_s = positive_int(params, "fuse.skeleton_frames", low=2)
    t_i = positive_int(params, "fuse.inertial_steps", low=2)

    report = ReadReport()
    samples = list(spec.read(raw_root, actions, on_bad_clip=on_bad, report=report,
                             **reader_options(spec, params, skeleton_dir)))
    if not samples:
        raise DataError(raw_root, f"no usable clips for actions {actions}")
    present = {s.action for s in samples}
    absent = [a for a in actions if a not in present]
    if absent:
        raise DataError(raw_root, f"no clips for actions {absent}: set data.actions to the "
                        "actions the data has")
    if report.skipped:
        log.warning("skipped %d clip(s); reasons are in the file's 'skipped' attribute",
                    len(report.skipped))

    skeleton, inertial, has_gyro = fuse_samples(
        samples, skeleton_frames=t_s, inertial_steps=t_i, center=center, rotate=rotate
    )
    label_of = {a: i for i, a in enumerate(actions)}  # class order = action number order
    subjects = np.array([s.subject for s in samples])
    trials = np.array([s.trial for s in samples])
    data = FusedData(
        skeleton=skeleton,
        inertial=inertial,
        label=np.array([label_of[s.action] for s in samples]),
        action=np.array([s.action for s in samples]),
        subject=subjects,
        trial=trials,
        sample_id=np.array([s.sample_id for s in samples]),
        class_names=[spec.class_names[a - 1] for a in actions],
        splits=spec.split_masks(subjects, trials),
        attrs={
            "dataset": spec.name,
            "source": get(params, "fetch.source"),
            "layout": samples[0].layout,
            "inertial_channels": list(INERTIAL_CHANNELS),
            "has_gyro": has_gyro,
            "params": {"data": get(params, "data"), "fuse": get(params, "fuse")},
            "skipped": [list(x) for x in report.skipped],
            "protocols": {p.name: p.description for p in spec.protocols},
            "default_protocol": spec.protocols[0].name,
        },
    )
    write_fused(out_path, data, {
        "skeleton_length": np.array([len(s.skeleton) for s in samples]),
        "inertial_length": np.array([len(s.acc) for s in samples]),
        "inertial_seconds": np.array([s.duration_inertial for s in samples], dtype=np.float64),
    })
    log.info("fused %d clips of %d classes into %s", len(data), data.num_classes, out_path)
    return data
