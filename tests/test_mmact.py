"""MMAct: timestamp parsing, the reader on the synthetic stand-in, bad files, the skeletons
stage (MediaPipe on the synthetic videos) and the dataset spec."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from crosskd.data.datasets import get_dataset
from crosskd.data.manifest import verify_manifest
from crosskd.data.mmact import (
    MMACT_ACTIONS,
    SensorStream,
    align_inertial,
    extract_skeletons,
    index_sensor,
    index_videos,
    parse_timestamp,
    read_mmact,
    read_sensor_csv,
)
from crosskd.data.pose import PoseTrack, load_track, save_track
from crosskd.data.sample import ReadReport
from crosskd.data.synthetic.mmact import generate_mmact, synthetic_subject_ids
from crosskd.errors import ConfigError, DataError

ACTIONS = [2, 25, 35]  # checking_time, walking, carrying_light
SUBJECTS = 3  # ids 1, 2 (train) and 17 (test)
SESSIONS = 2


def fake_skeletons(root: Path, out: Path, camera: str = "cam1", frames: int = 12) -> Path:
    """A skeletons-stage folder with a random track per clip (no MediaPipe needed)."""
    out.mkdir(parents=True, exist_ok=True)
    for i, key in enumerate(sorted(index_sensor(root, "acc_watch"))):
        rng = np.random.default_rng(i)
        track = PoseTrack(
            landmarks=rng.random((frames, 33, 4), dtype=np.float32),
            world=rng.random((frames, 33, 3), dtype=np.float32),
            missing=np.zeros(frames, bool), times=np.arange(frames) / 15.0, fps=15.0,
            video_fps=15.0, frame_size=(256, 256), frame_stride=1,
        )
        save_track(out / f"{key.clip_id}.npz", track, camera=camera, clip=key.clip_id)
    return out


@pytest.fixture(scope="module")
def sensors_only(tmp_path_factory) -> Path:
    """Synthetic MMAct without videos: 3 actions x 3 subjects x 2 sessions = 18 clips."""
    root = tmp_path_factory.mktemp("mmact") / "raw"
    assert generate_mmact(root, actions=ACTIONS, subjects=SUBJECTS, trials=SESSIONS, seed=1,
                          video=False) == 18
    fake_skeletons(root, root.parent / "skel")
    return root


@pytest.fixture
def mmact_copy(sensors_only, tmp_path) -> tuple[Path, Path]:
    """A private copy (raw, skeletons) that a test may damage."""
    root = tmp_path / "raw"
    shutil.copytree(sensors_only, root)
    skel = tmp_path / "skel"
    shutil.copytree(sensors_only.parent / "skel", skel)
    return root, skel


# ----------------------------------------------------------------------------- timestamps


def test_parse_timestamp():
    assert parse_timestamp("20181007_14:03:12.123456") == datetime(2018, 10, 7, 14, 3, 12, 123456)
    assert parse_timestamp("20181007_14:03:12.5").microsecond == 500000
    for bad in ("2018-10-07 14:03:12.1", "20181007_14:03:12", "20181007_25:00:00.0", ""):
        with pytest.raises(ValueError):
            parse_timestamp(bad)


def test_read_sensor_csv_times_across_midnight(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("20181007_23:59:59.990000,1,2,3\n20181008_00:00:00.000000,4,5,6\n"
                    "20181008_00:00:00.010500,7,8,9\n\n")
    stream = read_sensor_csv(path)
    assert stream.start == datetime(2018, 10, 7, 23, 59, 59, 990000)
    np.testing.assert_allclose(stream.times, [0.0, 0.01, 0.0205])
    np.testing.assert_array_equal(stream.values, [[1, 2, 3], [4, 5, 6], [7, 8, 9]])


GOOD = "20181007_14:03:12.000000,0.1,0.2,0.3"


@pytest.mark.parametrize(("rows", "problem"), [
    ([GOOD, "2018-10-07 14:03:12.010,0.1,0.2,0.3"], r"line 2: bad timestamp"),
    ([GOOD, GOOD], r"line 2: timestamp .* repeats line 1"),
    ([GOOD, "20181007_14:03:11.990000,0.1,0.2,0.3"], r"line 2: .*goes back in time"),
    ([GOOD, "20181007_14:03:12.010000,0.1,0.2"], r"line 2: expected 4 .*columns"),
    ([GOOD, "20181007_14:03:12.010000,0.1,x,0.3"], r"line 2: non-numeric"),
    ([GOOD, "20181007_14:03:12.010000,0.1,nan,0.3"], r"line 2: NaN/inf"),
    ([GOOD], r"1 sample\(s\)"),
])
def test_bad_sensor_files_name_file_and_line(tmp_path, rows, problem):
    path = tmp_path / "walking.csv"
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError, match=problem) as err:
        read_sensor_csv(path)
    assert err.value.path == path


def test_align_inertial_overlap_grid_and_units():
    t_acc = np.arange(201) / 100.0  # 0-2 s at 100 Hz
    start = datetime(2018, 10, 7, 14, 0, 0)
    acc = SensorStream(start, t_acc, np.stack([t_acc, 2 * t_acc, 0 * t_acc + 9.80665], 1))
    t_gyro = np.arange(101) / 50.0  # 0-2 s at 50 Hz, but starting 0.5 s after the watch
    gyro_start = datetime(2018, 10, 7, 14, 0, 0, 500000)
    gyro = SensorStream(gyro_start, t_gyro, np.stack([t_gyro, 0 * t_gyro + np.pi, -t_gyro], 1))
    acc_g, gyro_dps, rate = align_inertial(acc, gyro, Path("acc.csv"))
    assert rate == pytest.approx(100.0)
    grid = 0.5 + np.arange(len(acc_g)) / 100.0  # the overlap [0.5, 2.0]
    assert len(acc_g) == 151 and grid[-1] == pytest.approx(2.0)
    np.testing.assert_allclose(acc_g[:, 0] * 9.80665, grid, atol=1e-9)  # m/s^2 -> g
    np.testing.assert_allclose(acc_g[:, 2], 1.0)
    np.testing.assert_allclose(gyro_dps[:, 1], 180.0)  # rad/s -> deg/s
    np.testing.assert_allclose(np.radians(gyro_dps[:, 0]), grid - 0.5, atol=1e-9)

    late = SensorStream(datetime(2018, 10, 7, 14, 0, 1, 900000), t_gyro, gyro.values)
    with pytest.raises(DataError, match="barely overlap"):
        align_inertial(acc, late, Path("acc.csv"), Path("gyro.csv"))


def test_align_inertial_refuses_a_gap_only_where_it_resamples():
    start = datetime(2018, 10, 7, 14, 0, 0)
    t = np.arange(201) / 100.0  # 0-2 s at 100 Hz
    values = np.zeros((len(t), 3))
    # The gyro starts 1 s after the watch, so the watch's first second is never resampled:
    # a 0.7 s gap there is no problem.
    acc_early_gap = SensorStream(start, np.concatenate([[0.0], t[70:]]), values[69:])
    gyro = SensorStream(datetime(2018, 10, 7, 14, 0, 1), t[:101], values[:101])
    acc_g, _, rate = align_inertial(acc_early_gap, gyro, Path("acc.csv"), Path("gyro.csv"))
    assert len(acc_g) == int(np.floor(1.0 * rate + 1e-9)) + 1  # the overlap, 1-2 s
    gyro = SensorStream(datetime(2018, 10, 7, 14, 0, 0, 500000), t[:151], values[:151])
    # 0.8 s missing inside the overlap: an error naming the file, the gap and where it is.
    holed = np.concatenate([t[:100], t[180:]])
    acc_holed = SensorStream(start, holed, np.zeros((len(holed), 3)))
    with pytest.raises(DataError, match=r"acc\.csv: 0\.81 s without a sample \(0\.990-1\.800 s "
                       r"into the file; at most 0\.5 s is bridged\); 1 such gap"):
        align_inertial(acc_holed, gyro, Path("acc.csv"), Path("gyro.csv"))
    with pytest.raises(DataError, match=r"gyro\.csv: 0\.81 s without a sample \(0\.990-1\.800"):
        align_inertial(SensorStream(start, t, values), SensorStream(
            datetime(2018, 10, 7, 14, 0, 0, 100000), holed, np.zeros((len(holed), 3))),
            Path("acc.csv"), Path("gyro.csv"))


# ----------------------------------------------------------------------------- reader


def test_synthetic_read_back(sensors_only):
    report = ReadReport()
    samples = list(read_mmact(sensors_only, skeleton_dir=sensors_only.parent / "skel",
                              report=report))
    assert len(samples) == report.read == 18 and not report.skipped
    keys = [(s.action, s.subject, s.trial) for s in samples]
    assert keys == sorted(keys) and len({s.sample_id for s in samples}) == 18
    assert {s.action for s in samples} == set(ACTIONS)
    assert {s.subject for s in samples} == set(synthetic_subject_ids(SUBJECTS)) == {1, 2, 17}
    assert {s.trial for s in samples} == {101, 102}  # scene 1, sessions 1-2
    for s in samples:
        assert s.action_name == MMACT_ACTIONS[s.action - 1]
        assert s.sample_id == f"subject{s.subject}_scene1_session{s.trial - 100}_{s.action_name}"
        assert s.layout == "mediapipe_pose33" and s.skeleton.shape == (12, 33, 3)
        assert s.acc.ndim == 2 and s.acc.shape[1] == 3 and s.gyro.shape == s.acc.shape
        assert 96.0 < s.inertial_rate < 104.0 and 240 < len(s.acc) < 360  # ~3 s at ~100 Hz
        assert s.skeleton_rate == 15.0
        # Programs start at rest: the watch reads 1 g of specific force there.
        assert np.linalg.norm(s.acc[:5], axis=1) == pytest.approx(1.0, abs=0.1)
    walk = next(s for s in samples if s.action_name == "walking")
    check = next(s for s in samples if s.action_name == "checking_time")
    assert np.abs(walk.gyro).max() > 50.0 > np.abs(check.gyro).max()  # phone on the thigh

    spec = get_dataset("mmact")
    masks = spec.split_masks(np.array([s.subject for s in samples]),
                             np.array([s.trial for s in samples]))
    train = masks["cross_subject"]
    assert train.tolist() == [s.subject <= 16 for s in samples] and train.sum() == 12


def test_sensor_choice_and_actions_filter(sensors_only):
    skel = sensors_only.parent / "skel"
    phone = list(read_mmact(sensors_only, [25], sensor="acc_phone", gyro=False,
                            skeleton_dir=skel))
    assert len(phone) == 6 and {s.action_name for s in phone} == {"walking"}
    assert all(s.gyro is None and 47.0 < s.inertial_rate < 53.0 for s in phone)
    with pytest.raises(DataError, match=r"unknown MMAct action numbers \[36\]"):
        list(read_mmact(sensors_only, [36], skeleton_dir=skel))
    with pytest.raises(DataError, match="no skeleton source"):
        list(read_mmact(sensors_only))
    with pytest.raises(DataError, match="folder is missing") as err:
        list(read_mmact(sensors_only.parent / "skel", skeleton_dir=skel))
    assert err.value.path.name == "acc_watch_clip"


@pytest.mark.parametrize("sensor", ["gyro", "acc_watch"])
def test_missing_sensor_file_error_and_skip(mmact_copy, sensor):
    root, skel = mmact_copy
    gone = root / f"{sensor}_clip/subject2/scene1/session2/walking.csv"
    gone.unlink()
    with pytest.raises(DataError, match=f"{sensor} file is missing") as err:
        list(read_mmact(root, skeleton_dir=skel))
    assert err.value.path == gone
    report = ReadReport()
    samples = list(read_mmact(root, skeleton_dir=skel, on_bad_clip="skip", report=report))
    assert len(samples) == report.read == 17
    assert report.skipped == [(str(gone), f"{sensor} file is missing for clip "
                               "subject2_scene1_session2_walking")]


def test_bad_timestamps_in_dataset_error_and_skip(mmact_copy):
    root, skel = mmact_copy
    path = root / "acc_watch_clip/subject1/scene1/session1/checking_time.csv"
    lines = path.read_text().splitlines()
    lines[5], lines[6] = lines[6], lines[5]  # time runs backwards at line 7
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="line 7: .*goes back in time") as err:
        list(read_mmact(root, skeleton_dir=skel))
    assert err.value.path == path
    report = ReadReport()
    assert len(list(read_mmact(root, skeleton_dir=skel, on_bad_clip="skip",
                               report=report))) == 17
    assert report.skipped[0][0] == str(path) and "line 7" in report.skipped[0][1]


def test_missing_skeleton_reports_the_stage_reason(mmact_copy):
    root, skel = mmact_copy
    cid = "subject17_scene1_session1_carrying_light"
    (skel / f"{cid}.npz").unlink()
    (skel / "skeletons.json").write_text(json.dumps({"failed": [
        {"clip": cid, "video": "RGB/x.mp4", "problem": "no person detected in any frame"}]}))
    report = ReadReport()
    assert len(list(read_mmact(root, skeleton_dir=skel, on_bad_clip="skip",
                               report=report))) == 17
    (path, problem), = report.skipped
    assert path == str(skel / f"{cid}.npz") and "no person detected" in problem
    with pytest.raises(DataError, match="extracted from cam1, not cam2"):
        list(read_mmact(root, skeleton_dir=skel, camera="cam2"))


def test_skeleton_file_with_nan_is_named_and_skippable(mmact_copy):
    root, skel = mmact_copy
    path = skel / "subject1_scene1_session1_walking.npz"
    track, meta = load_track(path)
    track.world[1, 2, 0] = np.nan
    save_track(path, track, **{k: v for k, v in meta.items() if k != "version"})
    with pytest.raises(DataError, match="NaN or inf values in world") as err:
        list(read_mmact(root, skeleton_dir=skel))
    assert err.value.path == path  # the skeletons stage's file, not the fused output
    report = ReadReport()
    assert len(list(read_mmact(root, skeleton_dir=skel, on_bad_clip="skip",
                               report=report))) == 17
    assert report.skipped[0][0] == str(path)


def test_two_files_of_one_clip_are_an_error(mmact_copy):
    root, skel = mmact_copy
    folder = root / "acc_watch_clip/subject1/scene1/session1"
    shutil.copy(folder / "walking.csv", folder / "Walking.csv")  # the case differs only
    with pytest.raises(DataError, match=r"names the same clip "
                       r"\(subject1_scene1_session1_walking\) as .*alking\.csv; keep one"):
        list(read_mmact(root, skeleton_dir=skel))
    # Like any bad clip: skippable, and no concern of a read that leaves its action out.
    report = ReadReport()
    kept = list(read_mmact(root, skeleton_dir=skel, on_bad_clip="skip", report=report))
    assert len(kept) == 17 and "names the same clip" in report.skipped[0][1]
    walking = MMACT_ACTIONS.index("walking") + 1
    others = [a for a in range(1, len(MMACT_ACTIONS) + 1) if a != walking]
    assert len(list(read_mmact(root, others, skeleton_dir=skel))) == len(
        [s for s in kept if s.action != walking])


def test_files_of_other_actions_are_ignored(mmact_copy):
    root, skel = mmact_copy
    folder = root / "acc_watch_clip/subject1/scene1/session1"
    shutil.copy(folder / "walking.csv", folder / "talking_on_phone_desk.csv")
    shutil.copy(folder / "walking.csv", folder / "Walking_Backwards.csv")
    assert len(list(read_mmact(root, skeleton_dir=skel))) == 18


def test_video_index_accepts_both_camera_levels(tmp_path):
    a = tmp_path / "RGB/subject3/cam2/scene1/session4/Pointing.mp4"
    b = tmp_path / "RGB/subject5/scene2/cam2/session1/fall.avi"
    c = tmp_path / "RGB/subject5/scene2/cam1/session1/fall.avi"
    for p in (a, b, c):
        p.parent.mkdir(parents=True)
        p.write_bytes(b"")
    found = {k.clip_id: p for k, p in index_videos(tmp_path, "cam2").items()}
    assert found == {"subject3_scene1_session4_pointing": a, "subject5_scene2_session1_fall": b}
    # Both camera levels hold one clip: no pick, an error or a twin for the reader to report
    d = tmp_path / "RGB/subject5/cam2/scene2/session1/fall.avi"
    d.parent.mkdir(parents=True)
    d.write_bytes(b"")
    with pytest.raises(DataError, match=r"names the same clip \(subject5_scene2_session1_fall\)"):
        index_videos(tmp_path, "cam2")
    twins: dict = {}
    index_videos(tmp_path, "cam2", twins=twins)
    assert [k.clip_id for k in twins] == ["subject5_scene2_session1_fall"]
    # An .mp4 of that clip wins over both .avi files: the twin is moot.
    d.with_suffix(".mp4").write_bytes(b"")
    twins = {}
    found = {k.clip_id: p for k, p in index_videos(tmp_path, "cam2", twins=twins).items()}
    assert found["subject5_scene2_session1_fall"] == d.with_suffix(".mp4") and twins == {}


# ----------------------------------------------------------------------------- generator


def test_generator_is_deterministic_and_refuses_foreign_folders(sensors_only, tmp_path):
    again = tmp_path / "again"
    generate_mmact(again, actions=ACTIONS, subjects=SUBJECTS, trials=SESSIONS, seed=1,
                   video=False)
    assert (again / "MANIFEST.sha256").read_bytes() == \
        (sensors_only / "MANIFEST.sha256").read_bytes()
    assert verify_manifest(again) == 18 * 4 + 1  # four sensors per clip + SOURCE.txt
    other = tmp_path / "other"
    generate_mmact(other, actions=ACTIONS, subjects=SUBJECTS, trials=SESSIONS, seed=2,
                   video=False)
    assert (other / "MANIFEST.sha256").read_bytes() != \
        (sensors_only / "MANIFEST.sha256").read_bytes()
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("keep me")
    with pytest.raises(ConfigError, match="refusing to replace"):
        generate_mmact(foreign, actions=[1], subjects=1, trials=1, seed=0, video=False)
    with pytest.raises(ConfigError):
        generate_mmact(tmp_path / "x", actions=[0], subjects=1, trials=1, seed=0)


def test_subject_ids_cover_both_sides_of_the_split():
    assert synthetic_subject_ids(1) == [1]
    assert synthetic_subject_ids(2) == [1, 17]
    assert synthetic_subject_ids(6) == [1, 2, 3, 4, 5, 17]
    assert synthetic_subject_ids(20) == list(range(1, 21))


def test_spec():
    spec = get_dataset("mmact")
    assert spec.name == "mmact" and spec.layout == "mediapipe_pose33"
    assert spec.skeletons_from_video and spec.sensors[0] == "acc_watch"
    assert spec.class_names == MMACT_ACTIONS and len(MMACT_ACTIONS) == 35
    assert spec.official_urls == () and spec.read is read_mmact
    rule = spec.protocol("cross_subject").is_train
    assert all(rule(s, 101) for s in range(1, 17)) and not any(rule(s, 101) for s in (17, 20))


# ----------------------------------------------------------------------------- with MediaPipe


@pytest.fixture(scope="module")
def model(pose_model: Path) -> Path:
    return pose_model


def test_skeletons_stage_and_reader_on_synthetic_videos(tmp_path, model):
    root = tmp_path / "raw"
    generate_mmact(root, actions=[25, 26], subjects=2, trials=1, seed=0)  # 4 clips
    cache, out = tmp_path / "cache", tmp_path / "skeletons"

    report = extract_skeletons(root, out, model, camera="cam1", frame_stride=3, cache_dir=cache)
    assert (report.processed, report.cached, report.failed) == (4, 0, [])
    assert report.to_dict() == {k: v for k, v in json.loads(
        (out / "skeletons.json").read_text()).items() if k in report.to_dict()}
    again = extract_skeletons(root, out, model, camera="cam1", frame_stride=3, cache_dir=cache)
    assert (again.processed, again.cached) == (0, 4)  # nothing re-run

    samples = list(read_mmact(root, skeleton_dir=out))
    assert len(samples) == 4
    for s in samples:
        assert s.skeleton.shape[1:] == (33, 3) and 12 <= len(s.skeleton) <= 18  # ~45 / 3
        assert s.skeleton_rate == pytest.approx(5.0)  # 15 fps / 3
        nose, hip = 0, 23
        assert (s.skeleton[:, nose, 1] > s.skeleton[:, hip, 1]).all()  # y up: head above hip
    # On the fly through the same cache gives the same skeletons.
    direct = list(read_mmact(root, model_path=model, cache_dir=cache, frame_stride=3))
    for a, b in zip(samples, direct, strict=True):
        np.testing.assert_array_equal(a.skeleton, b.skeleton)

    # A video without a person: listed with its reason; the reader skips that clip with it.
    video = root / "RGB/subject17/cam1/scene1/session1/walking.mp4"
    import cv2

    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 15, (64, 64))
    for _ in range(3):
        writer.write(np.zeros((64, 64, 3), np.uint8))
    writer.release()
    report = extract_skeletons(root, out, model, camera="cam1", frame_stride=3, cache_dir=cache)
    assert (report.processed, report.cached) == (0, 3)
    assert report.failed == [("subject17_scene1_session1_walking",
                              "RGB/subject17/cam1/scene1/session1/walking.mp4",
                              "no person detected in any frame (1 frames)")]
    assert not (out / "subject17_scene1_session1_walking.npz").exists()
    skipped = ReadReport()
    assert len(list(read_mmact(root, skeleton_dir=out, on_bad_clip="skip",
                               report=skipped))) == 3
    assert "no person detected" in skipped.skipped[0][1]

    # Two videos of one clip (the other camera level): no skeleton, and the reason listed.
    video.unlink()
    first = next((root / "RGB").glob("*/cam1/*/*/*.mp4"))
    subj, _, scene, sess = first.relative_to(root / "RGB").parts[:4]
    twin = root / "RGB" / subj / scene / "cam1" / sess / first.name
    twin.parent.mkdir(parents=True)
    shutil.copy(first, twin)
    report = extract_skeletons(root, out, model, camera="cam1", frame_stride=3, cache_dir=cache)
    assert report.cached == 2 and len(report.failed) == 1  # walking.mp4 gone: 3 clips
    assert "names the same clip" in report.failed[0][2]
