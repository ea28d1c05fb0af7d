"""Fuse step: alignment, normalisation, the HDF5 schema and the fused teacher input."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from crosskd.data.fuse import fuse_dataset
from crosskd.data.fused_h5 import read_clip_spans, read_fused
from crosskd.data.fusion import fused_teacher_input
from crosskd.data.layouts import KINECT_V1
from crosskd.data.normalize import normalize_skeleton, view_rotation
from crosskd.data.resample import resample_time
from crosskd.errors import ConfigError, DataError
from tests.conftest import base_params


def _params(**over):
    return base_params(**{"data__actions": [1, 2], "fetch__source": "path", **over})


def test_resample_keeps_endpoints_and_linear_signals() -> None:
    t = np.linspace(0, 1, 177)
    x = np.stack([3 * t + 1, -2 * t], axis=1)
    y = resample_time(x, 128)
    assert y.shape == (128, 2)
    np.testing.assert_allclose(y[:, 0], 3 * np.linspace(0, 1, 128) + 1, atol=1e-12)
    np.testing.assert_allclose(y[[0, -1]], x[[0, -1]])
    # Streams of different lengths over the same span line up: a 2.6x longer copy of a
    # smooth signal resamples onto the same curve.
    slow = np.sin(2 * np.pi * np.linspace(0, 1, 60))
    fast = np.sin(2 * np.pi * np.linspace(0, 1, 156))
    np.testing.assert_allclose(resample_time(slow, 64), resample_time(fast, 64), atol=3e-3)


def test_normalize_centres_and_rotates_to_front_view() -> None:
    rng = np.random.default_rng(0)
    skel = rng.normal(size=(5, 20, 3))
    # A body whose right direction is the camera's -z and up is +y (turned 90 degrees).
    skel[:, KINECT_V1.index("hip_center")] = [0, 0, 3]
    skel[:, KINECT_V1.index("shoulder_center")] = [0, 0.5, 3]
    skel[:, KINECT_V1.index("right_shoulder")] = [0, 0.5, 2.8]
    skel[:, KINECT_V1.index("left_shoulder")] = [0, 0.5, 3.2]
    out = normalize_skeleton(skel, KINECT_V1, center="first_frame", rotate=True)
    c = KINECT_V1.index("spine")
    np.testing.assert_allclose(out[0, c], 0, atol=1e-12)
    r = out[0, KINECT_V1.index("right_shoulder")] - out[0, KINECT_V1.index("left_shoulder")]
    np.testing.assert_allclose(r / np.linalg.norm(r), [1, 0, 0], atol=1e-9)
    rot = view_rotation(skel[0], KINECT_V1)
    np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(rot) == pytest.approx(1.0)
    # Rotation keeps bone lengths.
    i, j = KINECT_V1.edges()[5]
    np.testing.assert_allclose(np.linalg.norm(out[:, i] - out[:, j], axis=-1),
                               np.linalg.norm(skel[:, i] - skel[:, j], axis=-1))
    per = normalize_skeleton(skel, KINECT_V1, center="per_frame", rotate=False)
    np.testing.assert_allclose(per[:, c], 0, atol=1e-12)


def test_fuse_writes_documented_schema_and_round_trips(mini_utd: Path, tmp_path: Path) -> None:
    out = tmp_path / "fused.h5"
    written = fuse_dataset(_params(), mini_utd, out)
    data = read_fused(out)
    assert data.skeleton.shape == (8, 3, 64, 20) and data.skeleton.dtype == np.float32
    assert data.inertial.shape == (8, 128, 6)
    assert data.class_names == ["swipe_left", "swipe_right"]
    assert list(data.label) == [0] * 4 + [1] * 4 and list(data.action) == [1] * 4 + [2] * 4
    assert data.sample_id[0] == "a1_s1_t1"
    assert set(data.splits) == {"cross_subject", "trial_split"}
    np.testing.assert_array_equal(data.splits["cross_subject"], data.subject % 2 == 1)
    np.testing.assert_array_equal(data.skeleton, written.skeleton.astype(np.float32))
    assert data.attrs["params"]["fuse"]["skeleton_frames"] == 64
    assert data.attrs["layout"] == "kinect_v1" and data.attrs["skipped"] == []
    with h5py.File(out) as f:
        np.testing.assert_array_equal(f["splits/trial_split/test"][()],
                                      ~f["splits/trial_split/train"][()])
        assert list(f["skeleton_length"][()]) == [50] * 8
    # Same inputs, same bytes: DVC sees no change on a re-run.
    first = out.read_bytes()
    fuse_dataset(_params(), mini_utd, out)
    assert out.read_bytes() == first


def test_fused_teacher_input_from_file_alone(mini_utd: Path, tmp_path: Path) -> None:
    fuse_dataset(_params(), mini_utd, tmp_path / "f.h5")
    d = read_fused(tmp_path / "f.h5")
    x = fused_teacher_input(d.skeleton, d.inertial, "acc")
    assert x.shape == (8, 3, 64, 21)
    np.testing.assert_array_equal(x[..., :20], d.skeleton)
    # The IMU node is the accelerometer resampled to T, first and last samples exact.
    np.testing.assert_allclose(x[:, :, 0, 20], d.inertial[:, 0, :3], rtol=1e-6)
    np.testing.assert_allclose(x[:, :, -1, 20], d.inertial[:, -1, :3], rtol=1e-6)
    assert fused_teacher_input(d.skeleton, d.inertial, "acc_gyro").shape[-1] == 22
    with pytest.raises(ValueError, match="imu must be one of"):
        fused_teacher_input(d.skeleton, d.inertial, "mag")


def test_bad_clip_leaves_no_output_or_is_skipped(mini_utd: Path, tmp_path: Path) -> None:
    out = tmp_path / "fused.h5"
    bad = mini_utd / "Skeleton" / "a2_s2_t2_skeleton.mat"
    bad.write_bytes(bad.read_bytes()[:100])
    with pytest.raises(DataError, match="a2_s2_t2_skeleton.mat: corrupt or truncated"):
        fuse_dataset(_params(), mini_utd, out)
    assert not out.exists()
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())
    data = fuse_dataset(_params(fuse__on_bad_clip="skip"), mini_utd, out)
    assert len(data) == 7
    skipped = read_fused(out).attrs["skipped"]
    assert len(skipped) == 1 and "a2_s2_t2_skeleton.mat" in skipped[0][0]


def test_param_errors(mini_utd: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no clips for actions \[3\]"):
        fuse_dataset(_params(data__actions=[1, 3]), mini_utd, tmp_path / "x.h5")
    with pytest.raises(ConfigError, match="fuse.center"):
        fuse_dataset(_params(fuse__center="hips"), mini_utd, tmp_path / "x.h5")
    with pytest.raises(ConfigError, match="fuse.skeleton_frames"):
        fuse_dataset(_params(fuse__skeleton_frames=0), mini_utd, tmp_path / "x.h5")
    with pytest.raises(ConfigError, match="fuse.inertial_steps must be an integer >= 2, got 1"):
        fuse_dataset(_params(fuse__inertial_steps=1), mini_utd, tmp_path / "x.h5")
    with pytest.raises(ConfigError, match="unknown dataset"):
        fuse_dataset(_params(data__dataset="kinetics"), mini_utd, tmp_path / "x.h5")
    with pytest.raises(ConfigError, match="fuse.rotate must be true or false, got 'false'"):
        fuse_dataset(_params(fuse__rotate="false"), mini_utd, tmp_path / "x.h5")
    assert not (tmp_path / "x.h5").exists()


def test_read_fused_rejects_truncated_and_foreign_files(mini_utd: Path, tmp_path: Path) -> None:
    out = tmp_path / "f.h5"
    fuse_dataset(_params(), mini_utd, out)
    cut = tmp_path / "cut.h5"
    cut.write_bytes(out.read_bytes()[:4000])
    with pytest.raises(DataError, match="cut.h5: not a readable HDF5"):
        read_fused(cut)
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = 1
    with pytest.raises(DataError, match="schema_version"):
        read_fused(tmp_path / "other.h5")
    with pytest.raises(DataError, match="missing"):
        read_fused(tmp_path / "absent.h5")
    # The clip durations (export stage) come through the same checks.
    assert read_clip_spans(out).shape == (8,) and (read_clip_spans(out) > 0).all()
    with pytest.raises(DataError, match="cut.h5: not a readable HDF5"):
        read_clip_spans(cut)
    with pytest.raises(DataError, match="absent.h5: fused HDF5 file is missing"):
        read_clip_spans(tmp_path / "absent.h5")
    with pytest.raises(DataError, match="other.h5: no inertial_seconds or inertial_length"):
        read_clip_spans(tmp_path / "other.h5")


@pytest.mark.parametrize("name", ["skeleton", "inertial"])
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_read_fused_rejects_non_finite_values(mini_utd: Path, tmp_path: Path, name: str,
                                              value: float) -> None:
    # A damaged fused file must not reach evaluation, which would score it without a word.
    out = tmp_path / "f.h5"
    fuse_dataset(_params(), mini_utd, out)
    with h5py.File(out, "r+") as f:
        x = f[name][()]
        x[2, 0, 1] = value
        f[name][...] = x
        clip = f["sample_id"][2]
    clip = clip.decode() if isinstance(clip, bytes) else str(clip)
    with pytest.raises(DataError, match=rf"f\.h5: {name} has NaN/inf values in 1 clip\(s\), "
                       rf"e\.g\. \['{clip}'\]"):
        read_fused(out)


def test_read_fused_names_a_missing_dataset(mini_utd: Path, tmp_path: Path) -> None:
    out = tmp_path / "f.h5"
    fuse_dataset(_params(), mini_utd, out)
    with h5py.File(out, "r+") as f:
        del f["action"]
    with pytest.raises(DataError, match=r"f\.h5: missing datasets \['action'\]"):
        read_fused(out)


def test_the_fused_file_resolves_the_default_protocol(mini_utd: Path, tmp_path: Path) -> None:
    # Model stages read the protocol from the fused file, not from the dataset table.
    out = tmp_path / "f.h5"
    fuse_dataset(_params(), mini_utd, out)
    data = read_fused(out)
    assert data.path == out
    assert data.attrs["default_protocol"] == "cross_subject"
    assert data.protocol("default") == "cross_subject"
    assert data.protocol("trial_split") == "trial_split"
    with pytest.raises(ConfigError, match=r"train.protocol 'cross_view' is not a split of the "
                       r"fused data \(it has \['cross_subject', 'trial_split'\]\)"):
        data.protocol("cross_view")
    del data.attrs["default_protocol"]  # a file from before the attribute existed
    with pytest.raises(DataError, match=r"f\.h5: names no default_protocol .*re-run the fuse"):
        data.protocol("default")
