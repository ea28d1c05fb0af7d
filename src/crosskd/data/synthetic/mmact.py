"""Synthetic MMAct: simulated clips written in the official MMAct layout (see
:mod:`crosskd.data.mmact`): sensor CSVs with real timestamp strings and short RGB videos.

One clip = one action by one simulated subject (the kinematic body of
:mod:`~crosskd.data.synthetic.kinematics`, playing a motion program), measured by:

* ``acc_watch_clip``: a watch on the RIGHT wrist, ~100 Hz on its own jittered clock: the
  specific force (d2 wrist/dt2 - g) in the forearm frame, m/s^2 (Android units);
* ``acc_phone_clip``, ``gyro_clip``, ``orientation_clip``: a phone in the right front
  trouser pocket (mid right thigh), ~50 Hz on a second jittered clock: specific force
  [m/s^2], angular rate [rad/s] and Euler angles (z-x-y of the thigh frame in the camera
  frame, degrees; a stand-in for Android's azimuth/pitch/roll convention);
* ``RGB/subjectN/camN/sceneN/sessionN/<action>.mp4``: ~3 s at 15 fps, 256 x 256, in which a
  real photo of a person (scikit-image's ``astronaut``) is translated, scaled and rotated
  per frame following the simulated body (shoulder-centre travel, depth, shoulder roll and
  the right wrist's swing), so MediaPipe has someone to find. The photo is rigid: the
  video shows the whole-body motion of a clip, not its arm articulation.

Motion programs: where a UTD-MHAD program fits an MMAct action it is reused (walking = walk,
crouching = squat, throwing = throw, ...); the others are small programs built here from the
same C2 primitives. Each of the 35 actions has its own program, so all classes are
distinguishable from the wrist signal; their likeness to the real actions is loose.

Reproducibility: the same arguments give byte-identical CSV files (every draw comes from a
generator seeded by (seed, action, subject, scene, session)). Video frames are identical
too, but the encoded bytes (mp4v via OpenCV's FFmpeg) may differ between OpenCV/FFmpeg
builds; the manifest records whatever this build wrote.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from crosskd.atomic import atomic_dir
from crosskd.data.layouts import KINECT_V1
from crosskd.data.manifest import MANIFEST_NAME, write_manifest
from crosskd.data.mmact import MMACT_ACTIONS, SENSORS, STANDARD_GRAVITY, TIMESTAMP_FORMAT, ClipKey
from crosskd.data.synthetic.actions import (
    L_REST,
    PROGRAMS,
    R_REST,
    Style,
    _rest,
    arm_keys,
    bump,
    hang,
    jitter_style,
    keys,
    osc,
    styled_motion,
)
from crosskd.data.synthetic.kinematics import Body, Motion, forearm_frame, pose
from crosskd.data.synthetic.output import check_out_dir
from crosskd.data.synthetic.subjects import spread_subject_ids
from crosskd.data.synthetic.utd import make_subject
from crosskd.data.utd_mhad import UTD_MHAD_ACTIONS
from crosskd.errors import ConfigError
from crosskd.progress import progress

log = logging.getLogger(__name__)

GRAVITY_VECTOR = np.array([0.0, -STANDARD_GRAVITY, 0.0])  # camera frame, y up
STENCIL_STEP = 1e-4  # seconds: differentiation stencil, as in the UTD-MHAD generator
WATCH_RATE_RANGE = (98.0, 102.0)  # Hz, nominal rate drawn per clip
PHONE_RATE_RANGE = (48.0, 52.0)
CLOCK_JITTER = 0.08  # std of each sample interval, as a fraction of the nominal interval
DURATION_RANGE = (2.5, 3.5)  # seconds per clip: shorter clips make the programs jerky
VIDEO_FPS = 15.0
VIDEO_SIZE = 256
ACC_RANGE_G = 8.0
GYRO_RANGE_DPS = 1000.0
SESSION_EPOCH = datetime(2018, 10, 7, 9, 0, 0)  # first recording day of the stand-in
CAMERAS = ("cam1",)

_J = {name: i for i, name in enumerate(KINECT_V1.joints)}
_OUR_FILES = {f"{s}_clip" for s in SENSORS} | {"RGB", "SOURCE.txt", MANIFEST_NAME}

Program = Callable[[np.ndarray, Style], Motion]


# ----------------------------------------------------------------------------- programs


def _utd(name: str) -> Program:
    return PROGRAMS[UTD_MHAD_ACTIONS.index(name) + 1]


def _mirror(v: tuple[float, float, float]) -> np.ndarray:
    return np.multiply(v, (-1.0, 1.0, 1.0))


def _hold(s: np.ndarray, target: tuple[float, float, float], a: float, b: float,
          ramp: float = 0.15, rest: np.ndarray = R_REST) -> np.ndarray:
    """Wrist targets: rest -> ``target`` over [a, a + ramp], held, back to rest by b."""
    return arm_keys(s, [(a, rest), (a + ramp, target), (b - ramp, target), (b, rest)])


def _gesture(points: list[tuple[float, Any]], both: bool = False, lean: float = 0.0) -> Program:
    """A right-wrist keyframe program (targets from the shoulder, arm lengths); ``both``
    mirrors it on the left arm; ``lean`` bends the trunk forward while it lasts."""

    def program(s: np.ndarray, st: Style) -> Motion:
        m = _rest(s)
        m.r_wrist = arm_keys(s, points)
        if both:
            m.l_wrist = arm_keys(s, [(t, _mirror(v)) for t, v in points])
        if lean:
            m.lean[:, 0] = lean * bump(s, points[0][0], points[-1][0])
        return m

    return program


def _walking(arms: Callable[[np.ndarray, Motion], None] | None = None, cycles: float = 1.0,
             lean: float = 0.0) -> Program:
    """UTD's in-place walk with the arms replaced by ``arms(s, motion)``."""

    def program(s: np.ndarray, st: Style) -> Motion:
        m = _utd("walk")(s, replace(st, cycles=st.cycles * cycles))
        m.lean[:, 0] += lean
        if arms is not None:
            arms(s, m)
        return m

    return program


def _carry_both(s: np.ndarray, m: Motion) -> None:
    m.r_wrist = _hold(s, (-0.05, -0.6, 0.45), 0.05, 0.95)
    m.l_wrist = _hold(s, tuple(_mirror((-0.05, -0.6, 0.45))), 0.05, 0.95, rest=L_REST)


def _carry_heavy(s: np.ndarray, m: Motion) -> None:
    m.r_wrist = _hold(s, (0.02, -0.9, 0.2), 0.05, 0.95)
    m.l_wrist = _hold(s, tuple(_mirror((0.02, -0.9, 0.2))), 0.05, 0.95, rest=L_REST)


def _carry_light(s: np.ndarray, m: Motion) -> None:
    m.r_wrist = _hold(s, (0.05, -0.55, 0.45), 0.05, 0.95)


def _door_push(s: np.ndarray, m: Motion) -> None:
    m.r_wrist = arm_keys(s, [(0.05, R_REST), (0.2, (0.1, -0.1, 0.85)), (0.35, R_REST)])


def _door_pull(s: np.ndarray, m: Motion) -> None:
    m.r_wrist = arm_keys(s, [(0.6, R_REST), (0.72, (0.1, -0.1, 0.85)),
                             (0.82, (0.1, -0.35, 0.35)), (0.94, R_REST)])


def fall(s: np.ndarray, st: Style) -> Motion:
    """Drop forward to the floor and stay there, arms reaching out."""
    m = _rest(s)
    m.pelvis = keys(s, [(0.15, (0, 0, 0)), (0.5, (0.0, -0.55, 0.2))])
    m.lean[:, 0] = keys(s, [(0.15, 0.0), (0.5, 0.9)])
    m.lean[:, 1] = keys(s, [(0.15, 0.0), (0.5, 0.2)])
    m.r_wrist = arm_keys(s, [(0.15, R_REST), (0.45, (0.1, -0.3, 0.85))])
    m.l_wrist = arm_keys(s, [(0.15, L_REST), (0.45, _mirror((0.1, -0.3, 0.85)))])
    return m


def jumping(s: np.ndarray, st: Style) -> Motion:
    """Two jumps on the spot: crouch, both feet leave the floor, arms swing up."""
    m = _rest(s)
    up = bump(s, 0.22, 0.42) + bump(s, 0.58, 0.78)
    dip = bump(s, 0.12, 0.26) + bump(s, 0.48, 0.62)
    m.pelvis[:, 1] = 0.15 * up - 0.12 * dip
    m.r_ankle[:, 1] = m.l_ankle[:, 1] = 0.13 * up
    m.lean[:, 0] = 0.2 * dip
    swing = np.clip(up, 0.0, 1.0)[:, None]
    m.r_wrist = R_REST + swing * (np.array([0.1, 0.2, 0.6]) - R_REST)
    m.l_wrist = L_REST + swing * (_mirror((0.1, 0.2, 0.6)) - L_REST)
    return m


def kicking(s: np.ndarray, st: Style) -> Motion:
    """A right-foot kick forward; arms counter-balance."""
    m = _rest(s)
    k = bump(s, 0.25, 0.65)
    m.r_ankle = np.stack([0 * s, 0.3 * k, 0.55 * k], -1)
    m.lean[:, 0] = -0.15 * k
    m.r_wrist = R_REST + k[:, None] * np.array([0.15, 0.25, -0.25])
    m.l_wrist = L_REST + k[:, None] * np.array([-0.15, 0.3, 0.3])
    return m


def looking_around(s: np.ndarray, st: Style) -> Motion:
    """The trunk turns left and right twice; arms hang."""
    m = _rest(s)
    ph, env = osc(s, 0.1, 0.9, 2.0, ramp=0.1)
    m.lean[:, 2] = 0.45 * env * np.sin(ph)
    m.r_wrist, m.l_wrist = hang(m.lean), hang(m.lean, L_REST)
    return m


def picking_up(s: np.ndarray, st: Style) -> Motion:
    """Bend down, take something from the floor, stand up holding it at the waist."""
    m = _rest(s)
    bend = keys(s, [(0.1, 0.0), (0.4, 1.0), (0.5, 1.0), (0.8, 0.0)])
    m.lean[:, 0] = 0.75 * bend
    m.pelvis = bend[:, None] * np.array([0.0, -0.22, -0.1])
    reach = hang(m.lean, ahead=0.3)
    hold = np.array([-0.05, -0.6, 0.45])
    w = keys(s, [(0.5, 0.0), (0.8, 1.0)])[:, None]
    m.r_wrist = (1.0 - w) * reach + w * hold
    m.l_wrist = hang(m.lean, L_REST)
    return m


def setting_down(s: np.ndarray, st: Style) -> Motion:
    """Holding something at the waist, bend down, put it on the floor, stand up empty."""
    m = _rest(s)
    bend = keys(s, [(0.15, 0.0), (0.45, 1.0), (0.55, 1.0), (0.85, 0.0)])
    m.lean[:, 0] = 0.75 * bend
    m.pelvis = bend[:, None] * np.array([0.0, -0.22, -0.1])
    hold = np.array([-0.05, -0.6, 0.45])
    reach = hang(m.lean, ahead=0.3)
    held = keys(s, [(0.05, 0.0), (0.15, 1.0)])[:, None]
    w = keys(s, [(0.15, 0.0), (0.45, 1.0)])[:, None]
    m.r_wrist = (1.0 - held) * R_REST + held * ((1.0 - w) * hold + w * reach)
    m.l_wrist = hang(m.lean, L_REST)
    return m


def pulling(s: np.ndarray, st: Style) -> Motion:
    """Reach forward with both hands, grip, pull back to the chest leaning back, release."""
    m = _rest(s)
    reach, chest = (0.0, -0.2, 0.9), (0.05, -0.45, 0.25)
    points = [(0.08, R_REST), (0.3, reach), (0.38, reach), (0.6, chest), (0.7, chest),
              (0.9, R_REST)]
    m.r_wrist = arm_keys(s, points)
    m.l_wrist = arm_keys(s, [(t, _mirror(v)) for t, v in points])
    m.lean[:, 0] = keys(s, [(0.08, 0.0), (0.3, 0.12), (0.6, -0.12), (0.9, 0.0)])
    return m


def sitting(s: np.ndarray, st: Style) -> Motion:
    """Seated the whole clip (UTD's sit2stand before it rises), shifting a little."""
    m = _utd("sit2stand")(np.full_like(s, 0.1), st)
    ph, env = osc(s, 0.1, 0.9, 1.0)
    m.lean[:, 0] += 0.1 * env * np.sin(ph)
    m.lean[:, 2] += 0.1 * env * np.sin(2 * ph)
    m.r_wrist, m.l_wrist = hang(m.lean, ahead=0.25), hang(m.lean, L_REST, ahead=0.25)
    return m


def standing(s: np.ndarray, st: Style) -> Motion:
    """Standing still, swaying a little."""
    m = _rest(s)
    ph, env = osc(s, 0.1, 0.9, 1.0)
    m.lean[:, 1] = 0.04 * env * np.sin(ph)
    m.pelvis[:, 0] = 0.02 * env * np.sin(ph)
    m.r_wrist, m.l_wrist = hang(m.lean), hang(m.lean, L_REST)
    return m


def _hands_front(cycles: float, amp: float, target: tuple[float, float, float],
                 seated: bool = False, lean: float = 0.0) -> Program:
    """Both hands in front of the body making small repeated movements (talking,
    using a phone, typing)."""

    def program(s: np.ndarray, st: Style) -> Motion:
        m = _utd("sit2stand")(np.full_like(s, 0.1), st) if seated else _rest(s)
        ph, env = osc(s, 0.2, 0.8, cycles * st.cycles, ramp=0.1)
        wiggle = amp * env[:, None] * np.stack([np.sin(ph), np.cos(ph), 0 * s], -1)
        m.r_wrist = _hold(s, target, 0.05, 0.95) + wiggle
        m.l_wrist = _hold(s, tuple(_mirror(target)), 0.05, 0.95, rest=L_REST) - wiggle
        m.lean[:, 0] += lean * bump(s, 0.05, 0.95)
        return m

    return program


def using_pc(s: np.ndarray, st: Style) -> Motion:
    return _hands_front(6.0, 0.03, (-0.05, -0.5, 0.55), seated=True)(s, st)


MMACT_PROGRAMS: dict[str, Program] = {
    "carrying": _walking(_carry_both),
    "checking_time": _gesture([(0.1, R_REST), (0.3, (-0.3, -0.35, 0.45)),
                               (0.7, (-0.3, -0.35, 0.45)), (0.9, R_REST)], lean=0.08),
    "closing": _utd("swipe_left"),
    "crouching": _utd("squat"),
    "entering": _walking(_door_push),
    "exiting": _walking(_door_pull),
    "fall": fall,
    "jumping": jumping,
    "kicking": kicking,
    "loitering": _utd("arm_cross"),
    "looking_around": looking_around,
    "opening": _utd("swipe_right"),
    "picking_up": picking_up,
    "pointing": _gesture([(0.1, R_REST), (0.3, (0.15, 0.15, 0.95)), (0.7, (0.15, 0.15, 0.95)),
                          (0.9, R_REST)]),
    "pulling": pulling,
    "pushing": _utd("push"),
    "running": _utd("jog"),
    "setting_down": setting_down,
    "standing": standing,
    "talking": _hands_front(3.0, 0.08, (-0.05, -0.55, 0.45)),
    "talking_on_phone": _gesture([(0.1, R_REST), (0.3, (-0.15, 0.4, 0.1)),
                                  (0.75, (-0.15, 0.4, 0.1)), (0.92, R_REST)]),
    "throwing": _utd("throw"),
    "transferring_object": _utd("catch"),
    "using_phone": _hands_front(4.0, 0.03, (-0.15, -0.45, 0.45), lean=0.12),
    "walking": _utd("walk"),
    "waving_hand": _utd("wave"),
    "drinking": _gesture([(0.1, R_REST), (0.3, (-0.25, 0.3, 0.25)), (0.45, (-0.25, 0.3, 0.25)),
                          (0.55, (-0.2, -0.3, 0.4)), (0.65, (-0.2, -0.3, 0.4)),
                          (0.78, (-0.25, 0.3, 0.25)), (0.92, R_REST)]),
    "pocket_in": _gesture([(0.1, R_REST), (0.3, (0.05, -0.55, 0.35)),
                           (0.6, (0.22, -0.85, 0.02)), (0.75, (0.22, -0.85, 0.02)),
                           (0.92, R_REST)]),
    "pocket_out": _gesture([(0.1, R_REST), (0.3, (0.22, -0.85, 0.02)),
                            (0.55, (0.05, -0.5, 0.4)), (0.8, (0.05, -0.5, 0.4)),
                            (0.95, R_REST)]),
    "sitting": sitting,
    "sitting_down": _utd("stand2sit"),
    "standing_up": _utd("sit2stand"),
    "using_pc": using_pc,
    "carrying_heavy": _walking(_carry_heavy, cycles=0.7, lean=-0.08),
    "carrying_light": _walking(_carry_light),
}
assert tuple(MMACT_PROGRAMS) == MMACT_ACTIONS, "one program per MMAct action, in class order"


def mmact_motion(action: int, s: np.ndarray, style: Style | None = None) -> Motion:
    """MMAct action ``action`` (1-35) at phases ``s`` with a performer's ``style`` (the
    UTD-MHAD programs' styling)."""
    return styled_motion(MMACT_PROGRAMS[MMACT_ACTIONS[action - 1]], _rest, s, style)


# ----------------------------------------------------------------------------- sensors


def _angular_rate(frames: np.ndarray, h: float) -> np.ndarray:
    """Body-frame angular rate [rad/s] from frames (3, N, 3, 3) at t - h, t, t + h."""
    rot = frames[1]
    omega = np.einsum("nki,nkj->nij", rot, (frames[2] - frames[0]) / (2.0 * h))
    return 0.5 * np.stack([omega[:, 2, 1] - omega[:, 1, 2], omega[:, 0, 2] - omega[:, 2, 0],
                           omega[:, 1, 0] - omega[:, 0, 1]], axis=-1)


def _euler_zxy(rot: np.ndarray) -> np.ndarray:
    """(N, 3, 3) rotations -> (N, 3) angles in degrees (about z, x, y)."""
    x = np.arcsin(np.clip(rot[:, 2, 1], -1.0, 1.0))
    z = np.arctan2(-rot[:, 0, 1], rot[:, 1, 1])
    y = np.arctan2(-rot[:, 2, 0], rot[:, 2, 2])
    return np.degrees(np.stack([z, x, y], axis=-1))


def sensor_signals(
    body: Body, action: int, style: Style, duration: float, t_watch: np.ndarray,
    t_phone: np.ndarray,
) -> dict[str, np.ndarray]:
    """Noise-free signals in file units: watch acc [m/s^2] at ``t_watch``; phone acc
    [m/s^2], gyro [rad/s], orientation [deg] at ``t_phone`` (seconds into the clip)."""
    h = STENCIL_STEP

    def joints_at(t: np.ndarray) -> np.ndarray:
        tt = np.concatenate([t - h, t, t + h])
        return pose(body, mmact_motion(action, tt / duration, style)).reshape(3, len(t), -1, 3)

    def force(pos: np.ndarray, rot: np.ndarray) -> np.ndarray:
        accel = (pos[2] - 2.0 * pos[1] + pos[0]) / h**2
        return np.einsum("nji,nj->ni", rot, accel - GRAVITY_VECTOR)  # R^T (a - g)

    jw = joints_at(t_watch)
    sh, el, wr = (jw[:, :, _J[f"right_{k}"]] for k in ("shoulder", "elbow", "wrist"))
    watch = force(wr, forearm_frame(sh, el, wr)[1])

    jp = joints_at(t_phone)
    hc, hip, knee = (jp[:, :, _J[k]] for k in ("hip_center", "right_hip", "right_knee"))
    frames = forearm_frame(hc, hip, knee)  # x along the thigh, z across it
    phone = force(0.5 * (hip + knee), frames[1])
    return {
        "acc_watch": watch,
        "acc_phone": phone,
        "gyro": _angular_rate(frames, h),
        "orientation": _euler_zxy(frames[1]),
    }


def jittered_clock(rng: np.random.Generator, rate: float, duration: float) -> np.ndarray:
    """Sample times in [0, duration]: intervals of 1/rate, each jittered by CLOCK_JITTER
    (a phone's sensor events do not arrive on a perfect grid)."""
    n = int(duration * rate * 1.2) + 4
    steps = (1.0 + np.clip(rng.normal(0.0, CLOCK_JITTER, n), -0.5, 0.5)) / rate
    t = float(rng.uniform(0.0, 1.0 / rate)) + np.concatenate([[0.0], np.cumsum(steps)])
    return t[t <= duration]


def format_timestamps(start: datetime, seconds: np.ndarray) -> list[str]:
    """Absolute timestamps as MMAct writes them (microsecond resolution)."""
    micros = np.round(seconds * 1e6).astype(np.int64)
    return [(start + timedelta(microseconds=int(us))).strftime(TIMESTAMP_FORMAT)
            for us in micros]


def csv_text(stamps: list[str], values: np.ndarray) -> str:
    return "".join(f"{ts},{x:.6f},{y:.6f},{z:.6f}\n"
                   for ts, (x, y, z) in zip(stamps, values, strict=True))


# ----------------------------------------------------------------------------- video

_PHOTO: np.ndarray | None = None


def person_photo() -> np.ndarray:
    """scikit-image's ``astronaut`` (512 x 512 RGB; public domain, NASA), as BGR."""
    global _PHOTO
    if _PHOTO is None:
        try:
            from skimage.data import astronaut
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ConfigError("synthetic MMAct videos need scikit-image "
                              "(pip install scikit-image)") from exc
        _PHOTO = np.ascontiguousarray(astronaut()[:, :, ::-1])
    return _PHOTO


def frame_transforms(skeleton: np.ndarray, size: int = VIDEO_SIZE,
                     camera: int = 1) -> list[np.ndarray]:
    """Per frame a 2x3 affine map from photo pixels to video pixels, following the body.

    Translation: the shoulder centre's travel (camera x is the performer's right = image
    left, y up = image up); scale: its depth (nearer = larger); rotation: the shoulder line's
    roll plus a swing driven by the right wrist's sideways and vertical travel, so arm-only
    actions still move the picture. ``camera`` shifts and scales the placement a little.
    """
    import cv2

    photo = person_photo()
    px_per_m = 0.55 * size
    neck, rs, ls = (skeleton[:, _J[k]] for k in ("shoulder_center", "right_shoulder",
                                                 "left_shoulder"))
    wrist = skeleton[:, _J["right_wrist"]] - neck
    base_scale = (0.62 + 0.04 * ((camera - 1) % 3)) * size / photo.shape[0]
    base_center = np.array([0.5 + 0.03 * ((camera - 1) % 2), 0.5]) * size
    roll0 = np.arctan2((rs - ls)[0, 1], (rs - ls)[0, 0])
    out = []
    for f in range(len(skeleton)):
        shift = np.clip((neck[f] - neck[0])[:2] * px_per_m * np.array([-1.0, -1.0]),
                        -0.2 * size, 0.2 * size)
        scale = base_scale * np.clip(neck[0, 2] / neck[f, 2], 0.8, 1.25)
        roll = np.arctan2((rs - ls)[f, 1], (rs - ls)[f, 0]) - roll0
        swing = 20.0 * (wrist[f, 0] - wrist[0, 0]) + 12.0 * (wrist[f, 1] - wrist[0, 1])
        angle = float(np.clip(np.degrees(roll) + swing, -15.0, 15.0))
        m = cv2.getRotationMatrix2D((photo.shape[1] / 2, photo.shape[0] / 2), angle, scale)
        m[:, 2] += base_center + shift - np.array([photo.shape[1], photo.shape[0]]) / 2
        out.append(m)
    return out


def render_frames(transforms: list[np.ndarray], size: int = VIDEO_SIZE) -> list[np.ndarray]:
    """The photo warped by each transform onto a plain grey background (BGR uint8)."""
    import cv2

    photo = person_photo()
    return [cv2.warpAffine(photo, m, (size, size), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=(128, 128, 128))
            for m in transforms]


def write_video(path: Path, frames: list[np.ndarray], fps: float = VIDEO_FPS) -> Path:
    """Write BGR frames as ``path`` (.mp4, mp4v) or, where this OpenCV cannot encode mp4v,
    as MJPG in an .avi beside it; return the path written."""
    import cv2

    h, w = frames[0].shape[:2]
    path.parent.mkdir(parents=True, exist_ok=True)
    for fourcc, target in (("mp4v", path.with_suffix(".mp4")), ("MJPG", path.with_suffix(".avi"))):
        writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
        if writer.isOpened():
            for frame in frames:
                writer.write(frame)
            writer.release()
            return target
        writer.release()
        target.unlink(missing_ok=True)
    raise ConfigError(f"{path}: this OpenCV build can write neither mp4v nor MJPG video")


# ----------------------------------------------------------------------------- the dataset


def synthetic_subject_ids(subjects: int) -> list[int]:
    """``subjects`` ids over both sides of the cross-subject split (1-16 train, 17-20 test)."""
    return spread_subject_ids(subjects, range(1, 17), range(17, 21))


def simulate_clip(
    key: ClipKey, seed: int, body: Body, style: Style, *, acc_noise_g: float,
    gyro_noise_dps: float, video: bool, cameras: tuple[str, ...], fps: float, size: int,
) -> dict[str, Any]:
    """One clip: CSV text per sensor and, with ``video``, frames per camera."""
    rng = np.random.default_rng([seed, key.action, key.subject, key.scene, key.session])
    style = jitter_style(style, rng)
    duration = float(rng.uniform(*DURATION_RANGE))
    watch_rate = float(rng.uniform(*WATCH_RATE_RANGE))
    phone_rate = float(rng.uniform(*PHONE_RATE_RANGE))
    t_watch = jittered_clock(rng, watch_rate, duration)
    t_phone = jittered_clock(rng, phone_rate, duration)
    sig = sensor_signals(body, key.action, style, duration, t_watch, t_phone)
    acc_sd, gyro_sd = acc_noise_g * STANDARD_GRAVITY, np.radians(gyro_noise_dps)
    acc_max, gyro_max = ACC_RANGE_G * STANDARD_GRAVITY, np.radians(GYRO_RANGE_DPS)
    for name, sd, lim in (("acc_watch", acc_sd, acc_max), ("acc_phone", acc_sd, acc_max),
                          ("gyro", gyro_sd, gyro_max)):
        if sd > 0:  # white noise plus a constant per-clip bias of the same size
            sig[name] = sig[name] + rng.normal(0.0, sd, 3) + rng.normal(0.0, sd, sig[name].shape)
        sig[name] = np.clip(sig[name], -lim, lim)
    # Recording start: subject's day, session's hour; the two devices' clocks differ slightly.
    start = SESSION_EPOCH + timedelta(
        days=key.subject - 1, hours=key.scene, minutes=10 * key.session,
        seconds=float(rng.uniform(0, 500)))
    phone_start = start + timedelta(microseconds=int(rng.integers(-5000, 5000)))
    texts = {
        "acc_watch": csv_text(format_timestamps(start, t_watch), sig["acc_watch"]),
        **{k: csv_text(format_timestamps(phone_start, t_phone), sig[k])
           for k in ("acc_phone", "gyro", "orientation")},
    }
    frames: dict[str, list[np.ndarray]] = {}
    if video:
        n = max(int(round(duration * fps)), 2)
        t_video = np.arange(n) / fps
        skeleton = pose(body, mmact_motion(key.action, t_video / duration, style))
        for cam in cameras:
            number = int(cam[3:]) if cam[3:].isdigit() else 1
            frames[cam] = render_frames(frame_transforms(skeleton, size, number), size)
    return {"csv": texts, "frames": frames, "duration": duration,
            "watch_rate": watch_rate, "phone_rate": phone_rate}


def _source_text(params: dict[str, Any], n_clips: int) -> str:
    lines = [
        "SYNTHETIC data: simulated by crosskd.data.synthetic.mmact (not recorded from people).",
        "Same on-disk layout as MMAct (Kong et al., ICCV 2019), see crosskd.data.mmact:",
        "{acc_phone,acc_watch,gyro,orientation}_clip/subjectN/sceneN/sessionN/<action>.csv",
        "(no header; timestamp %Y%m%d_%H:%M:%S.%f, x, y, z) and",
        "RGB/subjectN/camN/sceneN/sessionN/<action>.mp4.",
        "",
        "Watch on the right wrist (specific force, m/s^2, forearm frame),",
        f"~U{WATCH_RATE_RANGE} Hz; phone in the right front pocket (acc m/s^2, gyro rad/s,",
        f"orientation deg), ~U{PHONE_RATE_RANGE} Hz; both clocks jittered "
        f"({CLOCK_JITTER:.0%} per interval).",
        "Videos: scikit-image's astronaut photo moved rigidly with the simulated body",
        f"({VIDEO_SIZE} x {VIDEO_SIZE}, {VIDEO_FPS:g} fps); no skeleton files ship, as in MMAct.",
        f"Clips: {n_clips}.",
        "",
        "Parameters:",
    ]
    lines += [f"  {k}: {v}" for k, v in params.items()]
    return "\n".join(lines) + "\n"


def generate_mmact(
    out_dir: str | Path,
    *,
    actions: list[int],
    subjects: int,
    trials: int,
    seed: int,
    scenes: int = 1,
    cameras: tuple[str, ...] | list[str] = CAMERAS,
    video: bool = True,
    acc_noise_g: float = 0.02,
    gyro_noise_dps: float = 1.0,
    skeleton_noise_m: float = 0.0,
    fps: float = VIDEO_FPS,
    size: int = VIDEO_SIZE,
) -> int:
    """Write a synthetic MMAct copy to ``out_dir``; return the number of clips.

    ``actions``: 1-based numbers into MMACT_ACTIONS; ``subjects``: how many (ids from
    :func:`synthetic_subject_ids`, so both sides of the cross-subject split exist);
    ``trials``: sessions 1..trials per scene; ``scenes``: scenes 1..scenes. ``video=False``
    writes the sensor files only. ``skeleton_noise_m`` is accepted for the common synthetic
    parameters and unused (MMAct has no skeleton files; skeletons come from the video).
    Videos cost pose-extraction time later, so keep the clip count small.
    ``out_dir`` is replaced as a whole, atomically (a folder holding anything else is
    refused).
    """
    out_dir = Path(out_dir)
    n = len(MMACT_ACTIONS)
    if not actions or any(not isinstance(a, int) or not 1 <= a <= n for a in actions):
        raise ConfigError(f"synthetic actions must be a non-empty subset of 1-{n}, got {actions}")
    if trials < 1 or scenes < 1:
        raise ConfigError(f"synthetic trials and scenes must be >= 1, got {trials}, {scenes}")
    if min(acc_noise_g, gyro_noise_dps) < 0:
        raise ConfigError("synthetic noise levels must be >= 0")
    cameras = tuple(cameras)
    if video and (not cameras or any(not c.startswith("cam") for c in cameras)):
        raise ConfigError(f"synthetic cameras must be names like 'cam1', got {cameras}")
    check_out_dir(out_dir, _OUR_FILES, "MMAct")
    actions = sorted(set(actions))
    subject_ids = synthetic_subject_ids(subjects)
    people = {s: make_subject(seed, s) for s in subject_ids}
    clips = [ClipKey(a, s, c, e) for a in actions for s in subject_ids
             for c in range(1, scenes + 1) for e in range(1, trials + 1)]
    with atomic_dir(out_dir) as tmp:
        for key in progress(clips, desc="synthetic MMAct", unit="clip"):
            body, style = people[key.subject]
            clip = simulate_clip(key, seed, body, style, acc_noise_g=acc_noise_g,
                                 gyro_noise_dps=gyro_noise_dps, video=video, cameras=cameras,
                                 fps=fps, size=size)
            for sensor, text in clip["csv"].items():
                path = key.sensor_path(tmp, sensor)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
            for cam, frames in clip["frames"].items():
                write_video(key.video_path(tmp, cam), frames, fps)
        params = dict(actions=actions, subjects=subject_ids, sessions=trials, scenes=scenes,
                      cameras=list(cameras) if video else [], seed=seed,
                      acc_noise_g=acc_noise_g, gyro_noise_dps=gyro_noise_dps)
        (tmp / "SOURCE.txt").write_text(_source_text(params, len(clips)))
        write_manifest(tmp)
    log.info("wrote %d synthetic MMAct clips to %s", len(clips), out_dir)
    return len(clips)


__all__ = [
    "MMACT_PROGRAMS",
    "frame_transforms",
    "generate_mmact",
    "jittered_clock",
    "mmact_motion",
    "person_photo",
    "render_frames",
    "sensor_signals",
    "simulate_clip",
    "synthetic_subject_ids",
    "write_video",
]
