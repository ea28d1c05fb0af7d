"""Reader for Berkeley-MHAD: mocap skeletons (BVH) paired with one wearable accelerometer.

Official page: https://tele-immersion.citris-uc.org/berkeley_mhad/ (often down; mirrors are
listed by other projects). 12 subjects, 11 actions, 5 repetitions (~660 clips). Files used:

* ``Mocap/SkeletalData/skl_sSS_aAA_rRR.bvh``: the skeleton fitted to the optical markers,
  BVH (:mod:`crosskd.data.bvh`), centimetres, y up, 480 Hz in the real release;
* ``Accelerometer/ShimmerHH/acc_hHH_sSS_aAA_rRR.txt``: one Shimmer per folder, whitespace
  separated ``ax ay az timestamp`` rows, acceleration in g (+-2 g range), timestamp in Unix
  seconds on the sensor's own clock, ~30 Hz.

Sensor placement. The release has six accelerometers on the wrists, hips and ankles; the
Shimmer number -> body location table could not be confirmed from a reachable source, so
:data:`SHIMMER_LOCATIONS` is an ASSUMPTION (h01 left wrist, h02 right wrist, h03 left hip,
h04 right hip, h05 left ankle, h06 right ankle). It is one table: correct it there if the
release's README says otherwise. (PSKD reports its Berkeley-MHAD result for the left wrist.)

The two streams share no clock, so each is taken over its own span: the skeleton rate is
1 / Frame Time, the accelerometer rate comes from its timestamps, and a clip whose two
durations disagree by more than ``max_duration_ratio`` is refused as a mismatched pair.
The layout (``berkeley_mocap``) is in :mod:`crosskd.data.layouts`, the dataset spec in
:mod:`crosskd.data.datasets`.
"""

from __future__ import annotations

import functools
import logging
import math
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from crosskd.data.bvh import forward_kinematics, read_bvh
from crosskd.data.sample import ReadReport, Sample, add_clip_file
from crosskd.errors import DataError

log = logging.getLogger(__name__)

BERKELEY_ACTIONS: tuple[str, ...] = (
    "jumping_in_place", "jumping_jacks", "bending", "punching", "waving_two_hands",
    "waving_one_hand", "clapping", "throwing", "sit_down_stand_up", "sit_down", "stand_up",
)
# ASSUMED Shimmer number -> location (see the module docstring).
SHIMMER_LOCATIONS: dict[int, str] = {
    1: "left_wrist", 2: "right_wrist", 3: "left_hip", 4: "right_hip", 5: "left_ankle",
    6: "right_ankle",
}
SENSORS: dict[str, int] = {loc: h for h, loc in SHIMMER_LOCATIONS.items()}
# `data.sensor` choices, the default first (PSKD reports the left wrist; the right wrist
# matches the UTD-MHAD student).
SENSOR_CHOICES = ("right_wrist", "left_wrist", "right_hip", "left_hip", "right_ankle",
                  "left_ankle")
MOCAP_UNIT_M = 0.01  # the release's BVH files are in centimetres
ACC_RANGE_G = 2.0
TRAIN_SUBJECTS = range(1, 8)  # the standard protocol: subjects 1-7 train, 8-12 test
LAYOUT_NAME = "berkeley_mocap"

# The release's skeleton, (joint, parent) in file (depth-first) order, as its skl_*.bvh files
# list them. The *Roll joints are twist joints half-way along a bone: they add no position
# information, so the layout leaves them out.
BERKELEY_BVH_HIERARCHY: tuple[tuple[str, str | None], ...] = (
    ("Hips", None), ("spine", "Hips"), ("spine1", "spine"), ("spine2", "spine1"),
    ("Neck", "spine2"), ("Head", "Neck"),
    ("RightShoulder", "spine2"), ("RightArm", "RightShoulder"), ("RightArmRoll", "RightArm"),
    ("RightForeArm", "RightArmRoll"), ("RightForeArmRoll", "RightForeArm"),
    ("RightHand", "RightForeArmRoll"),
    ("LeftShoulder", "spine2"), ("LeftArm", "LeftShoulder"), ("LeftArmRoll", "LeftArm"),
    ("LeftForeArm", "LeftArmRoll"), ("LeftForeArmRoll", "LeftForeArm"),
    ("LeftHand", "LeftForeArmRoll"),
    ("RightUpLeg", "Hips"), ("RightUpLegRoll", "RightUpLeg"), ("RightLeg", "RightUpLegRoll"),
    ("RightLegRoll", "RightLeg"), ("RightFoot", "RightLegRoll"), ("RightToeBase", "RightFoot"),
    ("LeftUpLeg", "Hips"), ("LeftUpLegRoll", "LeftUpLeg"), ("LeftLeg", "LeftUpLegRoll"),
    ("LeftLegRoll", "LeftLeg"), ("LeftFoot", "LeftLegRoll"), ("LeftToeBase", "LeftFoot"),
)
# Layout joint <- BVH joint, in layout order. BVH "RightShoulder" is the clavicle root and
# "RightArm" the shoulder (gleno-humeral) joint; "RightHand" is the wrist, "RightFoot" the ankle.
BERKELEY_BVH_TO_LAYOUT: tuple[tuple[str, str], ...] = (
    ("hips", "Hips"), ("spine", "spine"), ("spine1", "spine1"), ("spine2", "spine2"),
    ("neck", "Neck"), ("head", "Head"),
    ("left_clavicle", "LeftShoulder"), ("left_shoulder", "LeftArm"),
    ("left_elbow", "LeftForeArm"), ("left_wrist", "LeftHand"),
    ("right_clavicle", "RightShoulder"), ("right_shoulder", "RightArm"),
    ("right_elbow", "RightForeArm"), ("right_wrist", "RightHand"),
    ("left_hip", "LeftUpLeg"), ("left_knee", "LeftLeg"), ("left_ankle", "LeftFoot"),
    ("left_toe", "LeftToeBase"),
    ("right_hip", "RightUpLeg"), ("right_knee", "RightLeg"), ("right_ankle", "RightFoot"),
    ("right_toe", "RightToeBase"),
)
# Trunk length (hips -> head) a real person has, metres: a file outside it has other units.
_TRUNK_RANGE_M = (0.2, 1.5)
_RATE_SLACK = 0.02
_SKL = re.compile(r"^skl_s(\d+)_a(\d+)_r(\d+)\.bvh$")
_ACC = re.compile(r"^acc_h(\d+)_s(\d+)_a(\d+)_r(\d+)\.txt$")


def skeleton_name(s: int, a: int, r: int) -> str:
    return f"skl_s{s:02d}_a{a:02d}_r{r:02d}.bvh"


def accelerometer_name(h: int, s: int, a: int, r: int) -> str:
    return f"acc_h{h:02d}_s{s:02d}_a{a:02d}_r{r:02d}.txt"


def is_train_subject(subject: int, trial: int) -> bool:
    """The cross-subject protocol: subjects 1-7 train, 8-12 test."""
    return subject in TRAIN_SUBJECTS


# ----------------------------------------------------------------------------- loading


def load_mocap(path: Path, max_rate: float | None = None) -> tuple[np.ndarray, float]:
    """(T, 22, 3) joint positions [m] in BERKELEY_MOCAP order, and their rate [Hz].

    ``max_rate``: keep every k-th frame (smallest k with rate / k <= max_rate, give or take
    2 %) before the forward kinematics. The release records 480 Hz; the fuse step resamples
    every clip to a few dozen frames, and all 660 clips at 480 Hz would hold ~1.3 GB at once.
    """
    bvh = read_bvh(path)
    names = bvh.joint_names()
    lower = {n.lower(): i for i, n in enumerate(names)}
    missing = [b for _, b in BERKELEY_BVH_TO_LAYOUT if b.lower() not in lower]
    if missing:
        raise DataError(path, f"has no joint(s) {missing} (the {LAYOUT_NAME} layout needs them)")
    stride = 1
    if max_rate is not None:  # 2 % slack: a nominal 120 Hz clip may run at 120.03 Hz
        stride = max(1, math.ceil(bvh.frame_rate / (max_rate * (1 + _RATE_SLACK))))
    if bvh.num_frames < 2 * stride:
        raise DataError(path, f"has {bvh.num_frames} frame(s); at least {2 * stride} are needed")
    pos = forward_kinematics(bvh, frames=slice(None, None, stride))
    pos = pos[:, [lower[b.lower()] for _, b in BERKELEY_BVH_TO_LAYOUT]] * MOCAP_UNIT_M
    trunk = float(np.median(np.linalg.norm(pos[:, 5] - pos[:, 0], axis=-1)))  # head - hips
    if not _TRUNK_RANGE_M[0] <= trunk <= _TRUNK_RANGE_M[1]:
        raise DataError(
            path, f"hips-to-head distance is {trunk:.3g} m after the cm -> m conversion, not a "
            f"person's {_TRUNK_RANGE_M} m: the file's units are not centimetres",
        )
    return pos, bvh.frame_rate / stride


def load_accelerometer(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3) acceleration [g] and (N,) timestamps [Unix s], checked.

    Timestamps must be finite and strictly increasing (a clock that runs backwards or stalls
    means reordered or duplicated samples) and imply a plausible rate (5-1000 Hz).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(path, "file is missing") from None
    except UnicodeDecodeError as exc:
        raise DataError(path, f"not a text file ({exc.reason} at byte {exc.start})") from None
    rows: list[list[float]] = []
    line_of: list[int] = []
    for n, line in enumerate(text.splitlines(), 1):
        vals = line.split()
        if not vals:
            continue
        if len(vals) != 4:
            raise DataError(
                path, f"line {n}: expected 4 columns (ax ay az timestamp), found {len(vals)}"
            )
        try:
            rows.append([float(v) for v in vals])
        except ValueError:
            raise DataError(path, f"line {n}: non-numeric value in {line.strip()!r}") from None
        line_of.append(n)
    if len(rows) < 2:
        raise DataError(path, f"has {len(rows)} sample(s); at least 2 are needed")
    arr = np.array(rows)
    finite = np.isfinite(arr).all(axis=1)
    if not finite.all():
        raise DataError(path, f"line {line_of[int(np.argmin(finite))]}: NaN or inf value")
    t = arr[:, 3]
    back = np.flatnonzero(np.diff(t) <= 0)
    if back.size:
        i = int(back[0]) + 1
        raise DataError(
            path, f"line {line_of[i]}: timestamp {t[i]:.6f} is not after the previous one "
            f"({t[i - 1]:.6f}): non-monotonic clock",
        )
    rate = (len(t) - 1) / (t[-1] - t[0])
    if not 5.0 <= rate <= 1000.0:
        raise DataError(
            path, f"timestamps span {t[-1] - t[0]:.6g} s for {len(t)} samples ({rate:.4g} Hz): "
            "expected Unix seconds at ~30 Hz",
        )
    return arr[:, :3], t


def _index(
    paths: list[Path], pattern: re.Pattern[str], twins: dict, h: int | None = None
) -> dict[tuple[int, int, int], Path]:
    """(action, subject, repetition) -> file, for the names ``pattern`` matches."""
    found: dict[tuple[int, int, int], Path] = {}
    for p in paths:
        m = pattern.match(p.name)
        if m is None:
            continue
        g = [int(x) for x in m.groups()]
        if h is not None:
            if g[0] != h:
                continue
            g = g[1:]
        s, a, r = g
        add_clip_file(found, (a, s, r), p, f"a{a:02d}_s{s:02d}_r{r:02d}", twins)
    return found


def read_berkeley_mhad(
    root: str | Path,
    actions: list[int] | None = None,
    *,
    on_bad_clip: str = "error",
    dataset: str = "berkeley_mhad",
    report: ReadReport | None = None,
    sensor: str = "right_wrist",
    max_skeleton_rate: float | None = 60.0,
    max_duration_ratio: float | None = 1.5,
) -> Iterator[Sample]:
    """Yield (mocap skeleton, one accelerometer) pairs in (action, subject, repetition) order.

    ``actions``: 1-based action numbers (None: all 11). ``sensor``: the worn accelerometer,
    one of :data:`SENSORS` (an assumed Shimmer mapping, see the module docstring).
    ``on_bad_clip``: "error" raises on the first bad or unpaired file (a missing sensor file
    included); "skip" logs it, counts it in ``report`` and goes on. ``max_skeleton_rate``:
    decimate the mocap stream to at most this rate (None: keep 480 Hz). ``max_duration_ratio``:
    longest / shortest of the two streams' durations a pair may have (None: no check).
    Samples: skeleton (T, 22, 3) in metres, y up, layout ``berkeley_mocap``; acc (N, 3) in g;
    gyro None (the Shimmers recorded acceleration only); ``trial`` is the repetition.
    """
    if on_bad_clip not in ("error", "skip"):
        raise ValueError(f"on_bad_clip must be 'error' or 'skip', got {on_bad_clip!r}")
    if sensor not in SENSORS:
        raise ValueError(f"unknown Berkeley-MHAD sensor {sensor!r}; known: {sorted(SENSORS)}")
    root = Path(root)
    h = SENSORS[sensor]
    skl_dir = root / "Mocap" / "SkeletalData"
    acc_dir = root / "Accelerometer" / f"Shimmer{h:02d}"
    for d in (root / "Mocap", skl_dir, root / "Accelerometer"):
        if not d.is_dir():
            raise DataError(d, "folder is missing: is this a Berkeley-MHAD release?")
    if not acc_dir.is_dir():
        raise DataError(acc_dir, f"folder is missing: no {sensor} accelerometer (h{h:02d})")
    n_act = len(BERKELEY_ACTIONS)
    wanted = set(range(1, n_act + 1)) if actions is None else set(actions)
    unknown = sorted(a for a in wanted if not 1 <= a <= n_act)
    if unknown:
        raise DataError(root, f"unknown Berkeley-MHAD action numbers {unknown} (valid: 1-{n_act})")
    twins: dict = {}
    skl = _index(sorted(skl_dir.glob("skl_*.bvh")), _SKL, twins)
    acc = _index(sorted(acc_dir.glob("acc_*.txt")), _ACC, twins, h)
    report = report if report is not None else ReadReport()

    bad = functools.partial(report.bad, on_bad_clip=on_bad_clip)

    for key in sorted(set(skl) | set(acc)):
        a, s, r = key
        if a not in wanted:
            continue
        if key in twins:
            bad(*twins[key])
            continue
        if key not in skl:
            bad(acc[key], f"partner file Mocap/SkeletalData/{skeleton_name(s, a, r)} is missing")
            continue
        if key not in acc:
            bad(acc_dir / accelerometer_name(h, s, a, r),
                f"file is missing: the {sensor} accelerometer of {skl[key].name}")
            continue
        try:
            skeleton, skeleton_rate = load_mocap(skl[key], max_skeleton_rate)
            values, stamps = load_accelerometer(acc[key])
        except DataError as exc:
            bad(exc.path or root, exc.problem)
            continue
        # N samples at rate (N - 1) / span cover N / rate seconds, as Sample.duration_* say.
        inertial_rate = (len(stamps) - 1) / (stamps[-1] - stamps[0])
        d_acc, d_skel = len(stamps) / inertial_rate, len(skeleton) / skeleton_rate
        if max_duration_ratio is not None and max(d_acc, d_skel) > max_duration_ratio * min(
            d_acc, d_skel
        ):
            bad(acc[key], f"covers {d_acc:.2f} s but {skl[key].name} covers {d_skel:.2f} s: "
                "not the same recording?")
            continue
        report.read += 1
        yield Sample(
            dataset=dataset,
            sample_id=f"a{a:02d}_s{s:02d}_r{r:02d}",
            action=a,
            action_name=BERKELEY_ACTIONS[a - 1],
            subject=s,
            trial=r,
            acc=values,
            inertial_rate=float(inertial_rate),
            skeleton=skeleton,
            skeleton_rate=float(skeleton_rate),
            layout=LAYOUT_NAME,
            gyro=None,
        )


__all__ = [
    "BERKELEY_ACTIONS",
    "BERKELEY_BVH_HIERARCHY",
    "BERKELEY_BVH_TO_LAYOUT",
    "MOCAP_UNIT_M",
    "SENSORS",
    "SENSOR_CHOICES",
    "SHIMMER_LOCATIONS",
    "ReadReport",
    "accelerometer_name",
    "is_train_subject",
    "load_accelerometer",
    "load_mocap",
    "read_berkeley_mhad",
    "skeleton_name",
]
