"""Reader for the official UTD-MHAD release (inertial + skeleton .mat files).

Layout: ``Inertial/aA_sS_tT_inertial.mat`` (``d_iner``: (N, 6) float64, acc xyz [g] then
gyro xyz [deg/s], ~50 Hz) and ``Skeleton/aA_sS_tT_skeleton.mat`` (``d_skel``: (20, 3, T),
Kinect v1, ~30 Hz). The built-in synthetic dataset writes the same files, so this one
reader serves both. Class order is the action number, never a sorted file name
(sorting gives a1, a10, a11, ..., a2: defect 6 of the public reference code). The official
release wore the sensor on the right wrist for a1-a21 and on the right thigh for a22-a27;
the synthetic stand-in wears it on the right wrist throughout (its SOURCE.txt says so).
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import scipy.io

from crosskd.data.sample import ReadReport, Sample, add_clip_file
from crosskd.errors import DataError

log = logging.getLogger(__name__)

UTD_MHAD_ACTIONS: tuple[str, ...] = (
    "swipe_left", "swipe_right", "wave", "clap", "throw", "arm_cross", "basketball_shoot",
    "draw_x", "draw_circle_cw", "draw_circle_ccw", "draw_triangle", "bowling", "boxing",
    "baseball_swing", "tennis_swing", "arm_curl", "tennis_serve", "push", "knock", "catch",
    "pickup_throw", "jog", "walk", "sit2stand", "stand2sit", "lunge", "squat",
)
INERTIAL_RATE_HZ = 50.0
SKELETON_RATE_HZ = 30.0
NUM_JOINTS = 20
_NAME = re.compile(r"^a(\d+)_s(\d+)_t(\d+)_(inertial|skeleton)\.mat$")


def _load_var(path: Path, var: str) -> np.ndarray:
    try:
        mat = scipy.io.loadmat(str(path), variable_names=[var])
    except FileNotFoundError:
        raise DataError(path, "file is missing") from None
    except Exception as exc:  # scipy raises ValueError, TypeError, OSError... for bad files
        problem = f"corrupt or truncated MAT file ({type(exc).__name__}: {exc})"
        raise DataError(path, problem) from exc
    if var not in mat:
        found = sorted(k for k in mat if not k.startswith("__"))
        raise DataError(path, f"has no variable {var!r} (found {found or 'none'})")
    arr = np.asarray(mat[var])
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise DataError(path, f"{var} has non-real dtype {arr.dtype}")
    return arr.astype(np.float64, copy=False)


def _check_finite(path: Path, var: str, arr: np.ndarray) -> None:
    if arr.size == 0 or 0 in arr.shape:
        raise DataError(path, f"{var} is empty (shape {arr.shape})")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise DataError(path, f"{var} has {int(bad.sum())} NaN/inf values")


def load_inertial(path: Path) -> np.ndarray:
    """(N, 6) acc [g] + gyro [deg/s]."""
    arr = _load_var(path, "d_iner")
    if arr.ndim != 2 or arr.shape[1] != 6:
        raise DataError(path, f"d_iner must be (N, 6), got {arr.shape}")
    _check_finite(path, "d_iner", arr)
    if arr.shape[0] < 2:
        raise DataError(path, f"d_iner has {arr.shape[0]} sample(s); at least 2 are needed")
    return arr


def load_skeleton(path: Path) -> np.ndarray:
    """(T, 20, 3) joint positions [m] (the file stores (20, 3, T))."""
    arr = _load_var(path, "d_skel")
    if arr.ndim == 2 and arr.shape == (NUM_JOINTS, 3):
        arr = arr[:, :, None]  # a one-frame clip loses its last axis in MATLAB
    if arr.ndim != 3 or arr.shape[:2] != (NUM_JOINTS, 3):
        raise DataError(path, f"d_skel must be ({NUM_JOINTS}, 3, T), got {arr.shape}")
    _check_finite(path, "d_skel", arr)
    if arr.shape[2] < 2:
        raise DataError(path, f"d_skel has {arr.shape[2]} frame(s); at least 2 are needed")
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


def _index(folder: Path, kind: str, twins: dict) -> dict[tuple[int, int, int], Path]:
    found: dict[tuple[int, int, int], Path] = {}
    for p in sorted(folder.glob(f"*_{kind}.mat")):
        m = _NAME.match(p.name)
        if m:
            key = (int(m[1]), int(m[2]), int(m[3]))
            add_clip_file(found, key, p, f"a{key[0]}_s{key[1]}_t{key[2]}", twins)
    return found


def read_utd_mhad(
    root: str | Path,
    actions: list[int] | None = None,
    *,
    on_bad_clip: str = "error",
    dataset: str = "utd_mhad",
    report: ReadReport | None = None,
) -> Iterator[Sample]:
    """Yield the paired samples under ``root`` in (action, subject, trial) order.

    ``actions``: 1-based action numbers to read (None: all 27). ``on_bad_clip``: "error"
    raises on the first bad or unpaired file; "skip" logs it, counts it in ``report`` and
    goes on.
    """
    if on_bad_clip not in ("error", "skip"):
        raise ValueError(f"on_bad_clip must be 'error' or 'skip', got {on_bad_clip!r}")
    root = Path(root)
    iner_dir, skel_dir = root / "Inertial", root / "Skeleton"
    for d in (iner_dir, skel_dir):
        if not d.is_dir():
            raise DataError(d, "folder is missing: is this a UTD-MHAD release?")
    wanted = set(range(1, len(UTD_MHAD_ACTIONS) + 1)) if actions is None else set(actions)
    unknown = sorted(a for a in wanted if not 1 <= a <= len(UTD_MHAD_ACTIONS))
    if unknown:
        raise DataError(root, f"unknown UTD-MHAD action numbers {unknown} (valid: 1-27)")
    twins: dict = {}
    iner, skel = _index(iner_dir, "inertial", twins), _index(skel_dir, "skeleton", twins)
    report = report if report is not None else ReadReport()

    bad = functools.partial(report.bad, on_bad_clip=on_bad_clip)

    for key in sorted(set(iner) | set(skel)):
        a, s, t = key
        if a not in wanted:
            continue
        if key in twins:
            bad(*twins[key])
            continue
        if key not in skel:
            bad(iner[key], f"partner file Skeleton/a{a}_s{s}_t{t}_skeleton.mat is missing")
            continue
        if key not in iner:
            bad(skel[key], f"partner file Inertial/a{a}_s{s}_t{t}_inertial.mat is missing")
            continue
        try:
            d_iner = load_inertial(iner[key])
            d_skel = load_skeleton(skel[key])
        except DataError as exc:
            bad(exc.path or root, exc.problem)
            continue
        report.read += 1
        yield Sample(
            dataset=dataset,
            sample_id=f"a{a}_s{s}_t{t}",
            action=a,
            action_name=UTD_MHAD_ACTIONS[a - 1],
            subject=s,
            trial=t,
            acc=d_iner[:, :3],
            gyro=d_iner[:, 3:],
            inertial_rate=INERTIAL_RATE_HZ,
            skeleton=d_skel,
            skeleton_rate=SKELETON_RATE_HZ,
            layout="kinect_v1",
        )
