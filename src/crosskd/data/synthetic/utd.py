"""Synthetic UTD-MHAD: simulated clips written in the real dataset's on-disk format.

One clip = one action performed by one simulated subject: the body model
(:mod:`~crosskd.data.synthetic.kinematics`) plays the action's motion program
(:mod:`~crosskd.data.synthetic.actions`), and both modalities are measured from that single
motion:

* skeleton: all 20 Kinect v1 joints at the skeleton rate, plus optional Gaussian jitter;
* inertial: an IMU on the RIGHT WRIST (for every action, unlike the real dataset, which moved
  it to the right thigh for a22-a27). The accelerometer reads specific force
  f = d2(right_wrist)/dt2 - g, g = (0, -9.81, 0) m/s^2 in the camera frame, in units of g;
  the gyroscope reads the angular velocity of the sensor frame, in deg/s. Both are expressed
  in the forearm frame of :func:`~crosskd.data.synthetic.kinematics.forearm_frame`
  (x along elbow -> wrist, z along the elbow hinge axis, y = z x x). Derivatives are central
  differences with a 0.1 ms step around each sample instant (the motion evaluated on a
  10 kHz stencil rather than a whole fine grid): for these C2 trajectories that is within
  ~2 milli-g of the exact second derivative, even where the jerk jumps at a keyframe.

The two streams cover the same interval [0, duration] on independent clocks (jittered
rates): stream k has N_k samples at t = (i + 1/2) / rate_k, rate_k = N_k / duration, so
"N / rate" is the duration for both and aligning each stream over its own duration is exact.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import numpy as np
from scipy.io import savemat

from crosskd.atomic import atomic_dir
from crosskd.data.layouts import KINECT_V1
from crosskd.data.manifest import MANIFEST_NAME, write_manifest
from crosskd.data.synthetic.actions import (
    BASE_DURATION,
    PROGRAMS,
    Style,
    jitter_style,
    motion,
    sample_subject_style,
)
from crosskd.data.synthetic.kinematics import Body, forearm_frame, pose, sample_body
from crosskd.data.synthetic.output import check_out_dir
from crosskd.data.utd_mhad import UTD_MHAD_ACTIONS
from crosskd.errors import ConfigError
from crosskd.progress import progress

log = logging.getLogger(__name__)

GRAVITY = 9.81  # m/s^2; 1 g
GRAVITY_VECTOR = np.array([0.0, -GRAVITY, 0.0])  # camera frame, y up
STENCIL_STEP = 1e-4  # seconds: a 10 kHz differentiation stencil
# Hz, drawn per clip. UTD-MHAD is "30 fps" nominal, but its inertial/skeleton length ratio
# (median 2.61 at 50 Hz) says ~19 Hz effective: match the real lengths, not the label.
SKELETON_RATE_RANGE = (17.0, 22.0)
INERTIAL_RATE_RANGE = (48.0, 52.0)
DURATION_RANGE = (2.2, 6.5)  # seconds: real inertial lengths 107-326 samples at 50 Hz
# Sensor full-scale ranges, per axis: the real copy's extremes sit at these limits (|acc| up
# to 8.7 g over three axes, |gyro| up to 1000 deg/s), so throws saturate there as well.
ACC_RANGE_G = 8.0
GYRO_RANGE_DPS = 1000.0

# A fixed 116-byte MAT-file header text: savemat stamps the creation time there, which would
# change every file's hash (and DVC's cache keys) on every run.
MAT_HEADER = b"MATLAB 5.0 MAT-file, Platform: crosskd synthetic UTD-MHAD, Created on: (fixed)"
MAT_HEADER = MAT_HEADER.ljust(116, b" ")

_J = {name: i for i, name in enumerate(KINECT_V1.joints)}
_OUR_FILES = {"Inertial", "Skeleton", "SOURCE.txt", MANIFEST_NAME}


def make_subject(seed: int, subject: int) -> tuple[Body, Style]:
    """Subject ``subject``'s body and movement style: drawn from (seed, subject) only, so a
    subject is the same person in every action and in every subset of the dataset."""
    rng = np.random.default_rng([seed, subject])
    return sample_body(rng), sample_subject_style(rng)


def _sensor_signals(
    body: Body, action: int, style: Style, duration: float, t: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free (acc [g], gyro [deg/s]) in the sensor frame at times ``t``."""
    h = STENCIL_STEP
    tt = np.concatenate([t - h, t, t + h])
    joints = pose(body, motion(action, tt / duration, style)).reshape(3, len(t), -1, 3)
    sh, el, wr = (joints[:, :, _J[f"right_{k}"]] for k in ("shoulder", "elbow", "wrist"))
    accel = (wr[2] - 2.0 * wr[1] + wr[0]) / h**2  # m/s^2, camera frame
    frames = forearm_frame(sh, el, wr)  # (3, N, 3, 3), columns = sensor axes
    rot = frames[1]
    force = (accel - GRAVITY_VECTOR) / GRAVITY
    acc = np.einsum("nji,nj->ni", rot, force)  # R^T f
    # Omega = R^T dR/dt is skew-symmetric; its axial vector is the body-frame rate.
    omega = np.einsum("nki,nkj->nij", rot, (frames[2] - frames[0]) / (2.0 * h))
    gyro = 0.5 * np.stack(
        [omega[:, 2, 1] - omega[:, 1, 2], omega[:, 0, 2] - omega[:, 2, 0],
         omega[:, 1, 0] - omega[:, 0, 1]], axis=-1,
    )
    return acc, np.degrees(gyro)


def simulate_clip(
    action: int,
    subject: int,
    trial: int,
    rng: np.random.Generator,
    body: Body,
    *,
    skeleton_rate: float,
    inertial_rate: float,
    acc_noise_g: float,
    gyro_noise_dps: float,
    skeleton_noise_m: float,
    style: Style | None = None,
    duration: float | None = None,
    acc_range_g: float | None = None,
    gyro_range_dps: float | None = None,
) -> dict[str, Any]:
    """Simulate one clip of ``action`` (1-27) by ``body`` with the subject's ``style``.

    ``rng`` draws the trial's variation (style jitter, duration) and all noise, so the clip is
    a pure function of its inputs. ``skeleton_rate``/``inertial_rate`` are nominal: each is
    adjusted (by < 1 sample per clip) so both streams span exactly ``duration`` seconds.
    The IMU noise is white Gaussian plus a constant per-clip bias of the same std; with
    ``acc_range_g``/``gyro_range_dps`` each axis then saturates at +-range, as a real sensor
    does (None: ideal sensor). ``duration`` defaults to the action's base duration times the
    style's speed.

    Returns skeleton (T, 20, 3) [m], acc (N, 3) [g], gyro (N, 3) [deg/s], the effective
    skeleton_rate / inertial_rate [Hz], duration [s], sample times and the ids.
    """
    if action not in PROGRAMS:
        raise ConfigError(f"action {action} is not a UTD-MHAD action number (1-{len(PROGRAMS)})")
    style = jitter_style(style or Style(), rng)
    if duration is None:
        duration = float(np.clip(BASE_DURATION[action] * style.speed, *DURATION_RANGE))
    n_skel = max(int(round(duration * skeleton_rate)), 2)
    n_iner = max(int(round(duration * inertial_rate)), 2)
    t_skel = (np.arange(n_skel) + 0.5) * (duration / n_skel)
    t_iner = (np.arange(n_iner) + 0.5) * (duration / n_iner)

    skeleton = pose(body, motion(action, t_skel / duration, style))
    acc, gyro = _sensor_signals(body, action, style, duration, t_iner)
    if skeleton_noise_m > 0:
        skeleton = skeleton + rng.normal(0.0, skeleton_noise_m, skeleton.shape)
    if acc_noise_g > 0:
        acc = acc + rng.normal(0.0, acc_noise_g, 3) + rng.normal(0.0, acc_noise_g, acc.shape)
    if gyro_noise_dps > 0:
        gyro = gyro + rng.normal(0.0, gyro_noise_dps, 3)
        gyro = gyro + rng.normal(0.0, gyro_noise_dps, gyro.shape)
    if acc_range_g is not None:
        acc = np.clip(acc, -acc_range_g, acc_range_g)
    if gyro_range_dps is not None:
        gyro = np.clip(gyro, -gyro_range_dps, gyro_range_dps)
    return {
        "action": action,
        "action_name": UTD_MHAD_ACTIONS[action - 1],
        "subject": subject,
        "trial": trial,
        "skeleton": skeleton,
        "acc": acc,
        "gyro": gyro,
        "skeleton_rate": n_skel / duration,
        "inertial_rate": n_iner / duration,
        "skeleton_times": t_skel,
        "inertial_times": t_iner,
        "duration": duration,
        "style": style,
    }


def clip_rng(seed: int, action: int, subject: int, trial: int) -> np.random.Generator:
    """The clip's own generator: any subset of clips reproduces the same clips."""
    return np.random.default_rng([seed, action, subject, trial])


def _dataset_clip(
    seed: int, action: int, subject: int, trial: int, body: Body, style: Style, sensor: dict
) -> dict[str, Any]:
    rng = clip_rng(seed, action, subject, trial)
    skeleton_rate = float(rng.uniform(*SKELETON_RATE_RANGE))  # own clocks, drawn per clip
    inertial_rate = float(rng.uniform(*INERTIAL_RATE_RANGE))
    return simulate_clip(
        action, subject, trial, rng, body, skeleton_rate=skeleton_rate,
        inertial_rate=inertial_rate, style=style, **sensor,
    )


def simulate_dataset_clip(
    seed: int,
    action: int,
    subject: int,
    trial: int,
    *,
    acc_noise_g: float = 0.02,
    gyro_noise_dps: float = 1.0,
    skeleton_noise_m: float = 0.005,
    acc_range_g: float | None = ACC_RANGE_G,
    gyro_range_dps: float | None = GYRO_RANGE_DPS,
) -> dict[str, Any]:
    """Exactly the clip :func:`generate_utd_mhad` writes for (seed, action, subject, trial)
    with the same sensor settings, as arrays (with rates, times and duration)."""
    body, style = make_subject(seed, subject)
    sensor = {
        "acc_noise_g": acc_noise_g, "gyro_noise_dps": gyro_noise_dps,
        "skeleton_noise_m": skeleton_noise_m, "acc_range_g": acc_range_g,
        "gyro_range_dps": gyro_range_dps,
    }
    return _dataset_clip(seed, action, subject, trial, body, style, sensor)


def write_mat(path: Path, name: str, array: np.ndarray) -> None:
    """A MATLAB v5 file with one variable, byte-reproducible (fixed header, no compression).

    Uncompressed because zlib builds (zlib vs zlib-ng) may emit different bytes for the same
    data, which would break the byte-identical guarantee across machines.
    """
    buf = io.BytesIO()
    savemat(buf, {name: np.ascontiguousarray(array, dtype=np.float64)}, do_compression=False)
    data = bytearray(buf.getvalue())
    data[: len(MAT_HEADER)] = MAT_HEADER
    path.write_bytes(bytes(data))


def joint_order_text() -> str:
    """Skeleton_joint_order.txt in the style of the real release."""
    lines = [f"{i}. {name};" for i, name in enumerate(KINECT_V1.joints, 1)]
    return (
        "The skeleton joint order in UTD-MAD dataset:\n\n" + "\n".join(lines) + "\n\n"
        "Each skeleton data is a 20 x 3 x num_frame matrix. Each row of a skeleton frame "
        "corresponds to three spatial coordinates of a joint.\n"
    )


def _source_text(params: dict[str, Any], n_clips: int) -> str:
    lines = [
        "SYNTHETIC data: simulated by crosskd.data.synthetic (not recorded from people).",
        "Same on-disk format as UTD-MHAD (C. Chen, R. Jafari, N. Kehtarnavaz, ICIP 2015):",
        "Inertial/aA_sS_tT_inertial.mat (d_iner: (N, 6) float64, acc xyz [g], gyro xyz [deg/s])",
        "Skeleton/aA_sS_tT_skeleton.mat (d_skel: (20, 3, T) float64 [m], Kinect v1 joints,",
        "camera frame: x = performer's right, y = up, z = depth; performer faces the camera).",
        "",
        "Simulation: kinematic body model (per-subject size and proportions), one motion",
        "program per action, analytic 2-bone IK. IMU on the RIGHT WRIST for every action",
        "(the real dataset used the right thigh for a22-a27). acc = specific force",
        "(d2 wrist/dt2 - g) / 9.81 and gyro = angular rate [deg/s], both in the forearm frame",
        "x = unit(wrist - elbow), z = unit(cross(elbow - shoulder, wrist - elbow)), y = z x x.",
        f"Rates per clip: skeleton ~ U{SKELETON_RATE_RANGE} Hz, inertial ~ U{INERTIAL_RATE_RANGE} "
        "Hz; both streams span the same duration (align each over its own length).",
        f"Clips: {n_clips}.",
        "",
        "Parameters:",
    ]
    lines += [f"  {k}: {v}" for k, v in params.items()]
    return "\n".join(lines) + "\n"


def generate_utd_mhad(
    out_dir: str | Path,
    *,
    actions: list[int],
    subjects: int,
    trials: int,
    seed: int,
    acc_noise_g: float = 0.02,
    gyro_noise_dps: float = 1.0,
    skeleton_noise_m: float = 0.005,
    acc_range_g: float | None = ACC_RANGE_G,
    gyro_range_dps: float | None = GYRO_RANGE_DPS,
) -> int:
    """Write a synthetic UTD-MHAD copy to ``out_dir``; return the number of clips.

    Layout and formats are those of the real release (see the module docstring), plus
    SOURCE.txt and MANIFEST.sha256. Subjects are 1..``subjects``, trials 1..``trials``.
    The IMU saturates at +-``acc_range_g`` / +-``gyro_range_dps`` per axis (None: never).
    The same arguments give byte-identical files. ``out_dir`` is replaced as a whole, atomically
    (a folder holding anything else is refused), so no stale clip survives a smaller run.
    """
    out_dir = Path(out_dir)
    bad = [a for a in actions if a not in PROGRAMS]
    if bad or not actions:
        raise ConfigError(f"synthetic actions must be a non-empty subset of 1-27, got {actions}")
    if subjects < 1 or trials < 1:
        raise ConfigError(f"synthetic subjects and trials must be >= 1, got {subjects}, {trials}")
    if min(acc_noise_g, gyro_noise_dps, skeleton_noise_m) < 0:
        raise ConfigError("synthetic noise levels must be >= 0")
    if any(r is not None and r <= 0 for r in (acc_range_g, gyro_range_dps)):
        raise ConfigError("synthetic sensor ranges must be > 0 (or None for no saturation)")
    check_out_dir(out_dir, _OUR_FILES, "UTD-MHAD")
    actions = sorted(set(int(a) for a in actions))
    sensor = {
        "acc_noise_g": acc_noise_g,
        "gyro_noise_dps": gyro_noise_dps,
        "skeleton_noise_m": skeleton_noise_m,
        "acc_range_g": acc_range_g,
        "gyro_range_dps": gyro_range_dps,
    }
    subject_models = {s: make_subject(seed, s) for s in range(1, subjects + 1)}
    subject_ids, trial_ids = range(1, subjects + 1), range(1, trials + 1)
    keys = [(a, s, t) for a in actions for s in subject_ids for t in trial_ids]

    with atomic_dir(out_dir) as tmp:
        (tmp / "Inertial").mkdir()
        (tmp / "Skeleton").mkdir()
        for a, s, t in progress(keys, desc="synthetic UTD-MHAD", unit="clip"):
            clip = _dataset_clip(seed, a, s, t, *subject_models[s], sensor)
            stem = f"a{a}_s{s}_t{t}"
            write_mat(tmp / "Inertial" / f"{stem}_inertial.mat", "d_iner",
                      np.hstack([clip["acc"], clip["gyro"]]))
            write_mat(tmp / "Skeleton" / f"{stem}_skeleton.mat", "d_skel",
                      clip["skeleton"].transpose(1, 2, 0))  # (T, 20, 3) -> (20, 3, T)
        (tmp / "Skeleton" / "Skeleton_joint_order.txt").write_text(joint_order_text())
        params = dict(actions=actions, subjects=subjects, trials=trials, seed=seed, **sensor)
        (tmp / "SOURCE.txt").write_text(_source_text(params, len(keys)))
        write_manifest(tmp)
    log.info("wrote %d synthetic UTD-MHAD clips to %s", len(keys), out_dir)
    return len(keys)


__all__ = [
    "generate_utd_mhad",
    "simulate_clip",
    "simulate_dataset_clip",
    "make_subject",
    "clip_rng",
    "write_mat",
    "joint_order_text",
]
