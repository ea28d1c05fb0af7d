"""A kinematic body model that turns motion programs into Kinect v1 skeletons.

Why a body model and not recorded curves: the synthetic dataset must be physically
consistent across modalities. The wrist accelerometer and gyroscope are derived from the same
joint trajectories the skeleton stream shows, so a model that distils skeleton knowledge into
an inertial student faces the same relation between the two modalities as on real data.

Conventions (the real UTD-MHAD camera frame):

* camera frame, metres: x = the performer's right, y = up, z = depth away from the camera;
  the performer stands ~2.8 m away facing the camera, so the performer's forward is -z and
  the floor is at y ~ -1.1;
* motion programs (:mod:`crosskd.data.synthetic.actions`) are written in the *person frame*
  ``(right, up, forward)``. That frame is left-handed, so it is only used for target
  coordinates; :func:`to_camera` flips the forward axis before any rotation or cross product.

The pose is built top-down: pelvis position and torso rotation place the trunk, then
analytic two-bone IK places each elbow/knee so that bone lengths stay exactly constant
(a rigid body, unlike real Kinect data).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crosskd.data.layouts import KINECT_V1

J = {name: i for i, name in enumerate(KINECT_V1.joints)}

FLOOR_Y = -1.1  # camera-frame height of the floor in metres

# Nominal (scale 1) proportions, metres, read off the real UTD-MHAD skeletons.
_NOMINAL = {
    "spine": 0.06,  # hip_center -> spine
    "chest": 0.35,  # spine -> shoulder_center
    "neck": 0.18,  # shoulder_center -> head
    "shoulder_half": 0.165,  # shoulder_center -> shoulder, sideways
    "shoulder_drop": 0.10,  # shoulder below shoulder_center
    "hip_half": 0.08,
    "hip_drop": 0.08,  # hip joints below hip_center
    "upper_arm": 0.28,
    "forearm": 0.24,
    "hand": 0.07,
    "thigh": 0.45,
    "shin": 0.40,
    "foot": 0.09,
    "ankle_height": 0.08,  # ankle above the floor
}

# Standing hip-to-ankle distance as a fraction of thigh + shin: knees ~15 degrees from
# straight (~5 cm forward), which keeps the leg IK off its singular straight-leg
# configuration.
STANDING_LEG_REACH = 0.99

# Elbow poles (torso person frame, right arm; the left arm mirrors x). The elbow bends
# towards the pole: back for low targets (a hanging or curling arm), down and out for targets
# at shoulder height and above (reaching, drawing, throwing). The pole is blended between the
# two by the target's height, which keeps it >= ~24 degrees away from the shoulder -> wrist
# direction for every target the 27 programs use, so the elbow never flips. (A fixed pole
# failed: some action always points the arm along +-pole, e.g. up-forward-in.) A wide blend
# keeps the elbow's swivel, hence the gyro, moderate while the arm rises; the values were
# chosen by a small search over natural-looking poles for the lowest peak rates.
ARM_POLE_LOW = np.array([0.3, -0.3, -0.9])
ARM_POLE_HIGH = np.array([0.5, -0.85, -0.2])
ARM_POLE_BLEND = (-0.45, 0.7)  # unit-target height where the blend starts, and its width
# Knees bend towards a forward (slightly outward) pole.
LEG_POLE = {"right": (0.1, 0.0, 1.0), "left": (-0.1, 0.0, 1.0)}
# Used (blended in smoothly) only when the limb points along its pole.
ARM_POLE_FALLBACK = {"right": (1.0, 0.0, 0.0), "left": (-1.0, 0.0, 0.0)}
LEG_POLE_FALLBACK = {"right": (1.0, 0.0, 0.0), "left": (-1.0, 0.0, 0.0)}

FOOT_DIRECTION = (0.0, -0.8, 0.6)  # ankle -> foot joint, person frame (ahead, slightly down)


@dataclass(frozen=True)
class Body:
    """One subject's skeleton: segment lengths (metres) and where they stand.

    ``scale`` is the overall height factor; segment lengths are ``scale`` times the nominal
    proportions times a small per-segment jitter (people differ in proportions, not only size).
    """

    scale: float
    spine: float
    chest: float
    neck: float
    shoulder_half: float
    shoulder_drop: float
    hip_half: float
    hip_drop: float
    upper_arm: float
    forearm: float
    hand: float
    thigh: float
    shin: float
    foot: float
    ankle_height: float
    position: tuple[float, float, float] = (-0.05, FLOOR_Y, 2.85)  # floor point under pelvis
    yaw: float = 0.0  # radians, positive turns the performer to their left

    @property
    def arm_length(self) -> float:
        return self.upper_arm + self.forearm

    @property
    def leg_length(self) -> float:
        return self.thigh + self.shin

    @property
    def hip_center_height(self) -> float:
        """Standing height of hip_center above the floor."""
        return self.ankle_height + STANDING_LEG_REACH * self.leg_length + self.hip_drop

    @property
    def height(self) -> float:
        """Floor to head joint, standing."""
        return self.hip_center_height + self.spine + self.chest + self.neck


def sample_body(rng: np.random.Generator, scale_range: tuple[float, float] = (0.85, 1.15)) -> Body:
    """Draw a subject: height scale, +-4 % per-segment proportions, placement in the room."""
    scale = float(rng.uniform(*scale_range))
    lengths = {
        k: float(v * scale * (1.0 if k == "ankle_height" else rng.uniform(0.96, 1.04)))
        for k, v in _NOMINAL.items()
    }
    position = (
        float(rng.uniform(-0.15, 0.05)),
        float(FLOOR_Y + rng.uniform(-0.03, 0.03)),
        float(rng.uniform(2.6, 3.05)),
    )
    return Body(scale=scale, position=position, yaw=float(rng.uniform(-0.12, 0.12)), **lengths)


# ----------------------------------------------------------------------------- geometry


def to_camera(v: np.ndarray) -> np.ndarray:
    """Person frame (right, up, forward) -> camera axes (x, y, z): forward is -z."""
    v = np.asarray(v, dtype=float)
    return v * np.array([1.0, 1.0, -1.0])


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _rot(a: np.ndarray, axis: int) -> np.ndarray:
    """(..., 3, 3) right-handed rotations by angles ``a`` about camera axis 0, 1 or 2."""
    a = np.asarray(a, dtype=float)
    c, s = np.cos(a), np.sin(a)
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    out = np.zeros(a.shape + (3, 3))
    out[..., axis, axis] = 1.0
    out[..., i, i] = out[..., j, j] = c
    out[..., i, j], out[..., j, i] = -s, s
    return out


def _rot_x(a: np.ndarray) -> np.ndarray:
    return _rot(a, 0)


def _rot_y(a: np.ndarray) -> np.ndarray:
    return _rot(a, 1)


def _rot_z(a: np.ndarray) -> np.ndarray:
    return _rot(a, 2)


def torso_rotation(lean: np.ndarray) -> np.ndarray:
    """(..., 3) angles (forward, right, twist) in radians -> (..., 3, 3) camera-frame rotations.

    forward > 0 bends the trunk forward (towards -z), right > 0 leans it to the performer's
    right (+x), twist > 0 turns the chest to the performer's left (a right-handed throw's
    follow-through). Twist is applied last, about the vertical axis.
    """
    lean = np.asarray(lean, dtype=float)
    return _rot_y(lean[..., 2]) @ _rot_x(-lean[..., 0]) @ _rot_z(-lean[..., 1])


def _apply(rot: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.einsum("...ij,...j->...i", rot, v)


def _soft_clip(r: np.ndarray, lo: float, hi: float, margin: float) -> np.ndarray:
    """Identity on [lo + margin, hi - margin], tanh-saturating towards (lo, hi) outside.

    tanh has zero curvature at 0, so the map is C2: targets beyond reach still give smooth
    trajectories (and finite accelerations) instead of a kink at full extension.
    """
    a, b = lo + margin, hi - margin
    out = np.array(r, dtype=float, copy=True)
    above, below = r > b, r < a
    out[above] = b + margin * np.tanh((r[above] - b) / margin)
    out[below] = a - margin * np.tanh((a - r[below]) / margin)
    return out


def two_bone_ik(
    root: np.ndarray,
    target: np.ndarray,
    upper: float,
    lower: float,
    pole: np.ndarray,
    fallback_pole: np.ndarray,
    *,
    max_reach: float = 0.995,
    margin: float = 0.05,
) -> tuple[np.ndarray, np.ndarray]:
    """Analytic two-bone IK: (middle joint, end joint) for (..., 3) roots and targets.

    The end joint lies on the root->target ray at a reachable distance (soft-clipped so the
    limb never locks fully straight); the middle joint lies in the plane spanned by that ray
    and ``pole``, on the pole's side. Bone lengths are exact by construction. Where the ray
    nearly aligns with the pole, ``fallback_pole`` is blended in smoothly.
    """
    d = target - root
    dist = np.linalg.norm(d, axis=-1)
    u = d / np.maximum(dist, 1e-9)[..., None]
    total = upper + lower
    r_min = (abs(upper - lower) + 0.02) / total
    r = _soft_clip(dist / total, r_min, max_reach, margin)
    dist = r * total
    pole = np.broadcast_to(pole, u.shape)
    perp = pole - np.sum(pole * u, -1, keepdims=True) * u
    weak = np.linalg.norm(perp, axis=-1) / np.linalg.norm(pole, axis=-1)
    w = 1.0 - smootherstep(weak / 0.35)  # 1 when the limb points along its pole
    fb = np.broadcast_to(fallback_pole, u.shape)
    fb_perp = fb - np.sum(fb * u, -1, keepdims=True) * u
    v = _unit(perp + w[..., None] * fb_perp)
    cos_a = np.clip((upper**2 + dist**2 - lower**2) / (2 * upper * dist), -1.0, 1.0)
    sin_a = np.sqrt(1.0 - cos_a**2)
    mid = root + upper * (cos_a[..., None] * u + sin_a[..., None] * v)
    end = root + dist[..., None] * u
    return mid, end


def arm_pole(target: np.ndarray, side: str) -> np.ndarray:
    """Default elbow pole (torso person frame) for wrist targets (..., 3) of arm ``side``."""
    target = np.asarray(target, dtype=float)
    height = target[..., 1] / np.maximum(np.linalg.norm(target, axis=-1), 1e-9)
    w = smootherstep((height - ARM_POLE_BLEND[0]) / ARM_POLE_BLEND[1])[..., None]
    pole = (1.0 - w) * ARM_POLE_LOW + w * ARM_POLE_HIGH
    return pole * (np.array([-1.0, 1.0, 1.0]) if side == "left" else 1.0)


def smootherstep(x: np.ndarray) -> np.ndarray:
    """Quintic 6x^5 - 15x^4 + 10x^3 on [0, 1], clamped: C2, zero slope and curvature at ends."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * x * (x * (6.0 * x - 15.0) + 10.0)


# ----------------------------------------------------------------------------- the pose


@dataclass
class Motion:
    """What a motion program prescribes at each of T instants (arrays lead with T).

    * ``pelvis`` (T, 3): hip_center offset from standing, person frame, metres at scale 1
      (multiplied by ``Body.scale``);
    * ``lean`` (T, 3): torso angles (forward, right, twist), radians (:func:`torso_rotation`);
    * ``r_wrist``/``l_wrist`` (T, 3): wrist targets relative to that arm's shoulder, in the
      torso's person frame, in units of the arm length (upper arm + forearm);
    * ``r_ankle``/``l_ankle`` (T, 3): ankle offsets from their standing position, person
      frame (not leaning), metres at scale 1;
    * ``r_pole``/``l_pole`` (3,) or None: elbow pole override (torso person frame), for
      actions whose elbow does not follow the default down/out/back pole (arm curl).
    """

    pelvis: np.ndarray
    lean: np.ndarray
    r_wrist: np.ndarray
    l_wrist: np.ndarray
    r_ankle: np.ndarray
    l_ankle: np.ndarray
    r_pole: np.ndarray | None = None
    l_pole: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.pelvis)


def pose(body: Body, motion: Motion) -> np.ndarray:
    """Joint positions (T, 20, 3) in KINECT_V1 order, camera frame, metres."""
    n = len(motion)
    out = np.empty((n, len(KINECT_V1.joints), 3))
    root_rot = _rot_y(np.full(n, body.yaw))
    origin = np.asarray(body.position, dtype=float)

    def place(rot: np.ndarray, base: np.ndarray, person_vec) -> np.ndarray:
        return base + _apply(rot, to_camera(np.broadcast_to(person_vec, (n, 3))))

    # Trunk: hip_center from the pelvis program, then a rigid chain rotated by the torso.
    pelvis = np.asarray(motion.pelvis) * body.scale + np.array([0.0, body.hip_center_height, 0])
    hip_c = place(root_rot, origin, pelvis)
    torso = root_rot @ torso_rotation(motion.lean)
    spine = place(torso, hip_c, (0.0, body.spine, 0.0))
    neck = place(torso, spine, (0.0, body.chest, 0.0))
    out[:, J["hip_center"]] = hip_c
    out[:, J["spine"]] = spine
    out[:, J["shoulder_center"]] = neck
    out[:, J["head"]] = place(torso, neck, (0.0, body.neck, 0.02 * body.scale))

    # Arms: shoulders on the trunk, wrists by IK towards the program's targets.
    arm = body.arm_length
    for side, sign in (("right", 1.0), ("left", -1.0)):
        p = side[0]
        shoulder = place(torso, neck, (sign * body.shoulder_half, -body.shoulder_drop, 0.0))
        wrist_t = getattr(motion, f"{p}_wrist")
        target = place(torso, shoulder, wrist_t * arm)
        pole_p = getattr(motion, f"{p}_pole")
        pole_p = arm_pole(wrist_t, side) if pole_p is None else pole_p
        pole = _apply(torso, to_camera(np.broadcast_to(pole_p, (n, 3))))
        fallback = _apply(torso, to_camera(np.broadcast_to(ARM_POLE_FALLBACK[side], (n, 3))))
        elbow, wrist = two_bone_ik(
            shoulder, target, body.upper_arm, body.forearm, pole, fallback
        )
        out[:, J[f"{side}_shoulder"]] = shoulder
        out[:, J[f"{side}_elbow"]] = elbow
        out[:, J[f"{side}_wrist"]] = wrist
        out[:, J[f"{side}_hand"]] = wrist + body.hand * _unit(wrist - elbow)

    # Legs: the pelvis follows a fraction of the chest twist; ankles are planted unless moved.
    pelvis_rot = root_rot @ _rot_y(0.3 * np.asarray(motion.lean)[:, 2])
    for side, sign in (("right", 1.0), ("left", -1.0)):
        p = side[0]
        hip = place(pelvis_rot, hip_c, (sign * body.hip_half, -body.hip_drop, 0.0))
        stand = np.array([sign * body.hip_half, body.ankle_height, 0.0])
        ankle_t = place(root_rot, origin, stand + getattr(motion, f"{p}_ankle") * body.scale)
        pole = _apply(root_rot, to_camera(np.broadcast_to(LEG_POLE[side], (n, 3))))
        fallback = _apply(root_rot, to_camera(np.broadcast_to(LEG_POLE_FALLBACK[side], (n, 3))))
        knee, ankle = two_bone_ik(
            hip, ankle_t, body.thigh, body.shin, pole, fallback, max_reach=0.999, margin=0.008
        )
        out[:, J[f"{side}_hip"]] = hip
        out[:, J[f"{side}_knee"]] = knee
        out[:, J[f"{side}_ankle"]] = ankle
        out[:, J[f"{side}_foot"]] = place(root_rot, ankle, np.array(FOOT_DIRECTION) * body.foot)
    return out


def forearm_frame(shoulder: np.ndarray, elbow: np.ndarray, wrist: np.ndarray) -> np.ndarray:
    """Sensor frame of a wrist-worn IMU: (..., 3, 3) rotation, columns = sensor x, y, z.

    x = unit(wrist - elbow), along the forearm towards the hand;
    z = unit(cross(elbow - shoulder, wrist - elbow)), the elbow's hinge axis;
    y = cross(z, x), completing a right-handed frame in the elbow's bending plane.

    Why the hinge axis and not, say, cross(x, world_up): a hanging arm has a vertical
    forearm, the commonest pose of all, where any world-fixed reference degenerates. The
    hinge axis is defined whenever the elbow is bent, and the IK never straightens it fully.
    For a relaxed right arm hanging at the side, x points down, z right-forward and
    y left-forward, so a still sensor reads about (-1, 0, 0) g, as the real sensor does.
    """
    x = _unit(wrist - elbow)
    z = _unit(np.cross(elbow - shoulder, wrist - elbow))
    y = np.cross(z, x)
    return np.stack([x, y, z], axis=-1)
