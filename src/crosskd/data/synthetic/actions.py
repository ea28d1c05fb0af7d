"""Motion programs for the 27 UTD-MHAD actions.

Each program maps normalised phase ``s`` in [0, 1] (a vector) to a
:class:`~crosskd.data.synthetic.kinematics.Motion`: pelvis offset, torso lean and wrist /
ankle targets (units and frames are documented on ``Motion``). Programs are built only from
C2 primitives (quintic smootherstep keyframes, windowed sines, ``64 u^3 (1-u)^3`` bumps), so
second derivatives, i.e. the simulated accelerometer, are continuous. Every program holds a
constant pose for the first and last few percent of the clip: clips start and end at rest,
as the real recordings do, and a still sensor reads exactly 1 g there.

Person-frame axes (right, up, forward); "cw"/"ccw" and "left"/"right" are as the performer
sees them (the camera sees the mirror image). All actions are performed with the right hand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from crosskd.data.synthetic.kinematics import Motion, smootherstep, torso_rotation
from crosskd.data.utd_mhad import UTD_MHAD_ACTIONS

# Wrist rest targets relative to the shoulder (units of arm length): arms hang relaxed, a
# little out and forward, elbows slightly bent.
R_REST = np.array([0.1, -0.975, 0.0])
L_REST = R_REST * np.array([-1.0, 1.0, 1.0])
SHOULDER_GAP = 0.64  # nominal shoulder-to-shoulder distance in arm lengths (2 * 0.165 / 0.52)

# Base durations in seconds (before subject speed and trial jitter), per action number;
# with speed ~U(0.8, 1.25) they span the real 2.1-6.5 s (median 3.5 s).
BASE_DURATION: dict[int, float] = {
    1: 2.9, 2: 2.9, 3: 3.4, 4: 3.4, 5: 3.1, 6: 3.4, 7: 3.4, 8: 3.8, 9: 3.6, 10: 3.6,
    11: 3.8, 12: 3.8, 13: 3.6, 14: 3.4, 15: 3.4, 16: 4.5, 17: 3.8, 18: 3.1, 19: 3.4, 20: 3.1,
    21: 4.5, 22: 4.0, 23: 4.3, 24: 3.6, 25: 3.6, 26: 4.0, 27: 4.5,
}


@dataclass(frozen=True)
class Style:
    """How one performance deviates from the template.

    ``amplitude`` scales every deviation from the rest pose; ``speed`` > 1 is slower (it
    multiplies the duration); ``timing`` warps phase (s + timing * s * (1 - s), monotone for
    |timing| < 1) so the same stroke happens earlier or later; ``offset`` shifts both wrist
    targets (mirrored for the left arm, arm lengths); ``lean`` is a constant posture bias
    (radians); ``cycles`` scales the number of repetitions of periodic actions.
    """

    amplitude: float = 1.0
    speed: float = 1.0
    timing: float = 0.0
    offset: np.ndarray = field(default_factory=lambda: np.zeros(3))
    lean: np.ndarray = field(default_factory=lambda: np.zeros(3))
    cycles: float = 1.0


def sample_subject_style(rng: np.random.Generator) -> Style:
    """A subject's habits: larger or smaller, faster or slower, own posture."""
    return Style(
        amplitude=float(rng.uniform(0.85, 1.15)),
        speed=float(rng.uniform(0.8, 1.25)),
        timing=float(rng.uniform(-0.2, 0.2)),
        offset=rng.normal(0.0, 0.025, 3),
        lean=np.array([rng.normal(0.0, 0.04), 0.0, 0.0]),
        cycles=float(rng.uniform(0.9, 1.1)),
    )


def jitter_style(style: Style, rng: np.random.Generator) -> Style:
    """Per-trial variation on top of the subject's style."""
    return replace(
        style,
        amplitude=style.amplitude * float(rng.uniform(0.94, 1.06)),
        speed=style.speed * float(rng.uniform(0.92, 1.08)),
        timing=float(np.clip(style.timing + rng.uniform(-0.08, 0.08), -0.3, 0.3)),
        offset=style.offset + rng.normal(0.0, 0.015, 3),
        lean=style.lean + np.array([rng.normal(0.0, 0.02), rng.normal(0.0, 0.02), 0.0]),
        cycles=style.cycles * float(rng.uniform(0.95, 1.05)),
    )


# ----------------------------------------------------------------------------- primitives


def keys(s: np.ndarray, points: list[tuple[float, object]]) -> np.ndarray:
    """Piecewise quintic interpolation through (phase, value) keyframes; held outside.

    Each segment is a smootherstep, so velocity and acceleration are zero at every keyframe:
    C2 overall, with natural stops at stroke corners.
    """
    vals = [np.asarray(v, dtype=float) for _, v in points]
    out = np.broadcast_to(vals[0], s.shape + vals[0].shape).copy()
    for (s0, v0), (s1, v1) in zip(points[:-1], points[1:], strict=True):
        w = smootherstep((s - s0) / (s1 - s0))
        out += w.reshape(w.shape + (1,) * (np.ndim(v0))) * (np.asarray(v1) - np.asarray(v0))
    return out


def _slerp(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Unit vectors from a to b along the great circle, at fractions w of the angle."""
    omega = np.arccos(np.clip(a @ b, -1.0, 1.0))
    if omega < 1e-6:
        return np.broadcast_to(a, w.shape + a.shape).copy()
    ww = w[:, None]
    return (np.sin((1.0 - ww) * omega) * a + np.sin(ww * omega) * b) / np.sin(omega)


def arm_keys(s: np.ndarray, points: list[tuple[float, object]]) -> np.ndarray:
    """Like :func:`keys` for wrist targets, but interpolating distance and direction from
    the shoulder separately (direction along great circles): arms swing on arcs about the
    shoulder at an even angular pace instead of cutting straight through it. A stroke
    between points at similar distance stays straight as the camera sees it.
    """
    vecs = [np.asarray(v, dtype=float) for _, v in points]
    dist = keys(s, [(t, np.linalg.norm(v)) for (t, _), v in zip(points, vecs, strict=True)])
    units = [v / np.linalg.norm(v) for v in vecs]
    way = np.broadcast_to(units[0], s.shape + (3,)).copy()
    for k in range(len(points) - 1):
        s0, s1 = points[k][0], points[k + 1][0]
        after = s > s0
        w = smootherstep((s[after] - s0) / (s1 - s0))
        way[after] = _slerp(units[k], units[k + 1], w)
    return dist[:, None] * way


def bump(s: np.ndarray, a: float, b: float) -> np.ndarray:
    """0 -> 1 -> 0 over [a, b] as 64 u^3 (1-u)^3: triple zeros at the ends, so C2."""
    u = np.clip((s - a) / (b - a), 0.0, 1.0)
    return 64.0 * u**3 * (1.0 - u) ** 3


def window(s: np.ndarray, a: float, b: float, ramp: float) -> np.ndarray:
    """1 on [a + ramp, b - ramp], smootherstep ramps to 0 at a and b."""
    return smootherstep((s - a) / ramp) * smootherstep((b - s) / ramp)


def osc(s: np.ndarray, a: float, b: float, cycles: float, ramp: float = 0.08) -> np.ndarray:
    """Phase angle 2*pi*cycles*(s - a)/(b - a) over [a, b] and its envelope (for sin/cos)."""
    return 2.0 * np.pi * cycles * (s - a) / (b - a), window(s, a, b, ramp)


def alternating_lifts(s: np.ndarray, a: float, b: float, cycles: float) -> tuple[np.ndarray, ...]:
    """Right and left foot lift profiles in [0, 1]: right in the first half of each cycle.

    Each lift is a C2 bump, so feet leave and touch the ground smoothly. Lifts only start
    after ``a`` and stop before ``b`` (whole half-cycles are kept, cut at the window).
    """
    u = np.clip((s - a) / (b - a), 0.0, 1.0) * cycles
    frac = u - np.floor(u)
    right = np.where(frac < 0.5, bump(frac, 0.0, 0.5), 0.0)
    left = np.where(frac >= 0.5, bump(frac, 0.5, 1.0), 0.0)
    inside = (u > 0) & (u < np.floor(cycles * 2) / 2)  # drop a trailing partial step
    return right * inside, left * inside


def _rest(s: np.ndarray) -> Motion:
    n = len(s)
    zeros = np.zeros((n, 3))
    return Motion(
        pelvis=zeros.copy(), lean=zeros.copy(),
        r_wrist=np.tile(R_REST, (n, 1)), l_wrist=np.tile(L_REST, (n, 1)),
        r_ankle=zeros.copy(), l_ankle=zeros.copy(),
    )


def hang(lean: np.ndarray, rest: np.ndarray = R_REST, ahead: float = 0.0) -> np.ndarray:
    """Wrist targets (torso frame) of an arm hanging under gravity while the trunk leans.

    Targets are torso-relative, so a fixed target would swing the arm forward with a
    forward lean; this rotates the world-frame rest vector back into the torso frame.
    ``ahead`` (radians, scalar or per instant) swings the hanging arm forward first.
    """
    flip = np.array([1.0, 1.0, -1.0])  # person <-> camera axes (forward is -z)
    tilt = np.array(lean, dtype=float, copy=True)
    tilt[:, 2] = 0.0  # arms turn with the chest; only gravity's direction is compensated
    tilt[:, 0] -= ahead  # leaning back by `ahead` = the arm swung forward by `ahead`
    rot = torso_rotation(tilt)
    return np.einsum("nji,j->ni", rot, rest * flip) * flip


def both_hands(right: np.ndarray, grip: tuple[float, float, float]) -> np.ndarray:
    """Left-wrist targets for a two-handed grip: the right target shifted by the shoulder gap."""
    return right + np.array([SHOULDER_GAP + grip[0], grip[1], grip[2]])


# ----------------------------------------------------------------------------- programs
# Targets: wrist (x right/out, y up, z forward) relative to its shoulder, in arm lengths.


def _swipe(s: np.ndarray, st: Style, leftwards: bool) -> Motion:
    m = _rest(s)
    right_end, left_end = (0.3, -0.3, 0.6), (-0.62, -0.3, 0.5)
    a, b = (right_end, left_end) if leftwards else (left_end, right_end)
    m.r_wrist = arm_keys(s, [(0.12, R_REST), (0.35, a), (0.62, b), (0.88, R_REST)])
    m.r_wrist[:, 2] += 0.15 * bump(s, 0.35, 0.62)  # the swipe bows forward
    m.lean[:, 2] = (0.15 if leftwards else -0.15) * bump(s, 0.3, 0.7)
    return m


def swipe_left(s: np.ndarray, st: Style) -> Motion:
    return _swipe(s, st, leftwards=True)


def swipe_right(s: np.ndarray, st: Style) -> Motion:
    return _swipe(s, st, leftwards=False)


def wave(s: np.ndarray, st: Style) -> Motion:
    m = _rest(s)
    up = np.array([0.45, 0.15, 0.35])
    m.r_wrist = arm_keys(s, [(0.08, R_REST), (0.25, up), (0.8, up), (0.95, R_REST)])
    ph, env = osc(s, 0.22, 0.83, 3.5 * st.cycles)
    m.r_wrist[:, 0] += 0.2 * env * np.sin(ph)
    m.r_wrist[:, 1] -= 0.07 * env * np.sin(ph) ** 2  # forearm pivots on the elbow: an arc
    return m


def clap(s: np.ndarray, st: Style) -> Motion:
    m = _rest(s)
    meet = np.array([-0.26, -0.3, 0.6])
    m.r_wrist = arm_keys(s, [(0.08, R_REST), (0.25, meet), (0.8, meet), (0.94, R_REST)])
    m.l_wrist = arm_keys(s, [(0.08, L_REST), (0.25, meet * [-1, 1, 1]), (0.8, meet * [-1, 1, 1]),
                             (0.94, L_REST)])
    ph, env = osc(s, 0.2, 0.85, 4.0 * st.cycles)
    gap = 0.16 * env * (1.0 + np.cos(ph)) / 2  # open at the start, hands meet 4 times
    m.r_wrist[:, 0] += gap
    m.l_wrist[:, 0] -= gap
    return m


def _overhand_throw(s: np.ndarray, t0: float, k: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Right-wrist targets and lean of an overhand throw: windup at t0, release at t0 + 0.1k.

    Starts from rest at t0 - 0.22k, follows through across the body, back at rest at
    t0 + 0.46k (``k`` compresses the timing when the throw is only part of the action).
    """
    wrist = arm_keys(s, [(t0 - 0.22 * k, R_REST), (t0, (0.35, 0.3, -0.35)),
                         (t0 + 0.1 * k, (0.15, 0.15, 0.85)), (t0 + 0.22 * k, (-0.3, -0.55, 0.55)),
                         (t0 + 0.46 * k, R_REST)])
    lean = np.zeros((len(s), 3))
    lean[:, 2] = keys(s, [(t0 - 0.22 * k, 0.0), (t0, -0.35), (t0 + 0.18 * k, 0.3),
                          (t0 + 0.46 * k, 0.0)])
    lean[:, 0] = keys(s, [(t0 - 0.22 * k, 0.0), (t0, -0.1), (t0 + 0.2 * k, 0.25),
                          (t0 + 0.46 * k, 0.0)])
    return wrist, lean


def throw(s: np.ndarray, st: Style) -> Motion:
    m = _rest(s)
    m.r_wrist, m.lean = _overhand_throw(s, 0.4)
    m.l_wrist = arm_keys(s, [(0.15, L_REST), (0.38, (0.1, -0.1, 0.8)), (0.55, L_REST)])
    m.l_ankle = keys(s, [(0.3, (0, 0, 0)), (0.48, (0, 0, 0.22)), (0.72, (0, 0, 0.22)),
                         (0.9, (0, 0, 0))])
    m.l_ankle[:, 1] += 0.06 * (bump(s, 0.3, 0.48) + bump(s, 0.72, 0.9))
    m.pelvis[:, 2] += keys(s, [(0.35, 0.0), (0.55, 0.1), (0.7, 0.1), (0.9, 0.0)])
    return m


def arm_cross(s: np.ndarray, st: Style) -> Motion:
    m = _rest(s)
    r, l_ = (-0.6, -0.25, 0.36), (0.6, -0.3, 0.28)  # right forearm in front of the left
    m.r_wrist = arm_keys(s, [(0.1, R_REST), (0.35, r), (0.65, r), (0.9, R_REST)])
    m.l_wrist = arm_keys(s, [(0.1, L_REST), (0.35, l_), (0.65, l_), (0.9, L_REST)])
    return m


def basketball_shoot(s: np.ndarray, st: Style) -> Motion:
    m = _rest(s)
    r_set, l_set = (-0.2, -0.1, 0.4), (0.25, -0.15, 0.38)
    r_up, l_up = (-0.08, 0.8, 0.35), (0.2, 0.7, 0.3)
    m.r_wrist = arm_keys(s, [(0.1, R_REST), (0.35, r_set), (0.45, r_set), (0.56, r_up),
                             (0.66, r_up), (0.9, R_REST)])
    m.l_wrist = arm_keys(s, [(0.1, L_REST), (0.35, l_set), (0.45, l_set), (0.56, l_up),
                             (0.66, l_up), (0.9, L_REST)])
    m.pelvis[:, 1] = keys(s, [(0.25, 0.0), (0.43, -0.1), (0.56, 0.03), (0.7, 0.0)])
    m.lean[:, 0] = keys(s, [(0.25, 0.0), (0.43, 0.12), (0.56, -0.05), (0.7, 0.0)])
    return m


PLANE_Z = 0.7  # drawing plane in front of the shoulder (arm lengths)
DRAW_CENTER = np.array([-0.05, 0.0, PLANE_Z])


def draw_x(s: np.ndarray, st: Style) -> Motion:
    m = _rest(s)
    c = DRAW_CENTER
    tl, br = c + (-0.25, 0.24, 0), c + (0.25, -0.26, 0)
    tr, bl = c + (0.25, 0.24, 0), c + (-0.25, -0.26, 0)
    m.r_wrist = arm_keys(s, [(0.08, R_REST), (0.25, tl), (0.42, br), (0.55, tr), (0.72, bl),
                             (0.9, R_REST)])
    m.r_wrist[:, 2] -= 0.1 * bump(s, 0.42, 0.55)  # pen lifted between the strokes
    return m


def _circle(s: np.ndarray, st: Style, clockwise: bool) -> Motion:
    m = _rest(s)
    r, th0 = 0.24, np.pi / 2  # start at the top
    start = DRAW_CENTER + (r * np.cos(th0), r * np.sin(th0), 0.0)
    m.r_wrist = arm_keys(s, [(0.08, R_REST), (0.25, start), (0.75, start), (0.92, R_REST)])
    # Clockwise as the performer sees it: x right, y up, so the angle decreases.
    th = th0 + (-1.0 if clockwise else 1.0) * 2 * np.pi * smootherstep((s - 0.25) / 0.5)
    m.r_wrist[:, 0] += r * (np.cos(th) - np.cos(th0))
    m.r_wrist[:, 1] += r * (np.sin(th) - np.sin(th0))
    return m


def draw_circle_cw(s: np.ndarray, st: Style) -> Motion:
    return _circle(s, st, clockwise=True)


def draw_circle_ccw(s: np.ndarray, st: Style) -> Motion:
    return _circle(s, st, clockwise=False)


def draw_triangle(s: np.ndarray, st: Style) -> Motion:
    m = _rest(s)
    c = DRAW_CENTER
    top, br, bl = c + (0.0, 0.26, 0), c + (0.25, -0.2, 0), c + (-0.25, -0.2, 0)
    m.r_wrist = arm_keys(s, [(0.08, R_REST), (0.22, top), (0.4, br), (0.56, bl), (0.72, top),
                             (0.9, R_REST)])
    return m


def bowling(s: np.ndarray, st: Style) -> Motion:
    m = _rest(s)
    m.r_wrist = arm_keys(s, [(0.08, R_REST), (0.25, (-0.15, -0.35, 0.45)),
                             (0.35, (0.05, -0.45, 0.6)),
                             (0.52, (0.12, -0.72, -0.55)), (0.66, (0.05, -0.55, 0.75)),
                             (0.75, (0.05, 0.1, 0.85)), (0.93, R_REST)])
    m.l_wrist = arm_keys(s, [(0.3, L_REST), (0.62, (-0.35, -0.55, 0.45)), (0.9, L_REST)])
    m.lean[:, 0] = keys(s, [(0.3, 0.0), (0.62, 0.35), (0.78, 0.3), (0.93, 0.0)])
    m.pelvis = keys(s, [(0.3, (0, 0, 0)), (0.62, (0, -0.15, 0.2)), (0.78, (0, -0.12, 0.2)),
                        (0.93, (0, 0, 0))])
    m.l_ankle = keys(s, [(0.35, (0, 0, 0)), (0.6, (0, 0, 0.35)), (0.8, (0, 0, 0.35)),
                         (0.94, (0, 0, 0))])
    m.l_ankle[:, 1] += 0.06 * (bump(s, 0.35, 0.6) + bump(s, 0.8, 0.94))
    return m


def boxing(s: np.ndarray, st: Style) -> Motion:
    m = _rest(s)
    r_guard, l_guard = np.array([-0.15, -0.2, 0.4]), np.array([0.15, -0.2, 0.4])
    r_hit, l_hit = np.array([-0.2, -0.05, 0.9]), np.array([0.2, -0.05, 0.9])
    m.r_wrist = arm_keys(s, [(0.06, R_REST), (0.18, r_guard), (0.78, r_guard), (0.92, R_REST)])
    m.l_wrist = arm_keys(s, [(0.06, L_REST), (0.18, l_guard), (0.78, l_guard), (0.92, L_REST)])
    for k, t in enumerate((0.24, 0.36, 0.48, 0.6)):  # right, left, right, left
        b = bump(s, t, t + 0.12)[:, None]
        if k % 2 == 0:
            m.r_wrist += b * (r_hit - r_guard)
        else:
            m.l_wrist += b * (l_hit - l_guard)
        m.lean[:, 2] += (0.2 if k % 2 == 0 else -0.2) * b[:, 0]
    return m


def baseball_swing(s: np.ndarray, st: Style) -> Motion:
    m = _rest(s)
    stance, load = (-0.05, -0.1, 0.3), (0.1, 0.05, 0.3)
    contact, follow = (-0.35, -0.35, 0.7), (-0.75, 0.0, 0.35)
    m.r_wrist = arm_keys(s, [(0.06, R_REST), (0.22, stance), (0.32, stance), (0.42, load),
                             (0.52, contact), (0.62, follow), (0.72, follow), (0.92, R_REST)])
    grip = both_hands(m.r_wrist, (-0.04, -0.08, 0.0))
    held = window(s, 0.06, 0.92, 0.16)[:, None]  # the left hand joins the grip
    m.l_wrist = L_REST + held * (grip - L_REST)
    m.lean[:, 2] = keys(s, [(0.1, 0.0), (0.32, -0.2), (0.42, -0.45), (0.52, 0.2), (0.62, 0.7),
                            (0.72, 0.7), (0.92, 0.0)])
    m.lean[:, 0] = keys(s, [(0.1, 0.0), (0.25, 0.15), (0.75, 0.15), (0.92, 0.0)])
    m.pelvis[:, 1] = keys(s, [(0.1, 0.0), (0.25, -0.05), (0.75, -0.05), (0.92, 0.0)])
    m.l_ankle = keys(s, [(0.36, (0, 0, 0)), (0.5, (0, 0, 0.15)), (0.75, (0, 0, 0.15)),
                         (0.92, (0, 0, 0))])
    m.l_ankle[:, 1] += 0.04 * (bump(s, 0.36, 0.5) + bump(s, 0.75, 0.92))
    return m


def tennis_swing(s: np.ndarray, st: Style) -> Motion:
    m = _rest(s)
    m.r_wrist = arm_keys(s, [(0.1, R_REST), (0.4, (0.6, -0.15, -0.3)), (0.52, (0.2, -0.2, 0.85)),
                             (0.64, (-0.55, 0.15, 0.45)), (0.7, (-0.55, 0.15, 0.45)),
                             (0.92, R_REST)])
    m.l_wrist = arm_keys(s, [(0.15, L_REST), (0.4, (-0.05, -0.3, 0.7)), (0.6, (0.3, -0.5, 0.2)),
                             (0.9, L_REST)])
    m.lean[:, 2] = keys(s, [(0.1, 0.0), (0.4, -0.4), (0.52, 0.1), (0.64, 0.45), (0.92, 0.0)])
    m.l_ankle = keys(s, [(0.25, (0, 0, 0)), (0.45, (0, 0, 0.15)), (0.75, (0, 0, 0.15)),
                         (0.92, (0, 0, 0))])
    m.l_ankle[:, 1] += 0.04 * (bump(s, 0.25, 0.45) + bump(s, 0.75, 0.92))
    return m


def arm_curl(s: np.ndarray, st: Style) -> Motion:
    m = _rest(s)
    elbow, fore = np.array([0.08, -0.52, 0.04]), 0.46  # nominal forearm / arm length
    low, high = 0.2, 2.3  # forearm angle from hanging, radians
    ph, env = osc(s, 0.1, 0.9, 3.0 * st.cycles, ramp=0.1)
    phi = low + (high - low) * env * (1.0 - np.cos(ph)) / 2
    m.r_wrist = elbow + fore * np.stack([0 * phi, -np.cos(phi), np.sin(phi)], -1)
    return m


def tennis_serve(s: np.ndarray, st: Style) -> Motion:
    m = _rest(s)
    m.r_wrist = arm_keys(s, [(0.1, R_REST), (0.38, (0.4, 0.35, -0.25)), (0.5, (0.12, 0.86, 0.25)),
                             (0.62, (-0.45, -0.55, 0.45)), (0.7, (-0.45, -0.55, 0.45)),
                             (0.9, R_REST)])
    m.l_wrist = arm_keys(s, [(0.1, L_REST), (0.35, (-0.05, 0.9, 0.25)), (0.55, L_REST)])
    m.lean[:, 0] = keys(s, [(0.15, 0.0), (0.38, -0.15), (0.5, 0.05), (0.62, 0.35), (0.9, 0.0)])
    m.lean[:, 2] = keys(s, [(0.15, 0.0), (0.38, -0.3), (0.62, 0.35), (0.9, 0.0)])
    m.pelvis[:, 1] = 0.04 * bump(s, 0.4, 0.6)  # up on the toes at contact
    m.r_ankle[:, 1] = m.l_ankle[:, 1] = 0.035 * bump(s, 0.4, 0.6)
    return m


def push(s: np.ndarray, st: Style) -> Motion:
    m = _rest(s)
    r_chest, r_out = (-0.2, -0.35, 0.3), (-0.15, -0.25, 0.88)
    m.r_wrist = arm_keys(s, [(0.1, R_REST), (0.3, r_chest), (0.5, r_out), (0.58, r_out),
                             (0.72, r_chest), (0.9, R_REST)])
    m.l_wrist = arm_keys(s, [(0.1, L_REST), (0.3, np.multiply(r_chest, (-1, 1, 1))),
                             (0.5, np.multiply(r_out, (-1, 1, 1))),
                             (0.58, np.multiply(r_out, (-1, 1, 1))),
                             (0.72, np.multiply(r_chest, (-1, 1, 1))), (0.9, L_REST)])
    m.lean[:, 0] = 0.1 * bump(s, 0.3, 0.72)
    return m


def knock(s: np.ndarray, st: Style) -> Motion:
    m = _rest(s)
    door = (-0.05, 0.0, 0.65)
    m.r_wrist = arm_keys(s, [(0.08, R_REST), (0.25, door), (0.75, door), (0.92, R_REST)])
    ph, env = osc(s, 0.28, 0.72, 4.0 * st.cycles, ramp=0.06)
    m.r_wrist[:, 2] += 0.08 * env * (1.0 - np.cos(ph)) / 2
    return m


def catch(s: np.ndarray, st: Style) -> Motion:
    m = _rest(s)
    r_reach, r_chest = (-0.2, 0.05, 0.85), (-0.22, -0.35, 0.35)
    m.r_wrist = arm_keys(s, [(0.1, R_REST), (0.35, r_reach), (0.42, r_reach), (0.55, r_chest),
                             (0.68, r_chest), (0.9, R_REST)])
    m.l_wrist = arm_keys(s, [(0.1, L_REST), (0.35, np.multiply(r_reach, (-1, 1, 1))),
                             (0.42, np.multiply(r_reach, (-1, 1, 1))),
                             (0.55, np.multiply(r_chest, (-1, 1, 1))),
                             (0.68, np.multiply(r_chest, (-1, 1, 1))), (0.9, L_REST)])
    m.lean[:, 0] = keys(s, [(0.1, 0.0), (0.35, 0.12), (0.55, -0.03), (0.75, 0.0)])
    return m


def pickup_throw(s: np.ndarray, st: Style) -> Motion:
    """Bend down, pick an object up from the floor, stand up, throw it overhand."""
    m = _rest(s)
    m.lean[:, 0] = keys(s, [(0.06, 0.0), (0.24, 0.75), (0.32, 0.75), (0.48, 0.0)])
    m.pelvis = keys(s, [(0.06, (0, 0, 0)), (0.24, (0, -0.22, -0.1)), (0.32, (0, -0.22, -0.1)),
                        (0.48, (0, 0, 0))])
    reach = keys(s, [(0.06, 0.0), (0.24, 1.0), (0.32, 1.0), (0.48, 0.0)])[:, None]
    hanging = hang(m.lean, ahead=0.3)  # a little ahead of the feet
    m.l_wrist = hang(m.lean, L_REST)
    wrist, lean = _overhand_throw(s, 0.64, k=0.7)  # starts from rest at s = 0.486
    m.r_wrist = wrist + reach * (hanging - R_REST)
    m.lean += lean
    return m


def _in_place_gait(s: np.ndarray, st: Style, *, jog: bool) -> Motion:
    m = _rest(s)
    cycles = (4.5 if jog else 3.0) * st.cycles
    a, b = 0.1, 0.9
    right, left = alternating_lifts(s, a, b, cycles)
    lift, kick = (0.15, -0.1) if jog else (0.07, 0.03)  # jog: knee up, heel back
    m.r_ankle = np.stack([0 * s, lift * right, kick * right], -1)
    m.l_ankle = np.stack([0 * s, lift * left, kick * left], -1)
    ph, env = osc(s, a, b, cycles, ramp=0.06)
    bounce = 0.035 if jog else 0.012
    m.pelvis[:, 1] = env * (bounce * np.cos(2 * ph) - (0.03 if jog else 0.0))
    m.lean[:, 0] = (0.08 if jog else 0.02) * env
    swing = -np.sin(ph) * env  # right arm back while the right knee is up
    if jog:
        base_r = arm_keys(s, [(0.04, R_REST), (0.12, (0.1, -0.5, 0.35)), (0.88, (0.1, -0.5, 0.35)),
                              (0.96, R_REST)])
        m.r_wrist = base_r + np.stack([0 * s, 0.06 * swing, 0.22 * swing], -1)
        m.l_wrist = base_r * (-1, 1, 1) + np.stack([0 * s, -0.06 * swing, -0.22 * swing], -1)
    else:
        m.r_wrist = R_REST + np.stack([0 * s, 0.02 * swing**2, 0.12 * swing], -1)
        m.l_wrist = L_REST + np.stack([0 * s, 0.02 * swing**2, -0.12 * swing], -1)
    return m


def jog(s: np.ndarray, st: Style) -> Motion:
    return _in_place_gait(s, st, jog=True)


def walk(s: np.ndarray, st: Style) -> Motion:
    return _in_place_gait(s, st, jog=False)


def sit2stand(s: np.ndarray, st: Style) -> Motion:
    """Seated on an (invisible) chair -> standing; only legs, pelvis and trunk move."""
    m = _rest(s)
    seated = (0.0, -0.42, -0.3)
    m.pelvis = keys(s, [(0.25, seated), (0.5, (0.0, -0.3, -0.1)), (0.75, (0, 0, 0))])
    m.lean[:, 0] = keys(s, [(0.2, 0.05), (0.42, 0.55), (0.55, 0.3), (0.75, 0.0)])
    on_lap = 0.25 * (1.0 - smootherstep((s - 0.3) / 0.4))  # seated: hands a bit ahead
    m.r_wrist, m.l_wrist = hang(m.lean, ahead=on_lap), hang(m.lean, L_REST, ahead=on_lap)
    return m


def stand2sit(s: np.ndarray, st: Style) -> Motion:
    return sit2stand(1.0 - s, st)


def lunge(s: np.ndarray, st: Style) -> Motion:
    """Right leg steps forward, both knees bend, step back."""
    m = _rest(s)
    m.r_ankle = keys(s, [(0.12, (0, 0, 0)), (0.32, (0, 0, 0.55)), (0.68, (0, 0, 0.55)),
                         (0.88, (0, 0, 0))])
    m.r_ankle[:, 1] += 0.1 * (bump(s, 0.12, 0.32) + bump(s, 0.68, 0.88))
    m.l_ankle[:, 1] = 0.05 * bump(s, 0.28, 0.74)  # back heel rises
    m.pelvis = keys(s, [(0.2, (0, 0, 0)), (0.32, (0, -0.04, 0.15)), (0.46, (0, -0.28, 0.25)),
                        (0.56, (0, -0.28, 0.25)), (0.68, (0, -0.04, 0.15)), (0.85, (0, 0, 0))])
    m.lean[:, 0] = 0.08 * bump(s, 0.2, 0.85)
    m.r_wrist, m.l_wrist = hang(m.lean), hang(m.lean, L_REST)
    return m


def squat(s: np.ndarray, st: Style) -> Motion:
    """Two squats: hips down and back, trunk leans forward, feet planted."""
    m = _rest(s)
    ph, env = osc(s, 0.12, 0.88, 2.0, ramp=0.1)
    depth = env * (1.0 - np.cos(ph)) / 2
    m.pelvis = np.stack([0 * s, -0.38 * depth, -0.15 * depth], -1)
    m.lean[:, 0] = 0.4 * depth
    m.r_wrist, m.l_wrist = hang(m.lean), hang(m.lean, L_REST)
    return m


Program = Callable[[np.ndarray, Style], Motion]

# Action number -> program: each program is the function named like the action.
PROGRAMS: dict[int, Program] = {
    number: globals()[name] for number, name in enumerate(UTD_MHAD_ACTIONS, 1)
}

def styled_motion(program: Program, rest: Callable[[np.ndarray], Motion], s: np.ndarray,
                  style: Style | None = None) -> Motion:
    """``program`` at phases ``s`` with a performer's ``style``; one styling for every dataset.

    Phase is clipped to [0, 1] and warped by ``style.timing``; deviations from ``rest`` are
    scaled by ``style.amplitude`` (half as much for the arms); posture offsets are added last.
    """
    style = style or Style()
    s = np.clip(np.asarray(s, dtype=float), 0.0, 1.0)
    s = s + style.timing * s * (1.0 - s)
    m = program(s, style)
    base_motion = rest(s)
    for name in ("pelvis", "lean", "r_wrist", "l_wrist", "r_ankle", "l_ankle"):
        # Arms get half the amplitude variation: templates already use most of the reach.
        amp = 1.0 + (style.amplitude - 1.0) * (0.5 if name.endswith("wrist") else 1.0)
        base = getattr(base_motion, name)
        setattr(m, name, base + amp * (getattr(m, name) - base))
    m.r_wrist = m.r_wrist + style.offset
    m.l_wrist = m.l_wrist + style.offset * (-1.0, 1.0, 1.0)
    m.lean = m.lean + style.lean
    return m


def motion(action: int, s: np.ndarray, style: Style | None = None) -> Motion:
    """UTD-MHAD action ``action`` (1-27) at phases ``s`` with a performer's ``style``."""
    return styled_motion(PROGRAMS[action], _rest, s, style)
