"""Reader for MMAct (sensor CSVs + RGB video), with skeletons extracted by MediaPipe Pose.

Layout (the official release; the synthetic stand-in writes the same)::

    {acc_phone,acc_watch,gyro,orientation}_clip/subjectN/sceneN/sessionN/<action>.csv
    RGB/subjectN/camN/sceneN/sessionN/<action>.mp4        (.avi is accepted too)

Sensor CSVs have no header: column 0 a timestamp ``%Y%m%d_%H:%M:%S.%f`` (e.g.
``20181007_14:03:12.123456``), columns 1-3 x, y, z, ~100 Hz (watch) and on each device's own
clock. Values are taken as Android sensor units: accelerometers in m/s^2 (converted to g),
the gyroscope in rad/s (converted to deg/s). In MMAct the gyroscope (and orientation) are
the phone's, so ``sensor="acc_watch"`` pairs the watch's accelerometer with the phone's
gyroscope. The video level order subject/camera/scene/session follows the public MMAct
video loaders; ``RGB/subjectN/sceneN/camN/sessionN`` is found as well.

Clock: acc and gyro are linearly interpolated onto one uniform grid at the accelerometer's
mean rate, over the interval where both streams have data (absolute timestamps), because the
later stages (resampling, GAF) assume evenly spaced samples.

Skeletons: MMAct ships none. The ``skeletons`` stage (:func:`extract_skeletons`) runs
MediaPipe once per video of one camera and writes ``<skeleton_dir>/<clip id>.npz``; the
reader then takes ``skeleton_dir=``. Alternatively ``model_path=`` (+ ``cache_dir=``)
extracts on the fly. Skeletons are (T, 33, 3) in the ``mediapipe_pose33`` layout, by default
in image coordinates (units of the image height; PSKD used 2-D OpenPose keypoints the same
way), rotated into the project's camera frame (x = performer's right, y = up, z = away).

Classes: :data:`MMACT_ACTIONS`, fixed here, never from sorted file names. Sample ids are
``subjectS_sceneC_sessionE_<action>``; ``Sample.trial`` is ``100 * scene + session`` (unique
per subject and action; the cross-subject protocol does not use it).
"""

from __future__ import annotations

import functools
import json
import logging
import math
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from crosskd.atomic import atomic_dir
from crosskd.data.pose import (
    EXTRACTOR_VERSION,
    SKELETON_COORDS,
    PoseTrack,
    extract_cached,
    extract_video,
    load_track,
    model_sha256,
    save_track,
)
from crosskd.data.sample import ReadReport, Sample, add_clip_file
from crosskd.errors import DataError
from crosskd.progress import progress

log = logging.getLogger(__name__)

# The 37 MMAct labels less the two desk-scene variants (talking_on_phone_desk,
# using_phone_desk), which the public MMAct sensor loaders do not use: 35 classes, in the
# order of the public label lists. Action number i (1-based) is MMACT_ACTIONS[i - 1].
MMACT_ACTIONS: tuple[str, ...] = (
    "carrying", "checking_time", "closing", "crouching", "entering", "exiting", "fall",
    "jumping", "kicking", "loitering", "looking_around", "opening", "picking_up", "pointing",
    "pulling", "pushing", "running", "setting_down", "standing", "talking", "talking_on_phone",
    "throwing", "transferring_object", "using_phone", "walking", "waving_hand", "drinking",
    "pocket_in", "pocket_out", "sitting", "sitting_down", "standing_up", "using_pc",
    "carrying_heavy", "carrying_light",
)
ACTION_NUMBER = {name: i for i, name in enumerate(MMACT_ACTIONS, 1)}
SENSORS = ("acc_phone", "acc_watch", "gyro", "orientation")
ACC_SENSORS = ("acc_phone", "acc_watch")
TIMESTAMP_FORMAT = "%Y%m%d_%H:%M:%S.%f"
STANDARD_GRAVITY = 9.80665  # m/s^2 per g
TRAIN_SUBJECTS = tuple(range(1, 17))  # cross-subject protocol
TEST_SUBJECTS = tuple(range(17, 21))
VIDEO_EXTENSIONS = (".mp4", ".avi")
SKELETON_REPORT = "skeletons.json"
# Longest step between two sensor samples that resampling may bridge (the phone and watch
# record at tens of Hz); a longer one is missing data that interpolation would invent.
MAX_GAP_SECONDS = 0.5
LAYOUT = "mediapipe_pose33"
MIN_OVERLAP = 0.5  # acc/gyro must share at least this fraction of the shorter stream's span

_LEVEL = {"subject": re.compile(r"^subject(\d+)$"), "scene": re.compile(r"^scene(\d+)$"),
          "session": re.compile(r"^session(\d+)$"), "cam": re.compile(r"^cam(\d+)$")}


@dataclass(frozen=True, order=True)
class ClipKey:
    """One recording; sorts in (action, subject, scene, session) order."""

    action: int
    subject: int
    scene: int
    session: int

    @property
    def action_name(self) -> str:
        return MMACT_ACTIONS[self.action - 1]

    @property
    def clip_id(self) -> str:
        return f"subject{self.subject}_scene{self.scene}_session{self.session}_{self.action_name}"

    @property
    def trial(self) -> int:
        return 100 * self.scene + self.session

    def sensor_path(self, root: Path, sensor: str) -> Path:
        """Where the official layout puts this clip's ``sensor`` CSV."""
        return (root / f"{sensor}_clip" / f"subject{self.subject}" / f"scene{self.scene}"
                / f"session{self.session}" / f"{self.action_name}.csv")

    def video_path(self, root: Path, camera: str, ext: str = ".mp4") -> Path:
        """Where the documented layout puts this clip's video from ``camera``."""
        return (root / "RGB" / f"subject{self.subject}" / camera / f"scene{self.scene}"
                / f"session{self.session}" / f"{self.action_name}{ext}")


def _num(level: str, name: str) -> int | None:
    m = _LEVEL[level].match(name.lower())
    return int(m[1]) if m else None


def _action(stem: str, unknown: Counter) -> int | None:
    number = ACTION_NUMBER.get(stem.lower())
    if number is None:
        unknown[stem] += 1
    return number


def index_sensor(root: Path, sensor: str, unknown: Counter | None = None,
                 twins: dict | None = None) -> dict[ClipKey, Path]:
    """Every ``<sensor>_clip`` CSV whose folders and action name parse (case-insensitive);
    a second file of one clip goes to ``twins`` (see :func:`add_clip_file`)."""
    unknown = Counter() if unknown is None else unknown
    found: dict[ClipKey, Path] = {}
    base = root / f"{sensor}_clip"
    for p in sorted(base.glob("*/*/*/*.csv")):
        rel = p.relative_to(base).parts
        s, c, e = _num("subject", rel[0]), _num("scene", rel[1]), _num("session", rel[2])
        if None in (s, c, e):
            continue
        a = _action(p.stem, unknown)
        if a is not None:
            key = ClipKey(a, s, c, e)
            add_clip_file(found, key, p, key.clip_id, twins)
    return found


def index_videos(root: Path, camera: str, unknown: Counter | None = None,
                 twins: dict | None = None) -> dict[ClipKey, Path]:
    """Every video of ``camera`` under ``RGB/`` (subject/cam/scene/session or
    subject/scene/cam/session); .mp4 wins over .avi for the same clip. Two videos of one
    clip in one format go to ``twins`` (see :func:`add_clip_file`)."""
    unknown = Counter() if unknown is None else unknown
    found: dict[ClipKey, Path] = {}
    doubles: dict[ClipKey, tuple[Path, str]] = {}
    base = root / "RGB"
    for ext in reversed(VIDEO_EXTENSIONS):  # later (preferred) extensions overwrite
        this: dict[ClipKey, Path] = {}
        this_doubles: dict[ClipKey, tuple[Path, str]] = {}
        for p in sorted(base.glob(f"*/*/*/*/*{ext}")):
            subj, l2, l3, sess = p.relative_to(base).parts[:4]
            if l2.lower() == camera.lower():
                scene = l3
            elif l3.lower() == camera.lower():
                scene = l2
            else:
                continue
            s, c, e = _num("subject", subj), _num("scene", scene), _num("session", sess)
            if None in (s, c, e):
                continue
            a = _action(p.stem, unknown)
            if a is not None:
                key = ClipKey(a, s, c, e)
                add_clip_file(this, key, p, key.clip_id, this_doubles)
        for key in this:  # a preferred format's video replaces the others, twins included
            doubles.pop(key, None)
        doubles.update(this_doubles)
        found.update(this)
    if doubles and twins is None:
        raise DataError(*doubles[min(doubles)])
    if twins is not None:
        twins.update(doubles)
    return found


def parse_timestamp(text: str) -> datetime:
    """``20181007_14:03:12.123456`` -> datetime; ValueError for anything else."""
    return datetime.strptime(text.strip(), TIMESTAMP_FORMAT)


@dataclass
class SensorStream:
    """One sensor CSV: ``start`` (first timestamp), ``times`` (N,) seconds from it, ``values``
    (N, 3) as stored."""

    start: datetime
    times: np.ndarray
    values: np.ndarray

    @property
    def rate(self) -> float:
        return (len(self.times) - 1) / (self.times[-1] - self.times[0])


def read_sensor_csv(path: str | Path) -> SensorStream:
    """Parse one MMAct sensor file; DataError (file, line, problem) for anything unusable:
    bad timestamps, wrong column count, non-numeric values, repeated or backward time."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(path, "file is missing") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(path, f"unreadable ({type(exc).__name__}: {exc})") from exc
    stamps: list[datetime] = []
    values: list[tuple[float, float, float]] = []
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    for n, line in lines:
        parts = line.split(",")
        if len(parts) != 4:
            raise DataError(path, f"line {n}: expected 4 comma-separated columns (timestamp, "
                            f"x, y, z), got {len(parts)}: {line[:80]!r}")
        try:
            stamps.append(parse_timestamp(parts[0]))
        except ValueError:
            raise DataError(path, f"line {n}: bad timestamp {parts[0].strip()!r} (expected "
                            f"{TIMESTAMP_FORMAT}, e.g. 20181007_14:03:12.123456)") from None
        try:
            x, y, z = (float(v) for v in parts[1:])
        except ValueError:
            raise DataError(path, f"line {n}: non-numeric value in {line[:80]!r}") from None
        if not all(math.isfinite(v) for v in (x, y, z)):
            raise DataError(path, f"line {n}: NaN/inf value in {line[:80]!r}")
        values.append((x, y, z))
    if len(values) < 2:
        raise DataError(path, f"has {len(values)} sample(s); at least 2 are needed")
    start = stamps[0]
    times = np.array([(t - start).total_seconds() for t in stamps])
    steps = np.diff(times)
    bad = np.flatnonzero(steps <= 0)
    if bad.size:
        i = int(bad[0])
        (n0, _), (n1, _) = lines[i], lines[i + 1]
        what = "repeats" if steps[i] == 0 else "goes back in time from"
        raise DataError(path, f"line {n1}: timestamp {stamps[i + 1]:{TIMESTAMP_FORMAT}} {what} "
                        f"line {n0} ({stamps[i]:{TIMESTAMP_FORMAT}}); time must increase")
    return SensorStream(start=start, times=times, values=np.array(values, dtype=np.float64))


def _check_gaps(times: np.ndarray, lo: float, hi: float, path: Path) -> None:
    """DataError for a step over MAX_GAP_SECONDS inside [lo, hi] (seconds on the file's own
    clock): the stretch that is resampled, where interpolation would invent the motion."""
    steps = np.diff(times)
    used = (times[1:] > lo) & (times[:-1] < hi)
    gaps = np.flatnonzero(used & (steps > MAX_GAP_SECONDS))
    if gaps.size:
        i = int(gaps[0])
        raise DataError(path, f"{steps[i]:.3g} s without a sample ({times[i]:.3f}-"
                        f"{times[i + 1]:.3f} s into the file; at most {MAX_GAP_SECONDS} s is "
                        f"bridged); {gaps.size} such gap(s)")


def align_inertial(
    acc: SensorStream, gyro: SensorStream | None, acc_path: Path, gyro_path: Path | None = None
) -> tuple[np.ndarray, np.ndarray | None, float]:
    """Both streams on one uniform grid at the acc's mean rate, where both have data.

    Returns acc [g], gyro [deg/s] (or None) and the rate. DataError when the two streams do
    not overlap in time for at least MIN_OVERLAP of the shorter one.
    """
    rate = acc.rate
    lo, hi = acc.times[0], acc.times[-1]
    g_times = None
    if gyro is not None:
        g_times = gyro.times + (gyro.start - acc.start).total_seconds()
        span = min(hi - lo, g_times[-1] - g_times[0])
        lo, hi = max(lo, g_times[0]), min(hi, g_times[-1])
        if hi - lo < MIN_OVERLAP * span or hi <= lo:
            raise DataError(gyro_path or acc_path, f"acc and gyro barely overlap in time "
                            f"({max(hi - lo, 0.0):.3f} s of {span:.3f} s)")
    _check_gaps(acc.times, lo, hi, acc_path)
    if gyro is not None and g_times is not None:
        shift = g_times[0] - gyro.times[0]
        _check_gaps(gyro.times, lo - shift, hi - shift, gyro_path or acc_path)
    n = int(math.floor((hi - lo) * rate + 1e-9)) + 1
    if n < 2:
        raise DataError(acc_path, f"only {n} sample(s) where acc and gyro overlap")
    grid = lo + np.arange(n) / rate

    def on_grid(times: np.ndarray, v: np.ndarray) -> np.ndarray:
        return np.stack([np.interp(grid, times, v[:, k]) for k in range(3)], axis=1)

    acc_g = on_grid(acc.times, acc.values) / STANDARD_GRAVITY
    gyro_dps = None
    if gyro is not None and g_times is not None:
        gyro_dps = np.degrees(on_grid(g_times, gyro.values))
    return acc_g, gyro_dps, rate


def _skeleton_failures(skeleton_dir: Path) -> dict[str, str]:
    """clip id -> why the skeletons stage produced no file for it (from its report)."""
    try:
        report = json.loads((skeleton_dir / SKELETON_REPORT).read_text())
        return {f["clip"]: f["problem"] for f in report.get("failed", [])}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def read_mmact(
    root: str | Path,
    actions: list[int] | None = None,
    *,
    on_bad_clip: str = "error",
    dataset: str = "mmact",
    report: ReadReport | None = None,
    sensor: str = "acc_watch",
    gyro: bool = True,
    camera: str = "cam1",
    skeleton_dir: str | Path | None = None,
    model_path: str | Path | None = None,
    cache_dir: str | Path | None = None,
    frame_stride: int = 1,
    skeleton_coords: str = "image",
) -> Iterator[Sample]:
    """Yield MMAct samples under ``root`` in (action, subject, scene, session) order.

    ``actions``: 1-based numbers into :data:`MMACT_ACTIONS` (None: all 35). ``sensor``: the
    accelerometer (acc_watch | acc_phone); ``gyro``: also read gyro_clip. Skeletons come
    from ``skeleton_dir`` (the skeletons stage's output, one camera) or, when that is None,
    from ``camera``'s videos through MediaPipe (``model_path``; cached in ``cache_dir`` when
    given). ``on_bad_clip``: "error" raises on the first bad or incomplete clip; "skip" logs
    it, counts it in ``report`` with the reason and goes on. Files named after actions not in
    the class list are ignored (logged once with counts).
    """
    if on_bad_clip not in ("error", "skip"):
        raise ValueError(f"on_bad_clip must be 'error' or 'skip', got {on_bad_clip!r}")
    if sensor not in ACC_SENSORS:
        raise ValueError(f"sensor must be one of {ACC_SENSORS}, got {sensor!r}")
    if skeleton_coords not in SKELETON_COORDS:
        raise ValueError(f"skeleton_coords must be one of {SKELETON_COORDS}, "
                         f"got {skeleton_coords!r}")
    root = Path(root)
    needed = [f"{sensor}_clip"] + (["gyro_clip"] if gyro else [])
    if skeleton_dir is None:
        if model_path is None:
            raise DataError(root, "no skeleton source: pass skeleton_dir (the skeletons "
                            "stage's output) or model_path (a MediaPipe .task bundle)")
        needed.append("RGB")
        model_sha256(model_path)  # a missing model fails once here, not once per clip
    for d in needed:
        if not (root / d).is_dir():
            raise DataError(root / d, "folder is missing: is this an MMAct release?")
    if skeleton_dir is not None and not Path(skeleton_dir).is_dir():
        raise DataError(skeleton_dir, "skeleton folder is missing: run the skeletons stage")
    wanted = set(range(1, len(MMACT_ACTIONS) + 1)) if actions is None else set(actions)
    bad_numbers = sorted(a for a in wanted if not 1 <= a <= len(MMACT_ACTIONS))
    if bad_numbers:
        raise DataError(root, f"unknown MMAct action numbers {bad_numbers} "
                        f"(valid: 1-{len(MMACT_ACTIONS)})")
    report = report if report is not None else ReadReport()

    unknown: Counter = Counter()
    twins: dict[ClipKey, tuple[Path, str]] = {}
    acc_files = index_sensor(root, sensor, unknown, twins)
    gyro_files = index_sensor(root, "gyro", unknown, twins) if gyro else {}
    if skeleton_dir is not None:
        skel_dir = Path(skeleton_dir)
        failures = _skeleton_failures(skel_dir)
        skel_files: dict[ClipKey, Path] = {}
    else:
        skel_dir, failures = None, {}
        skel_files = index_videos(root, camera, unknown, twins)
    if unknown:
        log.warning("ignored files of actions outside the class list: %s", dict(unknown))

    bad = functools.partial(report.bad, on_bad_clip=on_bad_clip)

    keys = set(acc_files) | set(gyro_files) | set(skel_files)
    for key in sorted(k for k in keys if k.action in wanted):
        cid = key.clip_id
        if key in twins:
            bad(*twins[key])
            continue
        if key not in acc_files:
            bad(key.sensor_path(root, sensor), f"{sensor} file is missing for clip {cid}")
            continue
        if gyro and key not in gyro_files:
            bad(key.sensor_path(root, "gyro"), f"gyro file is missing for clip {cid}")
            continue
        if skel_dir is not None:
            skel_path = skel_dir / f"{cid}.npz"
            if not skel_path.is_file():
                why = failures.get(cid, "no skeleton was extracted for this clip")
                bad(skel_path, f"skeleton is missing for clip {cid}: {why}")
                continue
        elif key not in skel_files:
            bad(key.video_path(root, camera), f"{camera} video is missing for clip {cid}")
            continue
        try:
            acc_s = read_sensor_csv(acc_files[key])
            gyro_s = read_sensor_csv(gyro_files[key]) if gyro else None
            acc_g, gyro_dps, rate = align_inertial(
                acc_s, gyro_s, acc_files[key], gyro_files.get(key))
            if skel_dir is not None:
                source = skel_dir / f"{cid}.npz"
                track = _load_skeleton(source, camera)
            elif cache_dir is not None:
                source = skel_files[key]
                track = extract_cached(source, model_path, cache_dir, frame_stride)
            else:
                source = skel_files[key]
                track = extract_video(source, model_path, frame_stride=frame_stride)
            if len(track) < 2:
                raise DataError(source, f"skeleton has {len(track)} frame(s); at least 2 are "
                                "needed")
        except DataError as exc:
            bad(exc.path or root, exc.problem)
            continue
        report.read += 1
        yield Sample(
            dataset=dataset,
            sample_id=cid,
            action=key.action,
            action_name=key.action_name,
            subject=key.subject,
            trial=key.trial,
            acc=acc_g,
            gyro=gyro_dps,
            inertial_rate=rate,
            skeleton=track.skeleton(skeleton_coords),
            skeleton_rate=track.fps,
            layout=LAYOUT,
        )


def _load_skeleton(path: Path, camera: str) -> PoseTrack:
    track, meta = load_track(path)
    if meta.get("camera", camera).lower() != camera.lower():
        raise DataError(path, f"was extracted from {meta['camera']}, not {camera}: "
                        "the skeletons stage and the reader disagree on the camera")
    return track


# ----------------------------------------------------------------------------- skeletons stage


@dataclass
class SkeletonReport:
    """What :func:`extract_skeletons` did: videos run through MediaPipe, served from the
    cache, and failed (with the reason; those clips get no skeleton file)."""

    processed: int = 0
    cached: int = 0
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # (clip, video, problem)

    @property
    def written(self) -> int:
        return self.processed + self.cached

    def to_dict(self) -> dict[str, Any]:
        return {
            "processed": self.processed,
            "cached": self.cached,
            "written": self.written,
            "failed": [{"clip": c, "video": v, "problem": p} for c, v, p in self.failed],
        }


def extract_skeletons(
    root: str | Path,
    out_dir: str | Path,
    model_path: str | Path,
    *,
    camera: str = "cam1",
    frame_stride: int = 1,
    cache_dir: str | Path | None = None,
    actions: list[int] | None = None,
) -> SkeletonReport:
    """The skeletons stage: one ``<clip id>.npz`` per video of ``camera`` in ``out_dir``.

    Each video goes through :func:`~crosskd.data.pose.extract_cached` when ``cache_dir`` is
    given (re-runs only process new or changed videos), else straight through MediaPipe. A
    video that fails (unreadable, no person) is listed with its reason in
    ``out_dir/skeletons.json`` and gets no file; the reader reports that reason. ``out_dir``
    is replaced atomically.
    """
    root, out_dir, model_path = Path(root), Path(out_dir), Path(model_path)
    if not (root / "RGB").is_dir():
        raise DataError(root / "RGB", "folder is missing: MMAct skeletons need the RGB videos")
    if frame_stride < 1:
        raise ValueError(f"frame_stride must be >= 1, got {frame_stride}")
    model_sha = model_sha256(model_path)
    unknown: Counter = Counter()
    twins: dict[ClipKey, tuple[Path, str]] = {}
    videos = index_videos(root, camera, unknown, twins)
    if actions is not None:
        videos = {k: v for k, v in videos.items() if k.action in set(actions)}
    if not videos:
        raise DataError(root / "RGB", f"no videos of camera {camera!r} (for actions {actions})")
    if unknown:
        log.warning("ignored videos of actions outside the class list: %s", dict(unknown))
    report = SkeletonReport()
    with atomic_dir(out_dir) as tmp:
        for key in progress(sorted(videos), desc=f"pose {camera}", unit="video"):
            video = videos[key]
            rel = video.relative_to(root).as_posix()
            if key in twins:  # no guess at which video is the clip: the reader says why
                log.warning("no skeleton for %s: %s", rel, twins[key][1])
                report.failed.append((key.clip_id, rel, twins[key][1]))
                continue
            try:
                if cache_dir is not None:
                    track = extract_cached(video, model_path, cache_dir, frame_stride)
                else:
                    track = extract_video(video, model_path, frame_stride=frame_stride)
            except DataError as exc:
                log.warning("no skeleton for %s: %s", rel, exc.problem)
                report.failed.append((key.clip_id, rel, exc.problem))
                continue
            if track.from_cache:
                report.cached += 1
            else:
                report.processed += 1
            save_track(tmp / f"{key.clip_id}.npz", track, camera=camera, video=rel,
                       clip=key.clip_id)
        summary = report.to_dict() | {
            "camera": camera, "frame_stride": frame_stride, "model_sha256": model_sha,
            "extractor": EXTRACTOR_VERSION, "videos": len(videos),
        }
        (tmp / SKELETON_REPORT).write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    log.info("skeletons: %d extracted, %d from cache, %d failed -> %s", report.processed,
             report.cached, len(report.failed), out_dir)
    return report



__all__ = [
    "ACC_SENSORS",
    "MMACT_ACTIONS",
    "SENSORS",
    "TEST_SUBJECTS",
    "TIMESTAMP_FORMAT",
    "TRAIN_SUBJECTS",
    "ClipKey",
    "SensorStream",
    "SkeletonReport",
    "align_inertial",
    "extract_skeletons",
    "index_sensor",
    "index_videos",
    "parse_timestamp",
    "read_mmact",
    "read_sensor_csv",
]
