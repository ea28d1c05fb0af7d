"""Berkeley-MHAD: BVH parsing and forward kinematics, the reader, the synthetic writer."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import numpy as np
import pytest

from crosskd.data.berkeley_mhad import (
    BERKELEY_ACTIONS,
    BERKELEY_BVH_TO_LAYOUT,
    MOCAP_UNIT_M,
    ReadReport,
    read_berkeley_mhad,
)
from crosskd.data.bvh import (
    euler_angles,
    forward_kinematics,
    parse_bvh,
    read_bvh,
    rotation_matrix,
)
from crosskd.data.datasets import BERKELEY_MHAD as BERKELEY_MHAD_SPEC
from crosskd.data.layouts import BERKELEY_MOCAP
from crosskd.data.synthetic.berkeley import (
    animate,
    generate_berkeley_mhad,
    sensor_pose,
    simulate_berkeley_clip,
)
from crosskd.errors import DataError

# Root at the origin; joint j1 one unit up; its End Site one more unit up.
CHAIN = """HIERARCHY
ROOT root
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT j1
  {
    OFFSET 0 1 0
    CHANNELS 3 {order}
    End Site
    {
      OFFSET 0 1 0
    }
  }
}
MOTION
Frames: 1
Frame Time: 0.01
0 0 0 0 0 0 {values}
"""


def chain(order: str = "Zrotation Xrotation Yrotation", values: str = "0 0 0") -> str:
    return CHAIN.replace("{order}", order).replace("{values}", values)


def end_of_chain(order: str, values: str) -> np.ndarray:
    pos = forward_kinematics(parse_bvh(chain(order, values)), end_sites=True)
    assert pos.shape == (1, 3, 3)
    np.testing.assert_allclose(pos[0, 1], [0, 1, 0], atol=1e-12)  # j1 sits at its offset
    return pos[0, 2]


def test_fk_two_bone_chain_by_hand() -> None:
    # j1 turns 90 degrees about Z. Rz(90) maps (x, y, z) -> (-y, x, z), so the end offset
    # (0, 1, 0) becomes (-1, 0, 0): end = j1 + (-1, 0, 0) = (-1, 1, 0).
    np.testing.assert_allclose(end_of_chain("Zrotation Xrotation Yrotation", "90 0 0"),
                               [-1, 1, 0], atol=1e-12)
    # Root moved by (1, 2, 3) and turned 90 degrees about Y: Ry(90) maps (x, y, z) ->
    # (z, y, -x); the chain is vertical, so only the translation shows: end = (1, 4, 3).
    pos = forward_kinematics(parse_bvh(CHAIN.replace("{order}", "Zrotation Xrotation Yrotation")
                                       .replace("0 0 0 0 0 0 {values}", "1 2 3 0 0 90 0 0 0")),
                             end_sites=True)
    np.testing.assert_allclose(pos[0], [[1, 2, 3], [1, 3, 3], [1, 4, 3]], atol=1e-12)
    assert parse_bvh(chain()).joint_names(end_sites=True) == ["root", "j1", "j1_End"]


def test_channel_order_matters() -> None:
    # Z = 90 and X = 90 on j1, end offset (0, 1, 0); Rx(90) maps (x, y, z) -> (x, -z, y).
    # ZXY: R = Rz(90) Rx(90): Rx first on the vector: (0,1,0) -> (0,0,1); Rz keeps it.
    #      end = (0, 1, 0) + (0, 0, 1) = (0, 1, 1).
    # XYZ: R = Rx(90) Ry(0) Rz(90): Rz first: (0,1,0) -> (-1,0,0); Rx keeps it.
    #      end = (0, 1, 0) + (-1, 0, 0) = (-1, 1, 0).
    # The MOTION columns follow each joint's own CHANNELS order.
    np.testing.assert_allclose(end_of_chain("Zrotation Xrotation Yrotation", "90 90 0"),
                               [0, 1, 1], atol=1e-12)
    np.testing.assert_allclose(end_of_chain("Xrotation Yrotation Zrotation", "90 0 90"),
                               [-1, 1, 0], atol=1e-12)


def test_euler_angles_invert_rotation_matrix() -> None:
    rng = np.random.default_rng(0)
    angles = rng.uniform(-180, 180, (200, 3))
    angles[:, 1] = rng.uniform(-90, 90, 200)
    angles[:4, 1] = [90, -90, 90 - 1e-9, -90 + 1e-9]  # gimbal lock and next to it
    for order in ("".join(p) for p in itertools.permutations("XYZ")):
        rot = rotation_matrix(order, angles)
        back = rotation_matrix(order, euler_angles(rot, order))
        assert np.abs(back - rot).max() < 1e-12, order


BROKEN = {
    "unclosed brace": (chain().replace("  }\n}\nMOTION", "  }\nMOTION"), "unbalanced braces"),
    "extra brace": (chain().replace("}\nMOTION", "}\n}\nMOTION"), "line 16: unbalanced"),
    "missing OFFSET": (chain().replace("    OFFSET 0 1 0\n    CHANNELS", "    CHANNELS"),
                       "JOINT j1 \\(line 6\\) has no OFFSET"),
    "missing CHANNELS": (chain().replace("    CHANNELS 3 Zrotation Xrotation Yrotation\n", ""),
                         "JOINT j1 \\(line 6\\) has no CHANNELS"),
    "channel count": (chain().replace("CHANNELS 3 Zrotation", "CHANNELS 4 Zrotation"),
                      "line 9: CHANNELS declares 4 channels but lists 3"),
    "row length": (chain(values="0 0"), "line 19: frame 1 has 8 values; .* 9 channels"),
    "non-numeric": (chain(values="0 abc 0"), "line 19: non-numeric value 'abc'"),
    "zero frames": (chain().replace("Frames: 1", "Frames: 0"), "line 17: .*zero frames"),
    "truncated": (chain().replace("Frames: 1", "Frames: 2"), "truncated"),
    "frame time": (chain().replace("0.01", "-1"), "line 18: Frame Time must be a positive"),
    "no motion": (chain().split("MOTION")[0], "no MOTION section"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_bvh_names_file_and_line(case: str, tmp_path: Path) -> None:
    text, message = BROKEN[case]
    path = tmp_path / "skl_s01_a01_r01.bvh"
    path.write_text(text)
    with pytest.raises(DataError, match=message) as info:
        read_bvh(path)
    assert "skl_s01_a01_r01.bvh" in str(info.value)


def test_layout_and_spec_are_data() -> None:
    lay = BERKELEY_MOCAP
    assert lay.name == "berkeley_mocap" and lay.num_joints == 22
    assert len(lay.bones) == lay.num_joints - 1  # a tree
    for a, b in lay.bones:
        assert a in lay.joints and b in lay.joints
    for j in (lay.center, lay.hip_joint, lay.spine_joint, lay.left_shoulder, lay.right_shoulder):
        assert j in lay.joints
    # The reader maps BVH joints onto exactly this layout, in its order.
    assert tuple(name for name, _ in BERKELEY_BVH_TO_LAYOUT) == lay.joints
    spec = BERKELEY_MHAD_SPEC
    assert spec.class_names == BERKELEY_ACTIONS and len(BERKELEY_ACTIONS) == 11
    assert spec.layout == lay.name and spec.protocol("cross_subject").is_train(7, 5)
    assert not spec.protocol("cross_subject").is_train(8, 1)


# ----------------------------------------------------------------------------- synthetic

GEN = dict(actions=[2, 9], subjects=8, trials=1, seed=3, acc_noise_g=0.0,
           skeleton_noise_m=0.0, mocap_rate_hz=30.0)
CLIP = {k: GEN[k] for k in ("acc_noise_g", "skeleton_noise_m", "mocap_rate_hz")}


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16 clips: actions 2 and 9, 8 subjects spread over the split (1-5 train, 8-10 test)."""
    root = tmp_path_factory.mktemp("berkeley") / "berkeley_mhad"
    assert generate_berkeley_mhad(root, **GEN) == 16
    return root


def test_synthetic_read_back(synth: Path) -> None:
    samples = list(read_berkeley_mhad(synth))
    assert len(samples) == 16
    assert [s.sample_id for s in samples[:2]] == ["a02_s01_r01", "a02_s02_r01"]
    for s in samples:
        assert s.layout == "berkeley_mocap" and s.gyro is None
        assert s.skeleton.shape[1:] == (22, 3) and s.acc.shape[1] == 3
        assert abs(s.skeleton_rate - 30.0) < 1.0 and abs(s.inertial_rate - 30.0) < 0.5
        assert abs(s.duration_skeleton - s.duration_inertial) < 0.01
        assert np.abs(s.acc).max() <= 2.0  # the +-2 g range
        hips, head = s.skeleton[0, BERKELEY_MOCAP.index("hips")], s.skeleton[0, 5]
        assert 0.8 < hips[1] < 1.2 and 0.3 < head[1] - hips[1] < 0.8  # metres, y up
        assert s.action_name == BERKELEY_ACTIONS[s.action - 1]
    subj, trial = np.array([s.subject for s in samples]), np.array([s.trial for s in samples])
    train = BERKELEY_MHAD_SPEC.split_masks(subj, trial)["cross_subject"]
    assert (train.sum(), (~train).sum()) == (10, 6) and set(subj[~train]) == {8, 9, 10}
    assert {s.action for s in read_berkeley_mhad(synth, [9])} == {9}
    left = list(read_berkeley_mhad(synth, [2], sensor="left_ankle", max_skeleton_rate=16.0))
    assert len(left) == 8 and abs(left[0].skeleton_rate - 15.0) < 0.5  # every 2nd frame
    with pytest.raises(ValueError, match="unknown Berkeley-MHAD sensor"):
        list(read_berkeley_mhad(synth, sensor="nose"))


def test_fk_of_written_bvh_gives_back_the_animation(synth: Path) -> None:
    clip = simulate_berkeley_clip(GEN["seed"], 9, 8, 1, **CLIP)  # sit down, stand up
    bvh = read_bvh(synth / "Mocap" / "SkeletalData" / "skl_s08_a09_r01.bvh")
    assert bvh.joints[0].name == "Hips" and len(bvh.joints[0].channels) == 6
    assert all(len(j.channels) == 3 for j in bvh.joints[1:] if not j.end_site)
    fk = forward_kinematics(bvh) * MOCAP_UNIT_M
    assert fk.shape == clip["positions"].shape
    assert np.abs(fk - clip["positions"]).max() < 1e-6


def test_accelerometer_is_specific_force(synth: Path) -> None:
    clip = simulate_berkeley_clip(GEN["seed"], 2, 1, 1, **CLIP)  # jumping jacks
    wrist = clip["sensors"]["right_wrist"]
    written = np.loadtxt(synth / "Accelerometer" / "Shimmer02" / "acc_h02_s01_a02_r01.txt")
    np.testing.assert_allclose(written[:, :3], wrist["acc"], atol=1e-6)
    np.testing.assert_allclose(written[:, 3], wrist["timestamps"], atol=1e-5)
    # |specific force| does not depend on the sensor frame: check it against a 5-point
    # second derivative of the animated wrist, computed here independently.
    t, h = wrist["times"], 2e-3
    stencil = np.concatenate([t + k * h for k in (-2, -1, 0, 1, 2)])
    joints = animate(clip["body"], 2, clip["style"], stencil, clip["duration"])
    p = sensor_pose(joints, "right_wrist")[0].reshape(5, len(t), 3)
    accel = (-p[0] + 16 * p[1] - 30 * p[2] + 16 * p[3] - p[4]) / (12 * h**2)
    expected = np.linalg.norm(accel - [0.0, -9.81, 0.0], axis=1) / 9.81
    np.testing.assert_allclose(np.linalg.norm(wrist["clean"], axis=1), expected, atol=1e-4)
    # Written = clean, saturated at +-2 g (noise 0); jumping jacks do saturate the wrist.
    np.testing.assert_array_equal(wrist["acc"], np.clip(wrist["clean"], -2.0, 2.0))
    assert (np.abs(wrist["clean"]) > 2.0).any()
    # At rest (the clip's start) a still sensor reads 1 g; the forearm hangs, so its x axis
    # (elbow -> wrist) points nearly down and reads nearly -1 g.
    np.testing.assert_allclose(np.linalg.norm(wrist["acc"][0]), 1.0, atol=1e-6)
    assert wrist["acc"][0, 0] < -0.9


def test_generation_is_deterministic(synth: Path, tmp_path: Path) -> None:
    small = dict(GEN, actions=[9], subjects=1)
    a, b = tmp_path / "a", tmp_path / "b"
    generate_berkeley_mhad(a, **small)
    generate_berkeley_mhad(b, **small)
    assert (a / "MANIFEST.sha256").read_bytes() == (b / "MANIFEST.sha256").read_bytes()
    for rel in ("Mocap/SkeletalData/skl_s01_a09_r01.bvh",
                "Accelerometer/Shimmer05/acc_h05_s01_a09_r01.txt"):
        assert (a / rel).read_bytes() == (synth / rel).read_bytes()  # a subset = same clips


def _break_clock(path: Path) -> None:
    rows = path.read_text().splitlines()
    a, b = rows[10].split(), rows[11].split()
    a[3], b[3] = b[3], a[3]  # two timestamps swapped: the clock runs backwards
    rows[10], rows[11] = " ".join(a), " ".join(b)
    path.write_text("\n".join(rows) + "\n")


def test_bad_timestamps_and_missing_sensor(synth: Path, tmp_path: Path) -> None:
    root = tmp_path / "copy"
    shutil.copytree(synth, root)
    wrist = root / "Accelerometer" / "Shimmer02"
    _break_clock(wrist / "acc_h02_s03_a02_r01.txt")
    with pytest.raises(DataError, match="acc_h02_s03_a02_r01.txt: line 12: .*non-monotonic"):
        list(read_berkeley_mhad(root))
    (wrist / "acc_h02_s05_a09_r01.txt").unlink()
    with pytest.raises(DataError, match="acc_h02_s05_a09_r01.txt: file is missing"):
        list(read_berkeley_mhad(root, [9]))
    report = ReadReport()
    samples = list(read_berkeley_mhad(root, on_bad_clip="skip", report=report))
    assert len(samples) == report.read == 14
    assert sorted(Path(f).name for f, _ in report.skipped) == [
        "acc_h02_s03_a02_r01.txt", "acc_h02_s05_a09_r01.txt"]
    # Another sensor of the same clips is intact.
    assert len(list(read_berkeley_mhad(root, sensor="right_hip"))) == 16


def test_two_files_of_one_clip_are_an_error(synth: Path, tmp_path: Path) -> None:
    root = tmp_path / "copy"
    shutil.copytree(synth, root)
    wrist = root / "Accelerometer" / "Shimmer02"
    twin = wrist / "acc_h02_s3_a02_r01.txt"  # unpadded subject: the same clip
    shutil.copy(wrist / "acc_h02_s03_a02_r01.txt", twin)
    with pytest.raises(DataError, match=r"names the same clip \(a02_s03_r01\) as .*"
                       r"acc_h02_s0?3_a02_r01\.txt; keep one"):
        list(read_berkeley_mhad(root))
    report = ReadReport()  # like any bad clip: skippable; another action's read is unaffected
    assert len(list(read_berkeley_mhad(root, on_bad_clip="skip", report=report))) == 15
    assert "names the same clip" in report.skipped[0][1]
    assert len(list(read_berkeley_mhad(root, [9]))) > 0
