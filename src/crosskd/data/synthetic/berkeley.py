"""Synthetic Berkeley-MHAD: simulated clips written in the release's on-disk format.

One clip = one action by one simulated subject. The kinematic body of
:mod:`~crosskd.data.synthetic.kinematics` plays a motion program (the UTD-MHAD programs of
:mod:`~crosskd.data.synthetic.actions` where an action matches, five new ones here), and
both modalities are measured from that one motion:

* mocap: the body's joints are re-expressed on the release's 30-joint skeleton
  (:data:`~crosskd.data.berkeley_mhad.BERKELEY_BVH_HIERARCHY`) in its room frame (y up,
  performer facing +z, floor at y = 0, centimetres). The trunk bends at the lumbar joint
  (``spine`` is fixed to the pelvis; the kinematic body bends at its hip centre, so its upper
  body is shifted by the difference): every joint with several children then carries them
  rigidly, which a BVH skeleton requires. The BVH holds each joint's local rotation, found
  from the animated positions: the swing taking the rest-pose (T-pose) bone direction to the
  animated one for single-child joints, the best-fit (Kabsch) rotation of all child bones
  for the Hips and spine2, both composed down the chain and written as Z-X-Y Euler angles.
  Bone lengths are constant, so forward kinematics of the file gives back the animated
  positions (to the 1e-6 precision of the text);
* six accelerometers (:data:`~crosskd.data.berkeley_mhad.SHIMMER_LOCATIONS`): each reads the
  specific force at its body point, f = (d2 p/dt2 - g) / 9.81 with g = (0, -9.81, 0) m/s^2,
  in a frame fixed to its segment (central differences on a 10 kHz stencil, as the UTD
  generator does), plus white noise and a constant per-clip bias, saturated at +-2 g.
  Frames: wrist = forearm frame (x elbow -> wrist, z elbow hinge axis), ankle = the same
  construction on the shank (x knee -> ankle, z knee hinge axis), hip = pelvis frame
  (x performer's left, y up, z forward).

Clocks: the mocap has N frames at Frame Time = duration / N. Each sensor has its own rate
(~30 Hz, +-1 %), its own offset and a small drift; its Unix timestamps start at a drawn
2012 date. Every stream spans the same [0, duration] of motion time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from crosskd.atomic import atomic_dir
from crosskd.data.berkeley_mhad import (
    BERKELEY_ACTIONS,
    BERKELEY_BVH_HIERARCHY,
    MOCAP_UNIT_M,
    SHIMMER_LOCATIONS,
    accelerometer_name,
    skeleton_name,
)
from crosskd.data.bvh import BvhJoint, euler_angles, format_bvh
from crosskd.data.layouts import KINECT_V1
from crosskd.data.manifest import MANIFEST_NAME, write_manifest
from crosskd.data.synthetic.actions import (
    R_REST,
    Style,
    _rest,
    arm_keys,
    boxing,
    bump,
    clap,
    jitter_style,
    keys,
    osc,
    sample_subject_style,
    sit2stand,
    stand2sit,
    styled_motion,
    throw,
    wave,
)
from crosskd.data.synthetic.kinematics import (
    FLOOR_Y,
    FOOT_DIRECTION,
    Body,
    Motion,
    forearm_frame,
    pose,
    sample_body,
)
from crosskd.data.synthetic.output import check_out_dir
from crosskd.data.synthetic.subjects import spread_subject_ids
from crosskd.data.synthetic.utd import GRAVITY, GRAVITY_VECTOR, STENCIL_STEP
from crosskd.errors import ConfigError
from crosskd.progress import progress

log = logging.getLogger(__name__)

SALT = 0xBE  # in every seed: other people and clips than the synthetic UTD-MHAD's
MOCAP_RATE_HZ = 60.0  # the release records 480 Hz; 60 = the reader's default rate, 8x smaller files
ACC_RATE_HZ = 30.0
ACC_RATE_JITTER = 0.01  # each sensor's rate within +-1 % of nominal
ACC_RANGE_G = 2.0
CLOCK_OFFSET_S = 0.02  # each sensor's clock offset, +-
CLOCK_DRIFT = 1e-4  # each sensor's clock rate error, +-
START_UNIX_S = 1_335_830_400.0  # 2012-05-01 00:00 UTC; clips start within 30 days of it
# Base durations in seconds per action (before subject speed and trial jitter).
BASE_DURATION: dict[int, float] = {
    1: 5.0, 2: 6.0, 3: 7.0, 4: 6.0, 5: 6.0, 6: 5.5, 7: 5.0, 8: 5.0, 9: 8.0, 10: 4.5, 11: 4.5,
}
DURATION_RANGE = (3.0, 12.0)
ROOM_OFFSET = np.array([0.55, 0.0, 0.10])  # metres: about where the release's performers stand
CAMERA_Z0 = 2.85  # kinematics' camera-frame depth of a performer, mapped to ROOM_OFFSET
ROT_ORDER = "ZXY"
ROT_CHANNELS = ("Zrotation", "Xrotation", "Yrotation")
ROOT_CHANNELS = ("Xposition", "Yposition", "Zposition", *ROT_CHANNELS)
# Rest-pose proportions not in Body: clavicle root (fraction of shoulder_half sideways and of
# shoulder_drop down from the neck), head joint (fraction of the neck length above it).
CLAVICLE_OUT, CLAVICLE_DROP, HEAD_BASE = 0.25, 1.3, 0.45
LEAVES = ("Head", "RightHand", "LeftHand", "RightToeBase", "LeftToeBase")

_K = {name: i for i, name in enumerate(KINECT_V1.joints)}
_B = {name: i for i, (name, _) in enumerate(BERKELEY_BVH_HIERARCHY)}
_OUR_FILES = {"Accelerometer", "Mocap", "SOURCE.txt", MANIFEST_NAME}


# ----------------------------------------------------------------------------- programs



def jump_in_place(s: np.ndarray, st: Style) -> Motion:
    """Whole jumps: crouch, take off (feet and pelvis rise together), land in a crouch."""
    m = _rest(s)
    n = max(round(4 * st.cycles), 1)
    u = np.clip((s - 0.12) / 0.76, 0.0, 1.0) * n
    frac = u - np.floor(u)  # C2 across jumps: every bump has triple zeros at its ends
    crouch = bump(frac, 0.0, 0.4) + bump(frac, 0.66, 1.0)
    flight = bump(frac, 0.38, 0.68)
    m.pelvis[:, 1] = -0.1 * crouch + 0.1 * flight
    m.r_ankle[:, 1] = m.l_ankle[:, 1] = 0.1 * flight
    m.lean[:, 0] = 0.25 * crouch
    m.r_wrist = R_REST + np.stack([0 * s, 0.06 * flight, 0.2 * flight - 0.12 * crouch], -1)
    m.l_wrist = m.r_wrist * (-1.0, 1.0, 1.0)
    return m


def jumping_jacks(s: np.ndarray, st: Style) -> Motion:
    """Hop the feet apart while both arms sweep sideways overhead, and back, ~4 times."""
    m = _rest(s)
    ph, env = osc(s, 0.12, 0.88, max(round(4 * st.cycles), 1), ramp=0.06)
    spread = env * (1.0 - np.cos(ph)) / 2  # 0 closed, 1 open
    hop = env * np.sin(ph) ** 2  # feet leave the floor while they move
    m.r_ankle[:, 0], m.l_ankle[:, 0] = 0.22 * spread, -0.22 * spread
    m.r_ankle[:, 1] = m.l_ankle[:, 1] = 0.05 * hop
    m.pelvis[:, 1] = 0.05 * hop - 0.04 * spread  # feet apart: the hips sink a little
    theta = np.arctan2(R_REST[0], -R_REST[1]) + 2.6 * spread  # arm angle from hanging
    r = np.linalg.norm(R_REST)
    m.r_wrist = np.stack([r * np.sin(theta), -r * np.cos(theta), 0.1 * spread], -1)
    m.l_wrist = m.r_wrist * (-1.0, 1.0, 1.0)
    return m


def bend_down(s: np.ndarray, st: Style) -> Motion:
    """Hands up overhead, bend forward all the way down (hands towards the floor), back up."""
    m = _rest(s)
    up = np.array([0.1, 0.95, 0.15])
    m.r_wrist = arm_keys(s, [(0.06, R_REST), (0.2, up), (0.8, up), (0.94, R_REST)])
    m.l_wrist = m.r_wrist * (-1.0, 1.0, 1.0)
    m.lean[:, 0] = keys(s, [(0.25, 0.0), (0.45, 1.3), (0.55, 1.3), (0.75, 0.0)])
    m.pelvis = keys(s, [(0.25, (0, 0, 0)), (0.45, (0, -0.04, -0.14)), (0.55, (0, -0.04, -0.14)),
                        (0.75, (0, 0, 0))])
    return m


def wave_two_hands(s: np.ndarray, st: Style) -> Motion:
    """Both arms raised, waving out and in (mirror-symmetric) above the head."""
    m = _rest(s)
    up = np.array([0.3, 0.8, 0.2])
    m.r_wrist = arm_keys(s, [(0.08, R_REST), (0.22, up), (0.8, up), (0.94, R_REST)])
    ph, env = osc(s, 0.2, 0.82, 4.0 * st.cycles)
    m.r_wrist[:, 0] += 0.22 * env * np.sin(ph)
    m.l_wrist = m.r_wrist * (-1.0, 1.0, 1.0)
    return m


def sit_down_stand_up(s: np.ndarray, st: Style) -> Motion:
    """UTD's stand2sit in the first half, sit2stand in the second (both hold at their ends)."""
    first = (s < 0.5)[:, None]
    a = stand2sit(np.clip(2.0 * s, 0.0, 1.0), st)
    b = sit2stand(np.clip(2.0 * s - 1.0, 0.0, 1.0), st)
    fields = ("pelvis", "lean", "r_wrist", "l_wrist", "r_ankle", "l_ankle")
    return Motion(**{f: np.where(first, getattr(a, f), getattr(b, f)) for f in fields})


Program = Callable[[np.ndarray, Style], Motion]
# Berkeley action number -> program (UTD-MHAD's where the action is the same movement).
PROGRAMS: dict[int, Program] = {
    1: jump_in_place, 2: jumping_jacks, 3: bend_down, 4: boxing, 5: wave_two_hands, 6: wave,
    7: clap, 8: throw, 9: sit_down_stand_up, 10: stand2sit, 11: sit2stand,
}


def berkeley_motion(action: int, s: np.ndarray, style: Style | None = None) -> Motion:
    """Action ``action`` (1-11) at phases ``s`` with a performer's ``style`` (the UTD-MHAD
    programs' styling, over this dataset's program table)."""
    return styled_motion(PROGRAMS[action], _rest, s, style)


# ----------------------------------------------------------------------------- geometry


def kabsch(rest: np.ndarray, moved: np.ndarray) -> np.ndarray:
    """(n, 3, 3) rotations R with R @ rest[i] ~ moved[:, i] (least squares, proper rotation).

    ``rest`` (m, 3), ``moved`` (n, m, 3); exact when the moved vectors are a rotated copy.
    """
    h = np.einsum("mi,nmj->nij", rest, moved)
    u, _, vt = np.linalg.svd(h)
    v = np.swapaxes(vt, -1, -2)
    d = np.sign(np.linalg.det(v @ np.swapaxes(u, -1, -2)))
    fix = np.broadcast_to(np.eye(3), h.shape).copy()
    fix[:, 2, 2] = d
    return v @ fix @ np.swapaxes(u, -1, -2)


def swing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n, 3, 3) minimal rotations taking unit vector ``a`` (3,) to unit vectors ``b`` (n, 3).

    Rodrigues with the axis a x b; the antiparallel case turns 180 degrees about an axis
    perpendicular to ``a``.
    """
    v = np.cross(a, b)
    c = b @ a
    k = np.zeros(b.shape[:-1] + (3, 3))
    k[..., 0, 1], k[..., 0, 2], k[..., 1, 2] = -v[..., 2], v[..., 1], -v[..., 0]
    k[..., 1, 0], k[..., 2, 0], k[..., 2, 1] = v[..., 2], -v[..., 1], v[..., 0]
    flip = 1.0 + c < 1e-12
    out = np.eye(3) + k + (k @ k) / np.where(flip, 1.0, 1.0 + c)[..., None, None]
    if np.any(flip):
        perp = np.cross(a, np.eye(3)[np.argmin(np.abs(a))])
        perp /= np.linalg.norm(perp)
        out[flip] = 2.0 * np.outer(perp, perp) - np.eye(3)
    return out


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def to_room(p: np.ndarray) -> np.ndarray:
    """Kinematics' camera frame (performer faces -z, right +x, floor at FLOOR_Y) -> the
    release's room frame (performer faces +z, right -x, floor at y = 0), metres."""
    p = np.asarray(p, dtype=float)
    room = np.stack([-p[..., 0], p[..., 1] - FLOOR_Y, CAMERA_Z0 - p[..., 2]], axis=-1)
    return room + ROOM_OFFSET


def rest_pose(body: Body) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """T-pose joint positions relative to Hips [m] (room axes: x = performer's left, y up,
    z forward), and the End Site offsets of the leaf joints.

    The lengths are the body's, so each bone is as long as in the animation; the T-pose keeps
    every animated bone direction far from its antiparallel (where a swing is undefined).
    """
    b, x0 = body, np.zeros(3)
    up = np.array([0.0, 1.0, 0.0])
    p: dict[str, np.ndarray] = {"Hips": x0, "spine": b.spine * up}
    p["spine1"] = p["spine"] + 0.3 * b.chest * up
    p["spine2"] = p["spine"] + 0.6 * b.chest * up
    p["Neck"] = p["spine"] + b.chest * up
    p["Head"] = p["Neck"] + np.array([0.0, HEAD_BASE * b.neck, 0.01 * b.scale])
    foot = b.foot * np.array([-FOOT_DIRECTION[0], FOOT_DIRECTION[1], FOOT_DIRECTION[2]])
    ends = {"Head": np.array([0.0, 0.1 * b.scale, 0.0])}
    for side, x in (("Right", -1.0), ("Left", 1.0)):
        out = np.array([x, 0.0, 0.0])
        p[f"{side}Shoulder"] = p["Neck"] + (x * CLAVICLE_OUT * b.shoulder_half,
                                            -CLAVICLE_DROP * b.shoulder_drop, 0.0)
        arm = p["Neck"] + np.array([x * b.shoulder_half, -b.shoulder_drop, 0.0])
        p[f"{side}Arm"] = arm
        p[f"{side}ArmRoll"] = arm + 0.5 * b.upper_arm * out
        p[f"{side}ForeArm"] = arm + b.upper_arm * out
        p[f"{side}ForeArmRoll"] = p[f"{side}ForeArm"] + 0.5 * b.forearm * out
        p[f"{side}Hand"] = p[f"{side}ForeArm"] + b.forearm * out
        hip = np.array([x * b.hip_half, -b.hip_drop, 0.0])
        p[f"{side}UpLeg"] = hip
        p[f"{side}UpLegRoll"] = hip - 0.5 * b.thigh * up
        p[f"{side}Leg"] = hip - b.thigh * up
        p[f"{side}LegRoll"] = p[f"{side}Leg"] - 0.5 * b.shin * up
        p[f"{side}Foot"] = p[f"{side}Leg"] - b.shin * up
        p[f"{side}ToeBase"] = p[f"{side}Foot"] + foot
        ends[f"{side}Hand"] = b.hand * out
        ends[f"{side}ToeBase"] = np.array([0.0, 0.0, 0.04 * b.scale])
    return p, ends


def _xyz(v: np.ndarray) -> tuple[float, float, float]:
    return (float(v[0]), float(v[1]), float(v[2]))


def bvh_skeleton(body: Body) -> tuple[BvhJoint, ...]:
    """The subject's BVH hierarchy (centimetres): rest-pose offsets, Z-X-Y rotation channels,
    End Sites after the leaves, in the release's joint order."""
    rest, ends = rest_pose(body)
    cm = 1.0 / MOCAP_UNIT_M
    joints: list[BvhJoint] = []
    where: dict[str, int] = {}
    for name, parent in BERKELEY_BVH_HIERARCHY:
        where[name] = len(joints)
        if parent is None:
            joints.append(BvhJoint(name, -1, (0.0, 0.0, 0.0), ROOT_CHANNELS))
        else:
            joints.append(BvhJoint(name, where[parent], _xyz((rest[name] - rest[parent]) * cm),
                                   ROT_CHANNELS))
        if name in ends:
            joints.append(BvhJoint(f"{name}_End", where[name], _xyz(ends[name] * cm), (),
                                   end_site=True))
    return tuple(joints)


def berkeley_joints(kinect: np.ndarray, body: Body) -> np.ndarray:
    """Kinect-v1 joints (n, 20, 3) of the body model, room frame [m] -> the release's 30
    joints (n, 30, 3), in BERKELEY_BVH_HIERARCHY order.

    The pelvis (hips and lumbar spine) and the torso (spine1 up to the shoulders and head)
    are rigid copies of the rest pose, turned by the rotations the body model gave them; the
    upper body is shifted so the trunk bends at the lumbar joint; elbows, wrists, knees,
    ankles and feet are the model's; the *Roll joints sit half-way along their bones.
    """
    rest, _ = rest_pose(body)
    k = kinect
    hips = k[:, _K["hip_center"]]
    pelvis = kabsch(
        np.stack([rest["RightUpLeg"], rest["LeftUpLeg"]]),
        np.stack([k[:, _K["right_hip"]] - hips, k[:, _K["left_hip"]] - hips], axis=1),
    )
    torso = kabsch(
        np.stack([rest["RightArm"] - rest["LeftArm"], rest["Neck"] - rest["spine"]]),
        np.stack([k[:, _K["right_shoulder"]] - k[:, _K["left_shoulder"]],
                  k[:, _K["shoulder_center"]] - k[:, _K["spine"]]], axis=1),
    )
    out = np.empty((len(k), len(_B), 3))

    def put(name: str, value: np.ndarray) -> None:
        out[:, _B[name]] = value

    put("Hips", hips)
    spine = hips + np.einsum("nij,j->ni", pelvis, rest["spine"])
    shift = spine - k[:, _K["spine"]]
    for name in ("spine", "spine1", "spine2", "Neck", "Head", "RightShoulder", "RightArm",
                 "LeftShoulder", "LeftArm"):
        put(name, spine + np.einsum("nij,j->ni", torso, rest[name] - rest["spine"]))
    for side in ("Right", "Left"):
        s = side.lower()
        arm = out[:, _B[f"{side}Arm"]]
        elbow, wrist = k[:, _K[f"{s}_elbow"]] + shift, k[:, _K[f"{s}_wrist"]] + shift
        hip = hips + np.einsum("nij,j->ni", pelvis, rest[f"{side}UpLeg"])
        knee, ankle = k[:, _K[f"{s}_knee"]], k[:, _K[f"{s}_ankle"]]
        put(f"{side}ArmRoll", 0.5 * (arm + elbow))
        put(f"{side}ForeArm", elbow)
        put(f"{side}ForeArmRoll", 0.5 * (elbow + wrist))
        put(f"{side}Hand", wrist)
        put(f"{side}UpLeg", hip)
        put(f"{side}UpLegRoll", 0.5 * (hip + knee))
        put(f"{side}Leg", knee)
        put(f"{side}LegRoll", 0.5 * (knee + ankle))
        put(f"{side}Foot", ankle)
        put(f"{side}ToeBase", k[:, _K[f"{s}_foot"]])
    return out


def animate(body: Body, action: int, style: Style, t: np.ndarray, duration: float) -> np.ndarray:
    """The release's 30 joints (len(t), 30, 3) [m], room frame, at motion times ``t`` [s]."""
    kinect = to_room(pose(body, berkeley_motion(action, np.asarray(t) / duration, style)))
    return berkeley_joints(kinect, body)


def bvh_motion(joints: Sequence[BvhJoint], positions: np.ndarray) -> np.ndarray:
    """Channel values (F, C) whose forward kinematics puts every joint that is not an End
    Site at ``positions`` (F, J, 3), given in the units of the offsets.

    Top down: a joint's local rotation is the swing of its one child bone (rest direction ->
    animated direction, in the parent's frame), or the Kabsch fit of its child bones, or the
    identity for a leaf; its world rotation (parent's @ local) frames its children. Exact
    when the animated bones have the rest lengths and multi-child joints move rigidly.
    """
    real = [i for i, j in enumerate(joints) if not j.end_site]
    if positions.ndim != 3 or positions.shape[1:] != (len(real), 3):
        raise ValueError(f"positions must be (F, {len(real)}, 3), got {positions.shape}")
    n = positions.shape[0]
    at = {ji: positions[:, k] for k, ji in enumerate(real)}
    kids = {i: [c for c in real if joints[c].parent == i and np.any(joints[c].offset)]
            for i in real}
    world: dict[int, np.ndarray] = {}
    columns: list[np.ndarray] = []
    eye = np.broadcast_to(np.eye(3), (n, 3, 3))
    for i in real:
        j = joints[i]
        parent_rot = world[j.parent] if j.parent >= 0 else eye
        to_parent = np.swapaxes(parent_rot, -1, -2)
        if not kids[i]:
            local = eye
        else:
            rest = np.array([joints[c].offset for c in kids[i]], dtype=float)
            moved = np.stack([at[c] - at[i] for c in kids[i]], axis=1)
            moved = np.einsum("nij,nmj->nmi", to_parent, moved)
            if len(kids[i]) == 1:
                local = swing(_unit(rest[0]), _unit(moved[:, 0]))
            else:
                local = kabsch(rest, moved)
        world[i] = parent_rot @ local
        rot = [c for c in j.channels if c.endswith("rotation")]
        if len(rot) != 3 and kids[i]:
            raise ValueError(f"joint {j.name!r} needs 3 rotation channels, has {rot}")
        angles = euler_angles(local, "".join(c[0] for c in rot)) if len(rot) == 3 else None
        base = at[j.parent] if j.parent >= 0 else np.zeros((n, 3))
        trans = np.einsum("nij,nj->ni", to_parent, at[i] - base) - np.asarray(j.offset)
        for c in j.channels:
            axis = "XYZ".index(c[0])
            if c.endswith("position"):
                columns.append(trans[:, axis])
            else:
                assert angles is not None
                columns.append(angles[:, [r[0] for r in rot].index(c[0])])
    return np.stack(columns, axis=1)


# ----------------------------------------------------------------------------- sensors


def sensor_pose(positions: np.ndarray, location: str) -> tuple[np.ndarray, np.ndarray]:
    """Where a sensor sits (n, 3) and its frame (n, 3, 3; columns = sensor axes), from the
    30 joints ``positions`` (n, 30, 3) of :func:`animate`."""
    side, part = location.split("_")
    side = side.capitalize()

    def p(name: str) -> np.ndarray:
        return positions[:, _B[name]]

    if part == "wrist":
        return p(f"{side}Hand"), forearm_frame(p(f"{side}Arm"), p(f"{side}ForeArm"),
                                              p(f"{side}Hand"))
    if part == "ankle":
        return p(f"{side}Foot"), forearm_frame(p(f"{side}UpLeg"), p(f"{side}Leg"),
                                              p(f"{side}Foot"))
    if part == "hip":
        x = _unit(p("LeftUpLeg") - p("RightUpLeg"))  # performer's left
        y = p("Hips") - 0.5 * (p("LeftUpLeg") + p("RightUpLeg"))
        y = _unit(y - np.sum(y * x, -1, keepdims=True) * x)
        return p(f"{side}UpLeg"), np.stack([x, y, np.cross(x, y)], axis=-1)
    raise ValueError(f"unknown sensor location {location!r}")


def sensor_signal(
    body: Body, action: int, style: Style, duration: float, t: np.ndarray, location: str
) -> np.ndarray:
    """Noise-free specific force [g] (n, 3) in the sensor frame at motion times ``t``."""
    h = STENCIL_STEP
    t = np.asarray(t, dtype=float)
    tt = np.concatenate([t - h, t, t + h])
    joints = animate(body, action, style, tt, duration).reshape(3, len(t), -1, 3)
    (p0, _), (p1, frame), (p2, _) = (sensor_pose(joints[i], location) for i in range(3))
    accel = (p2 - 2.0 * p1 + p0) / h**2  # m/s^2, room frame
    force = (accel - GRAVITY_VECTOR) / GRAVITY
    return np.einsum("nji,nj->ni", frame, force)  # R^T f


# ----------------------------------------------------------------------------- clips


def make_subject(seed: int, subject: int) -> tuple[Body, Style]:
    """Subject ``subject``'s body and habits, from (seed, subject) only: the same person in
    every action and in every subset of the dataset."""
    rng = np.random.default_rng([seed, SALT, subject])
    return sample_body(rng), sample_subject_style(rng)


def clip_rng(seed: int, action: int, subject: int, trial: int) -> np.random.Generator:
    return np.random.default_rng([seed, SALT, action, subject, trial])


def _channel_noise(
    joints: Sequence[BvhJoint], rng: np.random.Generator, sigma_m: float, n: int
) -> np.ndarray:
    """Mocap jitter: sigma on the root position, sigma / bone length on each angle, so each
    bone end wobbles by about sigma."""
    cm = 1.0 / MOCAP_UNIT_M
    cols = []
    for i, j in enumerate(joints):
        bones = [np.linalg.norm(c.offset) / cm for c in joints if c.parent == i]
        length = max(max(bones, default=0.1), 0.05)
        for c in j.channels:
            std = sigma_m * cm if c.endswith("position") else np.degrees(sigma_m / length)
            cols.append(std)
    return rng.normal(0.0, 1.0, (n, len(cols))) * np.array(cols)


def simulate_berkeley_clip(
    seed: int,
    action: int,
    subject: int,
    trial: int,
    *,
    acc_noise_g: float = 0.02,
    skeleton_noise_m: float = 0.002,
    acc_range_g: float | None = ACC_RANGE_G,
    mocap_rate_hz: float = MOCAP_RATE_HZ,
    acc_rate_hz: float = ACC_RATE_HZ,
) -> dict[str, Any]:
    """Exactly the clip :func:`generate_berkeley_mhad` writes for these arguments, as arrays.

    Returns ``joints`` (BVH hierarchy), ``motion`` (F, C) channels, ``frame_time``,
    ``positions`` (F, 30, 3) [m] (noise-free), ``mocap_times``, ``duration``, ``body``,
    ``style`` and ``sensors``: location -> dict(shimmer, times (motion time), timestamps
    (Unix s), acc (N, 3) [g] as written, clean (N, 3) [g] before noise and saturation).
    Clock draws come before noise draws, so the noise level does not move any timestamp.
    """
    if action not in PROGRAMS:
        raise ConfigError(f"action {action} is not a Berkeley-MHAD action number (1-11)")
    body, style = make_subject(seed, subject)
    rng = clip_rng(seed, action, subject, trial)
    style = jitter_style(style, rng)
    duration = float(np.clip(BASE_DURATION[action] * style.speed, *DURATION_RANGE))
    n_frames = max(int(round(duration * mocap_rate_hz)), 2)
    frame_time = duration / n_frames
    t_mocap = (np.arange(n_frames) + 0.5) * frame_time
    start = START_UNIX_S + float(rng.uniform(0.0, 30 * 86400.0))
    clocks = {}
    for h, loc in SHIMMER_LOCATIONS.items():
        rate = acc_rate_hz * float(rng.uniform(1 - ACC_RATE_JITTER, 1 + ACC_RATE_JITTER))
        offset = float(rng.uniform(-CLOCK_OFFSET_S, CLOCK_OFFSET_S))
        drift = float(rng.uniform(-CLOCK_DRIFT, CLOCK_DRIFT))
        n = max(int(round(duration * rate)), 2)
        t = (np.arange(n) + 0.5) * (duration / n)
        clocks[loc] = (h, t, start + offset + t * (1.0 + drift))

    positions = animate(body, action, style, t_mocap, duration)
    joints = bvh_skeleton(body)
    motion = bvh_motion(joints, positions / MOCAP_UNIT_M)
    if skeleton_noise_m > 0:
        motion = motion + _channel_noise(joints, rng, skeleton_noise_m, n_frames)
    sensors = {}
    for loc, (h, t, stamps) in clocks.items():
        clean = sensor_signal(body, action, style, duration, t, loc)
        acc = clean
        if acc_noise_g > 0:
            acc = acc + rng.normal(0.0, acc_noise_g, 3) + rng.normal(0.0, acc_noise_g, acc.shape)
        if acc_range_g is not None:
            acc = np.clip(acc, -acc_range_g, acc_range_g)
        sensors[loc] = {"shimmer": h, "times": t, "timestamps": stamps, "acc": acc,
                        "clean": clean}
    return {
        "action": action, "action_name": BERKELEY_ACTIONS[action - 1], "subject": subject,
        "trial": trial, "joints": joints, "motion": motion, "frame_time": frame_time,
        "positions": positions, "mocap_times": t_mocap, "duration": duration, "body": body,
        "style": style, "sensors": sensors,
    }


def accelerometer_text(acc: np.ndarray, stamps: np.ndarray) -> str:
    """``ax ay az timestamp`` rows: g to 6 decimals, Unix seconds to 10 microseconds."""
    rows = np.column_stack([acc, stamps])
    return "".join(f"{a:.6f} {b:.6f} {c:.6f} {t:.5f}\n" for a, b, c, t in rows)


# ----------------------------------------------------------------------------- the dataset


def _source_text(params: dict[str, Any], n_clips: int) -> str:
    placement = ", ".join(f"h{h:02d} {loc}" for h, loc in SHIMMER_LOCATIONS.items())
    lines = [
        "SYNTHETIC data: simulated by crosskd.data.synthetic.berkeley (not recorded from people).",
        "Same on-disk format as Berkeley-MHAD (F. Ofli et al., WACV 2013):",
        "Mocap/SkeletalData/skl_sSS_aAA_rRR.bvh (the release's 30-joint skeleton, centimetres,",
        "y up, performer facing +z; Z-X-Y rotation channels) and",
        "Accelerometer/ShimmerHH/acc_hHH_sSS_aAA_rRR.txt (ax ay az [g] and a Unix timestamp [s]).",
        "",
        "Simulation: kinematic body model (per-subject size and proportions), one motion",
        "program per action, analytic 2-bone IK; BVH rotations solved from the joint positions.",
        f"Accelerometers (ASSUMED placement): {placement}. Each reads specific force",
        "(d2 p/dt2 - g) / 9.81 in its segment's frame, with noise, saturated at +-range.",
        f"Mocap {params['mocap_rate_hz']} Hz; accelerometers ~{params['acc_rate_hz']} Hz, each on",
        "its own clock; all streams of a clip span the same motion.",
        f"Clips: {n_clips}.",
        "",
        "Parameters:",
    ]
    lines += [f"  {k}: {v}" for k, v in params.items()]
    return "\n".join(lines) + "\n"


def generate_berkeley_mhad(
    out_dir: str | Path,
    *,
    actions: list[int],
    subjects: int,
    trials: int,
    seed: int,
    acc_noise_g: float = 0.02,
    gyro_noise_dps: float = 0.0,
    skeleton_noise_m: float = 0.002,
    acc_range_g: float | None = ACC_RANGE_G,
    mocap_rate_hz: float = MOCAP_RATE_HZ,
    acc_rate_hz: float = ACC_RATE_HZ,
) -> int:
    """Write a synthetic Berkeley-MHAD copy to ``out_dir``; return the number of clips.

    Subjects 1..``subjects``, repetitions 1..``trials``, all six accelerometers per clip,
    plus SOURCE.txt and MANIFEST.sha256. ``gyro_noise_dps`` is accepted (the pipeline passes
    the same synthetic parameters to every dataset) and unused: the release has no gyroscope.
    ``skeleton_noise_m`` jitters the BVH channels (0: forward kinematics gives the animated
    joints back). The same arguments give byte-identical files; any subset of clips is
    identical to the same clips of a larger run. ``out_dir`` is replaced as a whole,
    atomically (a folder holding anything else is refused).
    """
    out_dir = Path(out_dir)
    bad = [a for a in actions if a not in PROGRAMS]
    if bad or not actions:
        raise ConfigError(f"synthetic actions must be a non-empty subset of 1-11, got {actions}")
    if subjects < 1 or trials < 1:
        raise ConfigError(f"synthetic subjects and trials must be >= 1, got {subjects}, {trials}")
    if min(acc_noise_g, gyro_noise_dps, skeleton_noise_m) < 0:
        raise ConfigError("synthetic noise levels must be >= 0")
    if acc_range_g is not None and acc_range_g <= 0:
        raise ConfigError("synthetic acc_range_g must be > 0 (or None for no saturation)")
    if mocap_rate_hz <= 0 or acc_rate_hz <= 0:
        raise ConfigError("synthetic mocap_rate_hz and acc_rate_hz must be > 0")
    check_out_dir(out_dir, _OUR_FILES, "Berkeley-MHAD")
    actions = sorted({int(a) for a in actions})
    settings = {
        "acc_noise_g": acc_noise_g, "skeleton_noise_m": skeleton_noise_m,
        "acc_range_g": acc_range_g, "mocap_rate_hz": mocap_rate_hz, "acc_rate_hz": acc_rate_hz,
    }
    keys_ = [(a, s, r) for a in actions for s in spread_subject_ids(subjects, range(1, 8),
                                                                         range(8, 13))
             for r in range(1, trials + 1)]
    with atomic_dir(out_dir) as tmp:
        skl_dir = tmp / "Mocap" / "SkeletalData"
        skl_dir.mkdir(parents=True)
        for h in SHIMMER_LOCATIONS:
            (tmp / "Accelerometer" / f"Shimmer{h:02d}").mkdir(parents=True)
        for a, s, r in progress(keys_, desc="synthetic Berkeley-MHAD", unit="clip"):
            clip = simulate_berkeley_clip(seed, a, s, r, **settings)
            (skl_dir / skeleton_name(s, a, r)).write_text(
                format_bvh(clip["joints"], clip["motion"], clip["frame_time"])
            )
            for sensor in clip["sensors"].values():
                h = sensor["shimmer"]
                path = tmp / "Accelerometer" / f"Shimmer{h:02d}" / accelerometer_name(h, s, a, r)
                path.write_text(accelerometer_text(sensor["acc"], sensor["timestamps"]))
        params = dict(actions=actions, subjects=subjects, trials=trials, seed=seed, **settings)
        (tmp / "SOURCE.txt").write_text(_source_text(params, len(keys_)))
        write_manifest(tmp)
    log.info("wrote %d synthetic Berkeley-MHAD clips to %s", len(keys_), out_dir)
    return len(keys_)


__all__ = [
    "PROGRAMS",
    "animate",
    "berkeley_joints",
    "berkeley_motion",
    "bvh_motion",
    "bvh_skeleton",
    "clip_rng",
    "generate_berkeley_mhad",
    "kabsch",
    "make_subject",
    "rest_pose",
    "sensor_pose",
    "sensor_signal",
    "simulate_berkeley_clip",
    "swing",
    "to_room",
]
