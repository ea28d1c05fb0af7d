"""Wearable and skeleton augmentations: shapes, off = identity, physics kept, ranges,
determinism, config."""

from __future__ import annotations

import numpy as np
import pytest

from crosskd.errors import ConfigError
from crosskd.training.augment import (
    build_augment,
    build_skeleton_augment,
    random_rotations,
    rotate,
    scale,
    time_warp,
    warp_positions,
)
from crosskd.training.batches import PairedArrays

FUNCS = {"scale": (scale, "sigma", 0.2), "rotate": (rotate, "max_deg", 15.0),
         "time_warp": (time_warp, "sigma", 0.2)}


def _x(c: int = 6, b: int = 8, length: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(b, c, length)).astype(np.float32)


@pytest.mark.parametrize("name", sorted(FUNCS))
@pytest.mark.parametrize("c", [3, 6])
def test_shape_dtype_kept_and_input_untouched(name: str, c: int):
    fn, arg, value = FUNCS[name]
    x = _x(c)
    before = x.copy()
    y = fn(x, np.random.default_rng(1), **{arg: value})
    assert y.shape == x.shape and y.dtype == x.dtype
    assert not np.allclose(y, x)
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("name", sorted(FUNCS))
def test_zero_strength_is_identity(name: str):
    fn, arg, _ = FUNCS[name]
    x = _x()
    np.testing.assert_array_equal(fn(x, np.random.default_rng(1), **{arg: 0.0}), x)


@pytest.mark.parametrize("name", sorted(FUNCS))
def test_deterministic_with_seeded_rng(name: str):
    fn, arg, value = FUNCS[name]
    x = _x()
    a = fn(x, np.random.default_rng(7), **{arg: value})
    b = fn(x, np.random.default_rng(7), **{arg: value})
    c = fn(x, np.random.default_rng(8), **{arg: value})
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("name", sorted(FUNCS))
def test_channels_must_be_triples(name: str):
    fn, arg, value = FUNCS[name]
    with pytest.raises(ValueError, match="multiple of 3"):
        fn(_x(c=4), np.random.default_rng(0), **{arg: value})


def test_rotation_keeps_norms_and_is_shared_by_acc_and_gyro():
    x = _x(c=6).astype(np.float64)
    y = rotate(x, np.random.default_rng(3), max_deg=20.0)
    for sl in (slice(0, 3), slice(3, 6)):  # per-sample, per-time vector norms of acc and gyro
        np.testing.assert_allclose(np.linalg.norm(y[:, sl], axis=1),
                                   np.linalg.norm(x[:, sl], axis=1), rtol=1e-10)
    # one rotation per sample: the angle between acc and gyro vectors is unchanged
    dot_x = np.einsum("bcl,bcl->bl", x[:, :3], x[:, 3:])
    dot_y = np.einsum("bcl,bcl->bl", y[:, :3], y[:, 3:])
    np.testing.assert_allclose(dot_y, dot_x, atol=1e-10)


def test_rotation_angle_bounded():
    r = random_rotations(500, 10.0, np.random.default_rng(0))
    np.testing.assert_allclose(r @ r.transpose(0, 2, 1), np.broadcast_to(np.eye(3), r.shape),
                               atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(r), 1.0, atol=1e-12)
    angle = np.degrees(np.arccos(np.clip((np.trace(r, axis1=1, axis2=2) - 1) / 2, -1, 1)))
    assert angle.max() <= 10.0 + 1e-9 and angle.max() > 8.0


def test_scale_range_and_one_factor_per_triple():
    x = np.ones((400, 6, 16), dtype=np.float64)
    y = scale(x, np.random.default_rng(0), sigma=0.1)
    assert y.min() >= 0.9 and y.max() <= 1.1
    assert y.min() < 0.92 and y.max() > 1.08  # the whole range is used
    f = y[:, :, 0]
    np.testing.assert_array_equal(f[:, :3], np.repeat(f[:, :1], 3, axis=1))  # acc: one factor
    np.testing.assert_array_equal(f[:, 3:], np.repeat(f[:, 3:4], 3, axis=1))  # gyro: one factor
    assert np.ptp(y, axis=2).max() == 0  # constant over time


def test_time_warp_monotone_with_fixed_endpoints():
    pos = warp_positions(50, 64, 0.5, np.random.default_rng(0))
    assert (np.diff(pos, axis=1) > 0).all()
    np.testing.assert_allclose(pos[:, 0], 0.0)
    np.testing.assert_allclose(pos[:, -1], 63.0)
    # on a ramp the warped signal is the warp itself: monotone, ends kept
    ramp = np.broadcast_to(np.arange(64, dtype=np.float64), (20, 3, 64)).copy()
    y = time_warp(ramp, np.random.default_rng(1), sigma=0.3)
    assert (np.diff(y, axis=2) > 0).all()
    np.testing.assert_allclose(y[..., 0], 0.0)
    np.testing.assert_allclose(y[..., -1], 63.0)
    assert np.abs(y - ramp).max() > 0.5  # it does warp
    np.testing.assert_array_equal(y[:, 0], y[:, 1])  # one warp for all channels of a sample


def test_time_warp_is_smooth():
    """Slope changes gradually (piecewise-linear speed), no jumps: bounded second difference."""
    pos = warp_positions(20, 128, 0.3, np.random.default_rng(2))
    assert np.abs(np.diff(pos, n=2, axis=1)).max() < 0.1


def test_build_augment_composes_switched_on():
    assert build_augment(None) is None
    assert build_augment({}) is None
    assert build_augment({"scale": 0, "rotate_deg": 0, "time_warp": 0}) is None
    x = _x()
    only_scale = build_augment({"scale": 0.1, "rotate_deg": 0, "time_warp": 0})
    np.testing.assert_array_equal(only_scale(x, np.random.default_rng(4)),
                                  scale(x, np.random.default_rng(4), sigma=0.1))
    full = build_augment({"scale": 0.1, "rotate_deg": 10, "time_warp": 0.1})
    a, b = full(x, np.random.default_rng(5)), full(x, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    assert a.shape == x.shape and not np.allclose(a, x)


@pytest.mark.parametrize("cfg", [{"scal": 0.1}, {"scale": -0.1}, {"scale": 1.0},
                                 {"rotate_deg": 200}, {"time_warp": "a"}, {"scale": True}])
def test_build_augment_rejects_bad_config(cfg: dict):
    with pytest.raises(ConfigError, match="augment"):
        build_augment(cfg)


def test_used_by_paired_arrays_at_train_time_only():
    x = _x(c=3, b=6)
    data = PairedArrays({"acc": x}, np.zeros(6, dtype=np.int64), np.arange(6).astype(str),
                        augment={"acc": build_augment({"scale": 0.2})})
    train = next(data.batches(np.arange(6), 6, seed=0, train=True))["acc"].numpy()
    test = next(data.batches(np.arange(6), 6, seed=0, train=False))["acc"].numpy()
    np.testing.assert_array_equal(test, x)
    assert not np.allclose(train, x)


def _clip(b: int = 4, t: int = 32, joints: int = 20, imu: int = 1, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(b, 3, t, joints + imu)).astype(np.float32)


def _pairwise(x: np.ndarray) -> np.ndarray:
    """(B, 3, T, V) -> (B, T, V, V) distances between nodes, per frame."""
    d = x[:, :, :, :, None] - x[:, :, :, None, :]
    return np.sqrt((d ** 2).sum(axis=1))


def test_skeleton_augment_off_and_checks():
    assert build_skeleton_augment(None, 20) is None
    assert build_skeleton_augment({"scale": 0, "rotate_deg": 0, "time_warp": 0}, 20) is None
    with pytest.raises(ConfigError, match="teacher.augment.rotate_deg"):
        build_skeleton_augment({"rotate_deg": -1}, 20)
    with pytest.raises(ConfigError, match="teacher.augment: unknown"):
        build_skeleton_augment({"shift": 0.1}, 20)
    fn = build_skeleton_augment({"rotate_deg": 10}, 20)
    with pytest.raises(ValueError, match="V >= 20"):
        fn(_clip(joints=10, imu=0), np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"\(B, 3, T"):
        fn(np.zeros((2, 6, 8, 21), np.float32), np.random.default_rng(0))


def test_skeleton_rotation_is_rigid_for_the_body_and_leaves_imu_nodes():
    x = _clip()
    before = x.copy()
    out = build_skeleton_augment({"rotate_deg": 30}, 20)(x, np.random.default_rng(1))
    np.testing.assert_array_equal(x, before)  # input untouched
    assert out.shape == x.shape and out.dtype == x.dtype
    np.testing.assert_allclose(_pairwise(out[..., :20]), _pairwise(x[..., :20]), atol=1e-4)
    np.testing.assert_array_equal(out[..., 20:], x[..., 20:])
    assert not np.allclose(out[..., :20], x[..., :20])
    # one rotation per clip: every joint of every frame turned by the same matrix
    mats = []
    for i in range(len(x)):
        flat_in, flat_out = x[i, :, :, :20].reshape(3, -1), out[i, :, :, :20].reshape(3, -1)
        r, *_ = np.linalg.lstsq(flat_in.T, flat_out.T, rcond=None)
        np.testing.assert_allclose(flat_in.T @ r, flat_out.T, atol=1e-4)
        np.testing.assert_allclose(r.T @ r, np.eye(3), atol=1e-4)
        assert np.linalg.det(r) > 0  # a rotation, not a reflection
        assert np.degrees(np.arccos(np.clip((np.trace(r) - 1) / 2, -1, 1))) <= 30 + 1e-3
        mats.append(r)
    assert not np.allclose(mats[0], mats[1])  # each clip its own rotation


def test_skeleton_scale_is_one_factor_per_clip():
    x = _clip(b=6)
    out = build_skeleton_augment({"scale": 0.2}, 20)(x, np.random.default_rng(2))
    ratio = out[..., :20] / x[..., :20]
    per_clip = ratio.reshape(6, -1)
    np.testing.assert_allclose(per_clip, np.broadcast_to(per_clip[:, :1], per_clip.shape),
                               rtol=1e-5)
    assert np.all((per_clip >= 0.8 - 1e-6) & (per_clip <= 1.2 + 1e-6))
    assert per_clip[:, 0].std() > 0
    np.testing.assert_array_equal(out[..., 20:], x[..., 20:])


def test_skeleton_time_warp_moves_every_node_alike_and_keeps_ends():
    """A clip whose value is t + 100 v + 10 c: the warp must move every node and channel by
    the same positions (a linear signal interpolates exactly), and keep them apart."""
    b, t, v = 5, 40, 21
    tt, cc, vv = np.arange(t)[None, None, :, None], np.arange(3)[None, :, None, None], \
        np.arange(v)[None, None, None, :]
    clip = np.broadcast_to(tt + 100.0 * vv + 10.0 * cc, (b, 3, t, v)).astype(np.float32)
    out = build_skeleton_augment({"time_warp": 0.3}, 20)(clip, np.random.default_rng(3))
    pos = out[:, 0, :, 0]  # node 0, channel 0: the warp's sample positions
    expected = pos[:, None, :, None] + 100.0 * vv + 10.0 * cc
    np.testing.assert_allclose(out, expected, atol=1e-3)
    np.testing.assert_allclose(pos[:, [0, -1]], [[0, t - 1]] * b, atol=1e-4)
    assert np.all(np.diff(pos, axis=1) > 0) and not np.allclose(pos, np.arange(t))
    assert not np.allclose(pos[0], pos[1])  # one warp per clip


def test_skeleton_augment_is_deterministic_and_composes():
    x = _clip()
    fn = build_skeleton_augment({"scale": 0.1, "rotate_deg": 15, "time_warp": 0.1}, 20)
    a, b = fn(x, np.random.default_rng(7)), fn(x, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, fn(x, np.random.default_rng(8)))


def test_input_augment_routes_each_modality_to_its_params():
    from crosskd.training.builders import input_augment

    params = {"student": {"augment": {"scale": 0.1}},
              "teacher": {"imu": "acc_gyro", "augment": {"rotate_deg": 20}}}
    fused = _clip(joints=20, imu=2)
    fn = input_augment("fused", fused, params)["fused"]
    out = fn(fused, np.random.default_rng(0))
    np.testing.assert_array_equal(out[..., 20:], fused[..., 20:])  # both IMU nodes kept
    assert not np.allclose(out[..., :20], fused[..., :20])
    skel = _clip(joints=20, imu=0)
    assert not np.allclose(input_augment("skeleton", skel, params)["skeleton"](
        skel, np.random.default_rng(0)), skel)
    assert set(input_augment("inertial", _x(c=3), params)) == {"inertial"}
    assert input_augment("gasf", np.zeros((2, 1, 8, 8)), params) == {}
    params["teacher"]["augment"] = {"rotate_deg": 0}
    assert input_augment("skeleton", skel, params) == {}
