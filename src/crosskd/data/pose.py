"""Skeletons from RGB video with MediaPipe Pose (Tasks API), and a per-video result cache.

Why: MMAct ships no skeletons, so the skeleton teachers need them extracted from the RGB
video (PSKD used OpenPose; here MediaPipe's BlazePose, 33 landmarks). mediapipe >= 0.10.30
has no ``solutions`` and ships no models: a ``.task`` bundle is passed by path.

One :class:`PoseTrack` per video: per processed frame the 33 landmarks as (x, y, z,
visibility) in MediaPipe's normalised image coordinates, plus the metric "world" landmarks.
Frames without a person are marked in ``missing`` and filled by linear interpolation over
time (held constant before the first and after the last detection); their visibility is
set to 0, so a consumer can tell measured from filled frames. A video with no person in any
frame is an error, not an all-NaN track.

Extraction is slow on a CPU (tens of frames per second), so :func:`extract_cached` keeps one
small ``.npz`` per (video content, model content, stride, extractor settings): re-runs only
process new or changed videos, and a failed video leaves no cache entry.
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from crosskd.atomic import atomic_path
from crosskd.data.layouts import MEDIAPIPE_POSE33, POSE33_JOINTS
from crosskd.data.manifest import sha256_file
from crosskd.errors import DataError

log = logging.getLogger(__name__)

NUM_LANDMARKS = 33
DEFAULT_FPS = 30.0  # used (with a warning) when a video's header has no usable frame rate
TRUNCATED_TOLERANCE = 0.05  # header frame counts of some containers are estimates
MIN_DETECTION_CONFIDENCE = 0.5
MIN_PRESENCE_CONFIDENCE = 0.5
MIN_TRACKING_CONFIDENCE = 0.5
# Part of every cache key: bump it when extraction or the stored format changes, so old
# entries are never read as new ones.
EXTRACTOR_VERSION = (
    f"crosskd-pose-1|det={MIN_DETECTION_CONFIDENCE}|pres={MIN_PRESENCE_CONFIDENCE}"
    f"|track={MIN_TRACKING_CONFIDENCE}"
)
SKELETON_COORDS = ("image", "world")

@dataclass
class PoseTrack:
    """One video's pose: arrays lead with the F processed frames (every ``frame_stride``-th).

    ``landmarks`` (F, 33, 4) float32: x, y in [0, 1] of the image width / height (may leave
    that range for joints outside the frame), z (MediaPipe's depth, about the scale of x,
    smaller = nearer), visibility. ``world`` (F, 33, 3) float32: MediaPipe's world landmarks,
    metres, origin between the hips, axes image-right, down, away from the camera.
    ``missing`` (F,) bool: no person found, values interpolated. ``times`` (F,) float64:
    seconds from the video's start. ``fps``: the track's rate (video fps / stride).
    ``from_cache`` says whether :func:`extract_cached` read it from the cache.
    """

    landmarks: np.ndarray
    world: np.ndarray
    missing: np.ndarray
    times: np.ndarray
    fps: float
    video_fps: float
    frame_size: tuple[int, int]  # (width, height) in pixels
    frame_stride: int
    from_cache: bool = False

    def __len__(self) -> int:
        return len(self.landmarks)

    @property
    def n_interpolated(self) -> int:
        return int(self.missing.sum())

    def skeleton(self, coords: str = "image") -> np.ndarray:
        """(F, 33, 3) float64 in the project's camera frame: x = the performer's right (image
        left), y = up, z = away from the camera (a rotation of MediaPipe's axes).

        ``image``: image coordinates in units of the image height (keeps where the person
        is and moves: walking, falling); ``world``: metres, re-centred between the hips on
        every frame (metric, but the body's travel is lost).
        """
        if coords == "image":
            w, h = self.frame_size
            xyz = self.landmarks[..., :3].astype(np.float64) * np.array([w / h, 1.0, w / h])
        elif coords == "world":
            xyz = self.world.astype(np.float64)
        else:
            raise ValueError(f"coords must be one of {SKELETON_COORDS}, got {coords!r}")
        return xyz * np.array([-1.0, -1.0, 1.0])


def interpolate_missing(values: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Fill frames flagged in ``missing`` (F,) by linear interpolation along axis 0.

    Frames before the first / after the last detection take its value. Needs at least one
    present frame.
    """
    out = np.array(values, dtype=np.float64, copy=True)
    present = np.flatnonzero(~missing)
    if present.size == 0:
        raise ValueError("no present frame to interpolate from")
    if present.size == len(missing):
        return out
    gaps = np.flatnonzero(missing)
    flat = out.reshape(len(out), -1)
    for k in range(flat.shape[1]):
        flat[gaps, k] = np.interp(gaps, present, flat[present, k])
    return out


def _open_video(video_path: Path) -> Any:
    import cv2

    if not video_path.is_file():
        raise DataError(video_path, "video file is missing")
    cap = cv2.VideoCapture(str(video_path))
    if not cap.isOpened():
        cap.release()
        raise DataError(video_path, "cannot open the video (unreadable or not a video file)")
    return cap


def _video_fps(cap: Any, video_path: Path) -> float:
    import cv2

    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    if not math.isfinite(fps) or not 0.0 < fps <= 1000.0:
        log.warning("%s: no usable frame rate in the header (%r); assuming %.0f fps",
                    video_path, fps, DEFAULT_FPS)
        fps = DEFAULT_FPS
    return fps


def extract_video(
    video_path: str | Path, model_path: str | Path, *, frame_stride: int = 1
) -> PoseTrack:
    """Run PoseLandmarker (VIDEO mode: detection, then tracking) on every ``frame_stride``-th
    frame of one video.

    A fresh landmarker per video: its tracking state must not carry over from another
    video, or a cached result would depend on processing order. Raises DataError naming the
    video when it is missing, unreadable, has no frames, or shows no person in any frame.
    """
    import cv2
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    video_path, model_path = Path(video_path), Path(model_path)
    if frame_stride < 1:
        raise ValueError(f"frame_stride must be >= 1, got {frame_stride}")
    if not model_path.is_file():
        raise DataError(model_path, "pose model (.task bundle) is missing")
    cap = _open_video(video_path)
    options = vision.PoseLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(model_path)),
        running_mode=vision.RunningMode.VIDEO,
        num_poses=1,
        min_pose_detection_confidence=MIN_DETECTION_CONFIDENCE,
        min_pose_presence_confidence=MIN_PRESENCE_CONFIDENCE,
        min_tracking_confidence=MIN_TRACKING_CONFIDENCE,
    )
    marks: list[np.ndarray] = []
    worlds: list[np.ndarray] = []
    found: list[bool] = []
    indices: list[int] = []
    try:
        fps = _video_fps(cap, video_path)
        header_frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        ok, frame = cap.read()
        if not ok:  # checked before loading the model: an empty video fails fast
            raise DataError(video_path, "video has no readable frames (empty or corrupt)")
        size = (int(frame.shape[1]), int(frame.shape[0]))
        try:
            landmarker = vision.PoseLandmarker.create_from_options(options)
        except Exception as exc:  # mediapipe raises RuntimeError/ValueError for bad bundles
            raise DataError(model_path, f"cannot load the pose model ({exc})") from exc
        with landmarker:
            index, last_ms = 0, -1
            while ok:
                if index % frame_stride == 0:
                    rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                    # VIDEO mode needs strictly increasing integer timestamps.
                    ms = max(int(round(index * 1000.0 / fps)), last_ms + 1)
                    last_ms = ms
                    result = landmarker.detect_for_video(
                        mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb), ms
                    )
                    if result.pose_landmarks:
                        lm = result.pose_landmarks[0]
                        wl = result.pose_world_landmarks[0]
                        marks.append(np.array(
                            [(p.x, p.y, p.z, p.visibility or 0.0) for p in lm], np.float32))
                        worlds.append(np.array([(p.x, p.y, p.z) for p in wl], np.float32))
                        found.append(True)
                    else:
                        marks.append(np.zeros((NUM_LANDMARKS, 4), np.float32))
                        worlds.append(np.zeros((NUM_LANDMARKS, 3), np.float32))
                        found.append(False)
                    indices.append(index)
                index += 1
                ok, frame = cap.read()
    finally:
        cap.release()
    # A cut-off file decodes up to the damage and then reads as ended: without this check
    # its partial skeleton would be stretched over the whole inertial clip.
    if header_frames > 0 and index < header_frames - max(2, TRUNCATED_TOLERANCE * header_frames):
        raise DataError(video_path, f"only {index} of the {header_frames} frames its header "
                        "lists are readable: truncated or corrupt video")
    missing = ~np.array(found)
    if missing.all():
        raise DataError(video_path, f"no person detected in any frame ({len(indices)} frames)")
    landmarks = interpolate_missing(np.stack(marks), missing).astype(np.float32)
    landmarks[missing, :, 3] = 0.0  # filled, not seen
    world = interpolate_missing(np.stack(worlds), missing).astype(np.float32)
    if missing.any():
        log.info("%s: no person in %d of %d frames; interpolated", video_path,
                 int(missing.sum()), len(missing))
    return PoseTrack(
        landmarks=landmarks,
        world=world,
        missing=missing,
        times=np.array(indices, dtype=np.float64) / fps,
        fps=fps / frame_stride,
        video_fps=fps,
        frame_size=size,
        frame_stride=frame_stride,
    )


# ----------------------------------------------------------------------------- storage


def save_track(path: str | Path, track: PoseTrack, **meta: str) -> None:
    """Write ``track`` (and string metadata) to ``path`` as a compressed .npz, atomically."""
    arrays: dict[str, Any] = {
        "landmarks": track.landmarks.astype(np.float32),
        "world": track.world.astype(np.float32),
        "missing": track.missing.astype(bool),
        "times": track.times.astype(np.float64),
        "fps": np.float64(track.fps),
        "video_fps": np.float64(track.video_fps),
        "frame_size": np.array(track.frame_size, dtype=np.int64),
        "frame_stride": np.int64(track.frame_stride),
        "version": np.str_(EXTRACTOR_VERSION),
    }
    arrays.update({f"meta_{k}": np.str_(v) for k, v in meta.items()})
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        # A file object, not a name: np.savez would append ".npz" to the temporary name.
        np.savez_compressed(f, **arrays)


def load_track(path: str | Path) -> tuple[PoseTrack, dict[str, str]]:
    """Read a file written by :func:`save_track`: the track and its metadata strings."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            landmarks, world = z["landmarks"], z["world"]
            missing, times = z["missing"].astype(bool), z["times"]
            f = len(landmarks)
            if (landmarks.shape != (f, NUM_LANDMARKS, 4) or world.shape != (f, NUM_LANDMARKS, 3)
                    or missing.shape != (f,) or times.shape != (f,) or f == 0):
                raise ValueError(f"inconsistent shapes {landmarks.shape}, {world.shape}, "
                                 f"{missing.shape}, {times.shape}")
            bad = [k for k, v in (("landmarks", landmarks), ("world", world), ("times", times))
                   if not np.isfinite(v).all()]
            if bad:
                raise ValueError(f"NaN or inf values in {', '.join(bad)}")
            width, height = (int(v) for v in z["frame_size"])
            if width <= 0 or height <= 0 or not 0 < float(z["fps"]) < math.inf:
                raise ValueError(f"frame size {width}x{height}, fps {float(z['fps'])}")
            track = PoseTrack(
                landmarks=landmarks, world=world, missing=missing, times=times,
                fps=float(z["fps"]), video_fps=float(z["video_fps"]),
                frame_size=(width, height), frame_stride=int(z["frame_stride"]),
            )
            meta = {k[5:]: str(z[k]) for k in z.files if k.startswith("meta_")}
            meta["version"] = str(z["version"])
    except FileNotFoundError:
        raise DataError(path, "skeleton file is missing") from None
    except Exception as exc:  # zipfile/numpy raise many types for a damaged file
        raise DataError(path, f"corrupt skeleton file ({type(exc).__name__}: {exc})") from exc
    return track, meta


# ----------------------------------------------------------------------------- cache

_MODEL_SHA: dict[tuple[str, int, int], str] = {}


def model_sha256(model_path: str | Path) -> str:
    """sha256 of the model bundle, memoised per (path, size, mtime): hashed once per run."""
    p = Path(model_path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise DataError(p, "pose model (.task bundle) is missing") from None
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _MODEL_SHA:
        _MODEL_SHA[key] = sha256_file(p)
    return _MODEL_SHA[key]


def cache_key(video_sha: str, model_sha: str, frame_stride: int) -> str:
    text = f"{EXTRACTOR_VERSION}|{video_sha}|{model_sha}|{frame_stride}"
    return hashlib.sha256(text.encode()).hexdigest()


def cache_path(
    video_path: str | Path, model_path: str | Path, cache_dir: str | Path, frame_stride: int = 1
) -> Path:
    """Where :func:`extract_cached` keeps this video's result (hashes the video)."""
    video_path = Path(video_path)
    if not video_path.is_file():
        raise DataError(video_path, "video file is missing")
    key = cache_key(sha256_file(video_path), model_sha256(model_path), frame_stride)
    return Path(cache_dir) / f"{key}.npz"


def extract_cached(
    video_path: str | Path, model_path: str | Path, cache_dir: str | Path, frame_stride: int = 1
) -> PoseTrack:
    """:func:`extract_video` through a content-addressed cache in ``cache_dir``.

    Keyed by the sha256 of the video and of the model, the stride and the extractor settings,
    so a renamed video is still a hit and a changed one a miss. An unreadable cache entry is
    recomputed; a failed extraction raises and writes nothing.
    """
    path = cache_path(video_path, model_path, cache_dir, frame_stride)
    if path.is_file():
        try:
            track, meta = load_track(path)
        except DataError as exc:
            log.warning("ignoring damaged cache entry %s (%s)", path, exc.problem)
        else:
            if meta.get("version") == EXTRACTOR_VERSION:
                track.from_cache = True
                return track
    track = extract_video(video_path, model_path, frame_stride=frame_stride)
    save_track(path, track, video=str(Path(video_path).name))
    return track


__all__ = [
    "MEDIAPIPE_POSE33",
    "POSE33_JOINTS",
    "PoseTrack",
    "cache_path",
    "extract_cached",
    "extract_video",
    "interpolate_missing",
    "load_track",
    "model_sha256",
    "save_track",
]
