"""MediaPipe pose extraction on a real photo, its failure modes, the cache and the layout."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data as skimage_data

from crosskd.data import pose
from crosskd.data.pose import (
    MEDIAPIPE_POSE33,
    PoseTrack,
    extract_cached,
    extract_video,
    interpolate_missing,
    load_track,
    save_track,
)
from crosskd.errors import DataError

FPS = 15.0


@pytest.fixture(scope="session")
def model(pose_model: Path) -> Path:
    return pose_model


def write_video(path: Path, frames: list[np.ndarray], fps: float = FPS) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps,
                             (frames[0].shape[1], frames[0].shape[0]))
    assert writer.isOpened()
    for f in frames:
        writer.write(f)
    writer.release()
    return path


def astronaut_frames(n: int, size: int = 256) -> list[np.ndarray]:
    """The real photo (BGR), scaled into a grey frame and drifting a few pixels per frame."""
    photo = np.ascontiguousarray(skimage_data.astronaut()[:, :, ::-1])
    out = []
    for i in range(n):
        m = cv2.getRotationMatrix2D((256, 256), 2.0 * np.sin(i / 3), 0.6 * size / 512)
        m[:, 2] += (size / 2 - 256 + 3 * i, size / 2 - 256)
        out.append(cv2.warpAffine(photo, m, (size, size), borderValue=(128, 128, 128)))
    return out


def test_astronaut_photo_one_person_plausible_landmarks(tmp_path, model):
    photo = np.ascontiguousarray(skimage_data.astronaut()[:, :, ::-1])
    track = extract_video(write_video(tmp_path / "photo.mp4", [photo]), model)
    assert len(track) == 1 and track.n_interpolated == 0
    assert track.landmarks.shape == (1, 33, 4) and track.world.shape == (1, 33, 3)
    lm = {name: track.landmarks[0, i] for i, name in enumerate(MEDIAPIPE_POSE33.joints)}
    print("\n" + "\n".join(f"{k:18s} x={v[0]:.3f} y={v[1]:.3f} z={v[2]:.3f} vis={v[3]:.2f}"
                           for k, v in lm.items()))
    # Image y grows downwards: head above shoulders above hips (the hips sit at the photo's
    # bottom edge, a portrait); the person faces the camera, so their left is image right.
    shoulders_y = (lm["left_shoulder"][1], lm["right_shoulder"][1])
    assert lm["nose"][1] < min(shoulders_y)
    assert max(shoulders_y) < min(lm["left_hip"][1], lm["right_hip"][1])
    assert lm["left_shoulder"][0] > lm["nose"][0] > lm["right_shoulder"][0]
    for name in ("nose", "left_eye", "right_eye", "left_shoulder", "right_shoulder"):
        x, y, _, vis = lm[name]
        assert 0.0 < x < 1.0 and 0.0 < y < 1.0, name
        assert vis > 0.9, name
    assert 0.35 < lm["nose"][0] < 0.55 and 0.15 < lm["nose"][1] < 0.35  # her face


def test_short_video_landmarks_on_nearly_every_frame(tmp_path, model):
    video = write_video(tmp_path / "drift.mp4", astronaut_frames(10))
    start = time.perf_counter()
    track = extract_video(video, model)
    seconds = time.perf_counter() - start
    print(f"\npose extraction, VIDEO mode: {len(track) / seconds:.1f} frames/s "
          f"(10 frames of 256x256 in {seconds:.2f} s, model load included)")
    assert len(track) == 10
    assert track.missing.mean() <= 0.1
    assert track.fps == FPS and track.frame_size == (256, 256) and track.frame_stride == 1
    np.testing.assert_allclose(track.times, np.arange(10) / FPS)
    assert np.isfinite(track.landmarks).all() and np.isfinite(track.world).all()
    # The project frame: y up, so the nose is above the shoulders in skeleton(); both kinds.
    for coords in ("image", "world"):
        sk = track.skeleton(coords)
        assert sk.shape == (10, 33, 3)
        nose, l_sh = MEDIAPIPE_POSE33.index("nose"), MEDIAPIPE_POSE33.index("left_shoulder")
        r_sh = MEDIAPIPE_POSE33.index("right_shoulder")
        assert (sk[:, nose, 1] > sk[:, l_sh, 1]).all()
        assert (sk[:, r_sh, 0] > sk[:, l_sh, 0]).all()  # x = the performer's right

    strided = extract_video(video, model, frame_stride=3)
    assert len(strided) == 4 and strided.fps == FPS / 3
    np.testing.assert_allclose(strided.times, np.array([0, 3, 6, 9]) / FPS)


def test_frames_without_person_are_interpolated(tmp_path, model):
    frames = astronaut_frames(8)
    blank = np.zeros_like(frames[0])
    video = write_video(tmp_path / "gap.mp4", frames[:3] + [blank, blank] + frames[3:6])
    track = extract_video(video, model)
    assert len(track) == 8
    assert track.missing[3:5].all() and track.n_interpolated == 2
    # Filled frames lie between their neighbours and are flagged by zero visibility.
    lo, hi = track.landmarks[2, :, :3], track.landmarks[5, :, :3]
    np.testing.assert_allclose(track.landmarks[3, :, :3], lo + (hi - lo) / 3, atol=1e-5)
    assert (track.landmarks[3:5, :, 3] == 0).all()


def test_blank_video_is_no_person_error(tmp_path, model):
    video = write_video(tmp_path / "black.mp4", [np.zeros((128, 128, 3), np.uint8)] * 4)
    with pytest.raises(DataError, match="no person detected in any frame") as err:
        extract_video(video, model)
    assert err.value.path == video


def test_unreadable_and_empty_videos_name_the_file(tmp_path, model):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 20)
    empty = tmp_path / "empty.avi"  # a valid container with zero frames
    cv2.VideoWriter(str(empty), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (64, 64)).release()
    for video, problem in ((junk, "cannot open"), (empty, "no readable frames"),
                           (tmp_path / "none.mp4", "missing")):
        with pytest.raises(DataError, match=problem) as err:
            extract_video(video, model)
        assert err.value.path == video and video.name in str(err.value)


def test_truncated_video_is_an_error_not_a_short_skeleton(tmp_path, model):
    video = tmp_path / "cut.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (128, 128))
    for frame in astronaut_frames(30, size=128):
        writer.write(frame)
    writer.release()
    assert len(extract_video(video, model)) == 30  # whole, it reads through
    video.write_bytes(video.read_bytes()[: video.stat().st_size * 6 // 10])  # lost its tail
    with pytest.raises(DataError, match=r"only \d+ of the 30 frames .* truncated") as err:
        extract_video(video, model)
    assert err.value.path == video


def test_interpolate_missing_linear_and_held_at_ends():
    values = np.array([[0.0], [0.0], [2.0], [0.0], [6.0], [0.0]])
    missing = np.array([True, False, True, False, True, True])
    values[1], values[3] = 1.0, 3.0
    out = interpolate_missing(values, missing)
    np.testing.assert_allclose(out[:, 0], [1.0, 1.0, 2.0, 3.0, 3.0, 3.0])
    with pytest.raises(ValueError):
        interpolate_missing(values, np.ones(6, bool))


def fake_track(n: int = 5, seed: int = 0) -> PoseTrack:
    rng = np.random.default_rng(seed)
    return PoseTrack(
        landmarks=rng.random((n, 33, 4), dtype=np.float32),
        world=rng.random((n, 33, 3), dtype=np.float32),
        missing=np.zeros(n, bool), times=np.arange(n) / FPS, fps=FPS, video_fps=FPS,
        frame_size=(320, 240), frame_stride=1,
    )


def test_cache_hits_misses_and_failures(tmp_path, monkeypatch, model):
    calls: list[Path] = []

    def counting(video, model_path, *, frame_stride=1):
        calls.append(Path(video))
        if Path(video).read_bytes().startswith(b"blank"):
            raise DataError(video, "no person detected in any frame (3 frames)")
        return fake_track(seed=len(calls))

    monkeypatch.setattr(pose, "extract_video", counting)
    cache = tmp_path / "cache"
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"video one")

    first = extract_cached(video, model, cache)
    assert len(calls) == 1 and not first.from_cache
    assert len(list(cache.glob("*.npz"))) == 1
    again = extract_cached(video, model, cache)
    assert len(calls) == 1 and again.from_cache  # MediaPipe not run again
    np.testing.assert_array_equal(again.landmarks, first.landmarks)
    assert again.frame_size == (320, 240) and again.fps == FPS

    renamed = tmp_path / "renamed.mp4"  # same content: still a hit
    renamed.write_bytes(b"video one")
    assert extract_cached(renamed, model, cache).from_cache and len(calls) == 1
    assert not extract_cached(video, model, cache, frame_stride=2).from_cache  # other stride
    assert len(calls) == 2

    video.write_bytes(b"video two")  # changed content: processed again
    assert not extract_cached(video, model, cache).from_cache and len(calls) == 3
    assert len(list(cache.glob("*.npz"))) == 3

    blank = tmp_path / "blank.mp4"
    blank.write_bytes(b"blank")
    with pytest.raises(DataError, match="no person"):
        extract_cached(blank, model, cache)
    assert len(list(cache.glob("*"))) == 3  # nothing cached for the failure, no temp files

    # A damaged entry is recomputed, not trusted.
    entry = pose.cache_path(video, model, cache)
    entry.write_bytes(b"garbage")
    assert not extract_cached(video, model, cache).from_cache and len(calls) == 5
    load_track(entry)  # rewritten whole


def test_save_load_round_trip_and_damage(tmp_path):
    track = fake_track()
    save_track(tmp_path / "t.npz", track, camera="cam2")
    back, meta = load_track(tmp_path / "t.npz")
    np.testing.assert_array_equal(back.world, track.world)
    assert meta["camera"] == "cam2" and meta["version"] == pose.EXTRACTOR_VERSION
    track.world[3, 5, 1] = np.nan  # e.g. written by another tool
    save_track(tmp_path / "nan.npz", track)
    with pytest.raises(DataError, match=r"corrupt skeleton file .*NaN or inf values in world"):
        load_track(tmp_path / "nan.npz")
    save_track(tmp_path / "size.npz", replace(fake_track(), frame_size=(0, 480)))
    with pytest.raises(DataError, match=r"corrupt skeleton file .*frame size 0x480"):
        load_track(tmp_path / "size.npz")
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(DataError, match="corrupt skeleton file") as err:
        load_track(tmp_path / "bad.npz")
    assert err.value.path == tmp_path / "bad.npz"


def test_layout_is_a_spanning_tree_of_mediapipe_connections():
    from mediapipe.tasks.python import vision

    layout = MEDIAPIPE_POSE33
    assert layout.joints == tuple(p.name.lower() for p in vision.PoseLandmark)
    assert layout.num_joints == 33 and len(layout.bones) == 32
    parent = dict(layout.bones)
    for joint in layout.joints:  # every joint reaches the root without a cycle
        seen = {joint}
        while joint in parent:
            joint = parent[joint]
            assert joint not in seen
            seen.add(joint)
        assert joint == layout.center == "left_hip"
    connections = {frozenset((c.start, c.end))
                   for c in vision.PoseLandmarksConnections.POSE_LANDMARKS}
    added = {frozenset(e) for e in [(0, 11), (9, 0), (10, 0)]}  # head and mouth to the body
    for i, j in layout.edges():
        assert frozenset((i, j)) in connections | added, (layout.joints[i], layout.joints[j])
    for name in (layout.hip_joint, layout.spine_joint, layout.left_shoulder,
                 layout.right_shoulder):
        layout.index(name)
