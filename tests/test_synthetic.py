"""Synthetic UTD-MHAD: byte-determinism, the real on-disk format, physics and realism."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io as sio

from crosskd.data.layouts import KINECT_V1
from crosskd.data.manifest import MANIFEST_NAME, read_manifest, verify_manifest
from crosskd.data.synthetic.actions import PROGRAMS
from crosskd.data.synthetic.kinematics import FLOOR_Y
from crosskd.data.synthetic.utd import (
    MAT_HEADER,
    generate_utd_mhad,
    make_subject,
    simulate_clip,
    simulate_dataset_clip,
)
from crosskd.data.utd_mhad import UTD_MHAD_ACTIONS, read_utd_mhad
from crosskd.errors import ConfigError

J = {name: i for i, name in enumerate(KINECT_V1.joints)}
G = np.array([0.0, -9.81, 0.0])
ACTIONS = [1, 9, 27]
SUBJECTS, TRIALS = 2, 2
IDEAL = dict(acc_noise_g=0.0, gyro_noise_dps=0.0, skeleton_noise_m=0.0)
IDEAL_SENSOR = dict(IDEAL, acc_range_g=None, gyro_range_dps=None)


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("syn") / "utd_mhad"
    n = generate_utd_mhad(out, actions=ACTIONS, subjects=SUBJECTS, trials=TRIALS, seed=7)
    assert n == len(ACTIONS) * SUBJECTS * TRIALS
    return out


def _clip(seed: int, action: int, subject: int = 1, trial: int = 1, **sensor) -> dict:
    return simulate_dataset_clip(seed, action, subject, trial, **(sensor or IDEAL_SENSOR))


def _forearm_frame(skel: np.ndarray) -> np.ndarray:
    """Sensor frame rebuilt from the skeleton alone (the documented construction)."""
    sh, el, wr = (skel[:, J[f"right_{k}"]] for k in ("shoulder", "elbow", "wrist"))
    x = (wr - el) / np.linalg.norm(wr - el, axis=1, keepdims=True)
    z = np.cross(el - sh, wr - el)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    return np.stack([x, np.cross(z, x), z], axis=-1)


def _specific_force(skel: np.ndarray, rate: float) -> np.ndarray:
    """(d2 wrist/dt2 - g) in g, camera frame, by differentiating the skeleton twice."""
    dt = 1.0 / rate
    wrist = skel[:, J["right_wrist"]]
    return (np.gradient(np.gradient(wrist, dt, axis=0), dt, axis=0) - G) / 9.81


def _on_skeleton_clock(clip: dict, key: str) -> np.ndarray:
    x, ts, ti = clip[key], clip["skeleton_times"], clip["inertial_times"]
    return np.stack([np.interp(ts, ti, x[:, k]) for k in range(3)], axis=-1)


# ----------------------------------------------------------------------------- files


def test_same_seed_same_bytes_other_seed_differs(dataset: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate_utd_mhad(again, actions=ACTIONS, subjects=SUBJECTS, trials=TRIALS, seed=7)
    assert _files(again) == _files(dataset)
    # Regenerating over a previous output replaces it, with the same bytes.
    generate_utd_mhad(again, actions=ACTIONS, subjects=SUBJECTS, trials=TRIALS, seed=7)
    assert _files(again) == _files(dataset)

    other = tmp_path / "other"
    generate_utd_mhad(other, actions=ACTIONS, subjects=SUBJECTS, trials=TRIALS, seed=8)
    a, b = _files(dataset), _files(other)
    mats = [k for k in a if k.endswith(".mat")]
    assert a.keys() == b.keys()
    assert all(a[k] != b[k] for k in mats)


def test_subsets_reproduce_the_same_clips(dataset: Path, tmp_path: Path) -> None:
    # Each clip has its own RNG: a smaller run writes identical files for the clips it shares.
    small = tmp_path / "small"
    generate_utd_mhad(small, actions=[9], subjects=1, trials=2, seed=7)
    for name, data in _files(small).items():
        if name.endswith(".mat"):
            assert data == (dataset / name).read_bytes(), name


def test_real_format(dataset: Path) -> None:
    stems = {f"a{a}_s{s}_t{t}" for a in ACTIONS for s in (1, 2) for t in (1, 2)}
    inertial = {p.name for p in (dataset / "Inertial").iterdir()}
    skeleton = {p.name for p in (dataset / "Skeleton").iterdir()}
    assert inertial == {f"{s}_inertial.mat" for s in stems}
    assert skeleton == {f"{s}_skeleton.mat" for s in stems} | {"Skeleton_joint_order.txt"}

    for stem in stems:
        raw = (dataset / "Inertial" / f"{stem}_inertial.mat").read_bytes()
        assert raw[:116] == MAT_HEADER  # fixed header: no creation timestamp
        iner = sio.loadmat(dataset / "Inertial" / f"{stem}_inertial.mat")
        skel = sio.loadmat(dataset / "Skeleton" / f"{stem}_skeleton.mat")
        assert [k for k in iner if not k.startswith("__")] == ["d_iner"]
        assert [k for k in skel if not k.startswith("__")] == ["d_skel"]
        d_iner, d_skel = iner["d_iner"], skel["d_skel"]
        assert d_iner.dtype == np.float64 and d_iner.ndim == 2 and d_iner.shape[1] == 6
        assert d_skel.dtype == np.float64 and d_skel.shape[:2] == (20, 3)
        assert np.isfinite(d_iner).all() and np.isfinite(d_skel).all()

    text = (dataset / "Skeleton" / "Skeleton_joint_order.txt").read_text()
    listed = [ln.split(". ", 1)[1].rstrip("; ") for ln in text.splitlines() if ". " in ln[:4]]
    assert tuple(listed) == KINECT_V1.joints
    assert "SYNTHETIC" in (dataset / "SOURCE.txt").read_text()

    entries = read_manifest(dataset / MANIFEST_NAME)
    every = {k for k in _files(dataset) if k != MANIFEST_NAME}
    assert set(entries) == every
    assert verify_manifest(dataset) == len(every)


def test_the_real_reader_reads_it(dataset: Path) -> None:
    samples = list(read_utd_mhad(dataset))
    assert len(samples) == len(ACTIONS) * SUBJECTS * TRIALS
    for s in samples:
        assert s.skeleton.shape[1:] == (20, 3) and s.acc.shape[1] == 3 and s.gyro is not None


def test_files_hold_the_simulated_clip(dataset: Path) -> None:
    clip = simulate_dataset_clip(7, 9, 2, 1)
    d_iner = sio.loadmat(dataset / "Inertial" / "a9_s2_t1_inertial.mat")["d_iner"]
    d_skel = sio.loadmat(dataset / "Skeleton" / "a9_s2_t1_skeleton.mat")["d_skel"]
    np.testing.assert_array_equal(d_iner, np.hstack([clip["acc"], clip["gyro"]]))
    np.testing.assert_array_equal(d_skel, clip["skeleton"].transpose(1, 2, 0))


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        generate_utd_mhad(tmp_path / "x", actions=[0], subjects=1, trials=1, seed=0)
    with pytest.raises(ConfigError):
        generate_utd_mhad(tmp_path / "x", actions=[1], subjects=0, trials=1, seed=0)
    with pytest.raises(ConfigError):
        generate_utd_mhad(tmp_path / "x", actions=[1], subjects=1, trials=1, seed=0,
                          acc_noise_g=-1.0)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("not ours")
    with pytest.raises(ConfigError, match="refusing"):
        generate_utd_mhad(tmp_path / "busy", actions=[1], subjects=1, trials=1, seed=0)
    assert (tmp_path / "busy" / "notes.txt").exists()


# ----------------------------------------------------------------------------- physics

# Slow actions: their wrist motion is well below the skeleton's Nyquist rate, so
# differentiating the ~19 Hz skeleton (UTD-MHAD's effective rate) works. np.gradient twice is
# the 5-point (x[i+2] - 2 x[i] + x[i-2]) / (2 dt)^2, i.e. the true acceleration averaged over
# a triangle 2 dt = ~100 ms wide: for 1-2 Hz strokes that loses ~10-20 % of the dynamic
# acceleration (< 1 g here), an error that grows as dt^2. The magnitude is first-order blind
# to errors across f, so it gets 0.08 g (measured <= 0.064 g); the full vector 0.15 g
# (measured <= 0.124 g). Fast actions (throws at 4-9 g) would need a faster camera: they are
# checked at 500 Hz below, where the tolerance is tight.
SLOW = [1, 2, 6, 23, 24, 26, 27]


@pytest.mark.parametrize("action", SLOW)
def test_accelerometer_is_the_skeleton_wrist_specific_force(action: int) -> None:
    clip = _clip(3, action, subject=2, trial=3)
    skel = clip["skeleton"]
    force = _specific_force(skel, clip["skeleton_rate"])
    acc = _on_skeleton_clock(clip, "acc")
    inner = slice(3, -3)  # np.gradient is one-sided at the ends
    # (a) magnitude: frame-free.
    err = np.abs(np.linalg.norm(force, axis=1) - np.linalg.norm(acc, axis=1))[inner]
    assert err.mean() < 0.08, err.mean()
    # (b) the full vector, rotated into the forearm frame rebuilt from the skeleton.
    in_sensor = np.einsum("nji,nj->ni", _forearm_frame(skel), force)
    err = np.linalg.norm(in_sensor - acc, axis=1)[inner]
    assert err.mean() < 0.15, err.mean()
    assert np.abs(acc).max() > 0.3  # not trivially flat: the check compares real motion


@pytest.mark.parametrize("action", range(1, 28))
def test_imu_matches_skeleton_derivatives_at_high_rate(action: int) -> None:
    # Both streams at 500 Hz on one clock: acc and gyro must equal the skeleton's own
    # derivatives. Away from keyframes the error is O(dt^2); where a quintic keyframe blend
    # (C2, not C3) makes the jerk jump, the 4 ms-wide difference quotient errs by up to
    # ~dt * |jump| / 3, <= 0.1 g for the fastest throw. The mean error stays below 0.01 g.
    body, style = make_subject(0, 2)
    clip = simulate_clip(action, 2, 1, np.random.default_rng(action), body, style=style,
                         skeleton_rate=500.0, inertial_rate=500.0, **IDEAL)
    skel, rate = clip["skeleton"], clip["skeleton_rate"]
    frames = _forearm_frame(skel)
    in_sensor = np.einsum("nji,nj->ni", frames, _specific_force(skel, rate))
    inner = slice(3, -3)
    err = np.abs(in_sensor - clip["acc"])[inner]
    assert err.mean() < 0.01 and err.max() < 0.1, (err.mean(), err.max())

    omega = np.einsum("nki,nkj->nij", frames, np.gradient(frames, 1.0 / rate, axis=0))
    gyro = np.degrees(0.5 * np.stack([omega[:, 2, 1] - omega[:, 1, 2],
                                      omega[:, 0, 2] - omega[:, 2, 0],
                                      omega[:, 1, 0] - omega[:, 0, 1]], axis=-1))
    err = np.abs(gyro - clip["gyro"])[inner]
    peak = np.abs(clip["gyro"]).max()
    assert err.max() < 0.01 * peak + 0.5, (err.max(), peak)


def test_still_sensor_reads_one_g() -> None:
    # Every clip starts and ends holding still: exactly 1 g, no rotation.
    for action in (1, 16, 27):
        clip = _clip(0, action)
        for part in (slice(0, 3), slice(-3, None)):
            np.testing.assert_allclose(np.linalg.norm(clip["acc"][part], axis=1), 1.0, atol=1e-6)
            np.testing.assert_allclose(clip["gyro"][part], 0.0, atol=1e-6)
        # The arm hangs, so the sensor's x axis (elbow -> wrist) points down: acc_x ~ -1 g,
        # as in the real recordings (about -0.96 g at rest).
        assert clip["acc"][0, 0] < (-0.75 if action == 16 else -0.9)  # curl: elbow bent
    # With the default noise the resting reading is still 1 g on average.
    noisy = simulate_dataset_clip(0, 1, 1, 1)
    assert abs(np.linalg.norm(noisy["acc"][:5], axis=1).mean() - 1.0) < 0.1


def test_sensor_saturates_like_the_real_one() -> None:
    clip = simulate_dataset_clip(0, 5, 1, 1)  # a throw: > 8 g and > 1000 deg/s unclipped
    assert np.abs(clip["acc"]).max() <= 8.0 and np.abs(clip["gyro"]).max() <= 1000.0
    assert np.abs(_clip(0, 5)["gyro"]).max() > 1000.0


# ----------------------------------------------------------------------------- realism


def test_lengths_and_clocks() -> None:
    for action in range(1, 28):
        clip = simulate_dataset_clip(0, action, 1 + action % 8, 1 + action % 4)
        n, t = len(clip["acc"]), len(clip["skeleton"])
        assert 100 <= n <= 340, (action, n)  # real: 107-326 inertial samples
        assert 35 <= t <= 140, (action, t)  # real: 41-125 skeleton frames
        # Nominal U(48, 52) and U(17, 22) Hz, then fitted to whole samples (< 0.5 sample).
        assert 47.8 <= clip["inertial_rate"] <= 52.2 and 16.8 <= clip["skeleton_rate"] <= 22.2
        # Same interval, own clocks.
        assert n / clip["inertial_rate"] == pytest.approx(t / clip["skeleton_rate"])
        assert clip["inertial_times"][-1] < clip["duration"] > clip["skeleton_times"][-1]


def test_camera_frame_and_rigid_bodies() -> None:
    clip = _clip(0, 24, subject=3)
    skel = clip["skeleton"]
    first = skel[0]
    assert first[J["head"], 1] > 0.2 and first[J["right_foot"], 1] < -0.9
    assert abs(skel[:, [J["left_foot"], J["right_foot"]], 1].min() - FLOOR_Y) < 0.1
    assert 2.4 < first[:, 2].mean() < 3.2  # metres from the camera
    assert first[J["right_shoulder"], 0] > first[J["left_shoulder"], 0]  # right is +x
    assert first[J["right_foot"], 2] < first[J["right_ankle"], 2]  # forward is -z
    for child, parent in KINECT_V1.bones:
        length = np.linalg.norm(skel[:, J[child]] - skel[:, J[parent]], axis=1)
        assert np.ptp(length) < 1e-9, (child, parent)  # rigid: constant bone lengths
    # With Kinect-like jitter the bones wobble by about the jitter, no more.
    noisy = simulate_dataset_clip(0, 24, 3, 1)["skeleton"]
    forearm = np.linalg.norm(noisy[:, J["right_wrist"]] - noisy[:, J["right_elbow"]], axis=1)
    assert 0.003 < forearm.std() < 0.015


def test_subjects_differ_in_body_and_style() -> None:
    bodies = [make_subject(0, s)[0] for s in range(1, 9)]
    heights = np.array([b.height for b in bodies])
    assert 1.2 < heights.min() and heights.max() < 1.95
    assert heights.std() > 0.04
    assert len({round(b.forearm, 4) for b in bodies}) == 8
    # Same subject in another action: same body (bone lengths from the skeleton).
    def thigh(action: int) -> float:
        skel = _clip(0, action, subject=4)["skeleton"]
        return float(np.linalg.norm(skel[0, J["left_knee"]] - skel[0, J["left_hip"]]))
    assert thigh(1) == pytest.approx(thigh(27)) == pytest.approx(bodies[3].thigh)


def _wrist_path(action: int, subject: int) -> np.ndarray:
    return _clip(0, action, subject=subject)["skeleton"][:, J["right_wrist"]]


@pytest.mark.parametrize("subject", [1, 2, 3])
def test_actions_are_what_they_say(subject: int) -> None:
    # Circles: signed area in (x right, y up), as the performer sees it; cw is negative.
    for action, sign in ((9, -1.0), (10, 1.0)):
        xy = _wrist_path(action, subject)[:, :2]
        area = 0.5 * np.sum(xy[:-1, 0] * xy[1:, 1] - xy[1:, 0] * xy[:-1, 1])
        assert np.sign(area) == sign and abs(area) > 0.01, (action, area)
    # Swipes: the fastest sideways motion goes to the performer's left (-x) or right (+x).
    for action, sign in ((1, -1.0), (2, 1.0)):
        vx = np.diff(_wrist_path(action, subject)[:, 0])
        assert np.sign(vx[np.abs(vx).argmax()]) == sign
    # Jog vs walk: higher knee lift, faster steps, more pelvis bounce.
    def gait(action: int) -> tuple[float, float, float]:
        clip = _clip(0, action, subject=subject)
        skel = clip["skeleton"]
        ankle = skel[:, J["right_ankle"], 1]
        lift = np.ptp(ankle)
        up = (ankle - ankle.min()) > 0.5 * lift
        steps_per_s = np.count_nonzero(np.diff(up.astype(int)) == 1) / clip["duration"]
        return lift, steps_per_s, np.ptp(skel[:, J["hip_center"], 1])
    jog, walk = gait(22), gait(23)
    assert jog[0] > 1.5 * walk[0] and jog[1] > 1.2 * walk[1] and jog[2] > 2 * walk[2]


# ----------------------------------------------------------------------------- distillation

LEGS = [J[f"{s}_{k}"] for s in ("left", "right") for k in ("hip", "knee", "ankle", "foot")]


def _resample(x: np.ndarray, n: int = 48) -> np.ndarray:
    t, u = np.linspace(0, 1, len(x)), np.linspace(0, 1, n)
    return np.stack([np.interp(u, t, x[:, k]) for k in range(x.shape[1])], -1).ravel()


def _separation(a: np.ndarray, b: np.ndarray) -> float:
    """Distance between class means over the RMS within-class spread (scale-free)."""
    within = np.sqrt(0.5 * (((a - a.mean(0)) ** 2).sum(1).mean()
                            + ((b - b.mean(0)) ** 2).sum(1).mean()))
    return float(np.linalg.norm(a.mean(0) - b.mean(0)) / within)


def test_leg_actions_are_clear_in_the_skeleton_and_faint_at_the_wrist() -> None:
    # Why distil: squat and lunge differ in the legs (skeleton teacher sees it) while the
    # right wrist, hanging, moves almost alike (the accelerometer student barely does).
    # Features: time-normalised wrist acc vs. leg-joint displacement from the first frame;
    # separation is scale-free, so g and metres compare. Over 6 subjects x 2 trials the
    # legs separate the classes > 3x better; measured ~5.6 vs ~1.2 with default noise.
    acc, legs = {}, {}
    for action in (26, 27):
        rows = [simulate_dataset_clip(0, action, s, t) for s in range(1, 7) for t in (1, 2)]
        acc[action] = np.array([_resample(c["acc"]) for c in rows])
        legs[action] = np.array([
            _resample((c["skeleton"][:, LEGS] - c["skeleton"][:1, LEGS]).reshape(
                len(c["skeleton"]), -1)) for c in rows
        ])
    sep_acc, sep_legs = _separation(acc[26], acc[27]), _separation(legs[26], legs[27])
    assert sep_legs > 3.0 and sep_legs > 3.0 * sep_acc, (sep_legs, sep_acc)
    # And in absolute terms the wrist barely rotates in these classes (gyro < 60 deg/s).
    for action in (24, 25, 26, 27):
        assert np.abs(_clip(0, action)["gyro"]).max() < 60.0


def test_every_action_has_a_program() -> None:
    assert sorted(PROGRAMS) == list(range(1, len(UTD_MHAD_ACTIONS) + 1))
    assert simulate_dataset_clip(0, 27, 1, 1)["action_name"] == "squat"
