"""Streaming inference on a raw accelerometer recording with an exported ONNX student.

    python -m crosskd.deploy.predict --model student.onnx --input rec.csv --out out.csv \\
        [--window 64 --hop 16 --rate 50 --classes classes.txt --smooth 5]

Imports numpy, onnxruntime and the standard library only (no torch): it runs on a device
that has only the ONNX file.

Input CSV: rows ``timestamp, x, y, z`` (an optional header line); for a model exported
with ``student.temporal_cnn.channels: acc_gyro``, ``timestamp, x, y, z, gx, gy, gz`` with the
gyroscope in deg/s (the fused file's units; its values are passed through unchanged).
Timestamps are numbers in seconds or MMAct strings ``%Y%m%d_%H:%M:%S.%f``; any sampling
rate. Units: ``--units g`` or ``m/s2`` (MMAct's Android files are m/s^2); ``auto``
(default) tells them apart by gravity, the median vector norm of a worn accelerometer being
~1 g = 9.81 m/s^2, and says so.

Checks (never a silent wrong answer): wrong column count, non-numeric values, NaN/inf
values (rows named), time going backwards (line named), gaps longer than ``--max-gap``
(named) and a recording shorter than one window are errors (exit status 2, one ``error:``
line). Repeated timestamps are repaired (later duplicates dropped) and short gaps bridged
by the interpolation; both are reported on stderr and in ``--report``. More repeats than
``--max-repeated`` (a fraction of the samples) are an error: so many mean timestamps too
coarse for the rate or duplicated rows, and dropping them would distort the signal.

Processing: linear interpolation onto a uniform grid at the model's rate, windows of
``window`` samples every ``hop`` samples, softmax of the model's logits, then a moving
average of the probabilities over ``--smooth`` windows (centred) for the timeline.

Outputs (times in seconds from the first sample):

- ``--out``: one row per window: ``window, start_s, end_s, label, probability,
  smoothed_label, p_<class>...``;
- ``--timeline`` (default ``<out>_timeline.csv``): merged segments of equal smoothed label,
  ``start_s, end_s, label, probability, windows``. Each window owns the time around its
  centre (half a hop either side), so segments tile the recording without overlap; the last
  runs to the recording's last sample.

An output path that is the input or another output is refused before any work. A recording
sampled at under half the model's rate is labelled with a warning (its windows are mostly
interpolation).

Window, hop, rate and class names default to the ONNX file's metadata (written by
:func:`crosskd.deploy.export.export_onnx`); the CLI options override them.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from crosskd.atomic import atomic_path
from crosskd.errors import ConfigError, DataError

INPUT_NAME = "window"
OUTPUT_NAME = "logits"
MMACT_TIME_FORMAT = "%Y%m%d_%H:%M:%S.%f"
STANDARD_GRAVITY = 9.80665
UNITS = ("auto", "g", "m/s2")
MAX_MEDIAN_STEP_S = 1.0  # a median step above this is not a wearable's: a unit error
LOW_RATE_FRACTION = 0.5  # input below this fraction of the model's rate gets a warning
_EPOCH = datetime(1970, 1, 1)


def open_session(path: str | Path, threads: int = 1) -> Any:
    """An onnxruntime CPU session with ``threads`` intra-op threads (sequential execution)."""
    import onnxruntime as ort

    path = Path(path)
    if not path.is_file():
        raise DataError(path, "ONNX model file not found")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise DataError(path, f"not a loadable ONNX model ({exc})") from exc


def onnx_logits(session: Any, windows: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Logits ``(N, K)`` of ``windows`` ``(N, C, L)`` in batches."""
    windows = np.ascontiguousarray(windows, dtype=np.float32)
    out = [session.run([OUTPUT_NAME], {INPUT_NAME: windows[i : i + batch_size]})[0]
           for i in range(0, len(windows), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


# ----------------------------------------------------------------------------- reading


@dataclass
class Recording:
    """A validated recording: ``times`` seconds from the first sample, ``values`` (N, C)."""

    times: np.ndarray
    values: np.ndarray
    start: str  # the first timestamp as written
    repairs: list[str] = field(default_factory=list)
    input_rate: float = float("nan")  # median sampling rate of the file [Hz]


def _lines_text(lines: Sequence[int], limit: int = 10) -> str:
    shown = ", ".join(str(n) for n in lines[:limit])
    return shown + (f", ... ({len(lines)} in all)" if len(lines) > limit else "")


def _parse_time(text: str) -> tuple[float, str] | None:
    """(value, kind) for seconds ('s') or an MMAct timestamp ('mmact'); None if neither."""
    try:
        return float(text), "s"
    except ValueError:
        pass
    try:
        stamp = datetime.strptime(text, MMACT_TIME_FORMAT)  # naive: no time-zone/DST jumps
    except ValueError:
        return None
    return (stamp - _EPOCH).total_seconds(), "mmact"


def read_recording(path: str | Path, max_gap: float = 0.25, channels: int = 3,
                   max_repeated: float = 0.1) -> Recording:
    """Parse and validate a ``timestamp, x, y, z`` CSV (``channels=6``: ``..., gx, gy, gz``;
    see the module docstring).

    Raises :class:`DataError` naming the line(s) for anything it cannot use safely.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(path, "input file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(path, f"unreadable ({type(exc).__name__}: {exc})") from exc
    rows = [(n, [f.strip() for f in row]) for n, row in
            enumerate(csv.reader(text.splitlines()), 1) if any(f.strip() for f in row)]
    repairs: list[str] = []
    if rows and _parse_time(rows[0][1][0]) is None and not _is_number(rows[0][1][-1]):
        repairs.append(f"skipped header line {rows[0][0]}: {','.join(rows[0][1])[:60]!r}")
        rows = rows[1:]
    times: list[float] = []
    stamps: list[str] = []
    values: list[list[float]] = []
    lines: list[int] = []
    kind = None
    bad_values: list[int] = []
    names = "timestamp, x, y, z" + (", gx, gy, gz" if channels == 6 else "")
    for n, row in rows:
        if len(row) != 1 + channels:
            raise DataError(path, f"line {n}: expected {1 + channels} comma-separated columns "
                            f"({names}), got {len(row)}: {','.join(row)[:80]!r}")
        parsed = _parse_time(row[0])
        if parsed is None:
            raise DataError(path, f"line {n}: bad timestamp {row[0]!r} (expected seconds or "
                            f"{MMACT_TIME_FORMAT}, e.g. 20181007_14:03:12.123456)")
        if kind is None:
            kind = parsed[1]
        elif parsed[1] != kind:
            raise DataError(path, f"line {n}: timestamp {row[0]!r} mixes formats (earlier "
                            f"lines use {'seconds' if kind == 's' else 'MMAct strings'})")
        xyz = []
        for f in row[1:]:
            try:
                xyz.append(float(f) if f else math.nan)
            except ValueError:
                raise DataError(path, f"line {n}: non-numeric value {f!r}") from None
        if not all(math.isfinite(v) for v in (parsed[0], *xyz)):
            bad_values.append(n)
        times.append(parsed[0])
        stamps.append(row[0])
        values.append(xyz)
        lines.append(n)
    if bad_values:
        raise DataError(path, f"missing, NaN or infinite values on line(s) "
                        f"{_lines_text(bad_values)}; fix or remove those rows (interpolating "
                        "over them silently could hide a sensor fault)")
    if len(times) < 2:
        raise DataError(path, f"has {len(times)} sample(s); a recording needs many more")
    t = np.asarray(times, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    line_no = np.asarray(lines)
    step = np.diff(t)
    back = np.flatnonzero(step < 0)
    if back.size:
        i = int(back[0])
        raise DataError(path, f"timestamps are not sorted: line {line_no[i + 1]} "
                        f"({stamps[i + 1]}) is earlier than line {line_no[i]} ({stamps[i]}); "
                        f"{back.size} backward step(s) in all. Sort the file by time if the "
                        "rows are merely out of order")
    dup = np.flatnonzero(step == 0) + 1
    if dup.size > max_repeated * len(t):
        raise DataError(path, f"{dup.size} of {len(t)} samples ({dup.size / len(t):.0%}) repeat "
                        f"the previous timestamp (first at line {line_no[dup[0]]}), more than "
                        f"--max-repeated {max_repeated:g}: timestamps too coarse for the "
                        "sampling rate, or duplicated rows. Write finer timestamps, or raise "
                        "--max-repeated to drop the repeats anyway")
    if dup.size:
        differing = int(np.sum(np.any(v[dup] != v[dup - 1], axis=1)))
        repairs.append(f"dropped {dup.size} sample(s) with a repeated timestamp (line(s) "
                       f"{_lines_text(line_no[dup].tolist())}; kept the first of each, "
                       f"{differing} had different values)")
        keep = np.ones(len(t), dtype=bool)
        keep[dup] = False
        t, v, line_no = t[keep], v[keep], line_no[keep]
    if len(t) < 2:
        raise DataError(path, "fewer than 2 distinct timestamps")
    step = np.diff(t)
    median_step = float(np.median(step))
    # Over 1 s is a unit error whatever --max-gap says: no wearable samples below 1 Hz.
    limit = min(max_gap, MAX_MEDIAN_STEP_S)
    if median_step > limit:
        raise DataError(path, f"the median interval between samples is {median_step:.4g} s "
                        f"({1 / median_step:.3g} Hz), above {limit:g} s: timestamps must be "
                        "in seconds (are they milliseconds?)")
    gaps = np.flatnonzero(step > max_gap)
    if gaps.size:
        where = "; ".join(f"{step[i]:.3f} s between line {line_no[i]} and line "
                          f"{line_no[i + 1]} (t = {t[i] - t[0]:.3f} s)" for i in gaps[:5])
        raise DataError(path, f"{gaps.size} gap(s) longer than --max-gap {max_gap} s: {where}"
                        f"{' ...' if gaps.size > 5 else ''}. Split the recording at the gap(s) "
                        "or raise --max-gap to interpolate across them")
    short = np.flatnonzero(step > 3 * median_step)
    if short.size:
        repairs.append(f"interpolated across {short.size} short gap(s) (longest "
                       f"{step.max():.3f} s, at line {line_no[int(np.argmax(step)) + 1]}; "
                       f"limit --max-gap {max_gap} s)")
    return Recording(times=t - t[0], values=v, start=stamps[0], repairs=repairs,
                     input_rate=1.0 / median_step)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def to_g(values: np.ndarray, units: str, source: str | Path = "input") -> tuple[np.ndarray, str]:
    """Convert the acceleration columns (the first 3 of (N, C)) to g; ``auto`` decides by
    the median norm (gravity). Gyroscope columns (deg/s) are left as they are."""
    if units not in UNITS:
        raise ConfigError(f"--units must be one of {list(UNITS)}, got {units!r}")
    if units == "auto":
        norm = float(np.median(np.linalg.norm(values[:, :3], axis=1)))
        # A worn accelerometer's median |a| is gravity give or take the motion.
        if 0.6 <= norm <= 1.6:
            units = "g"
        elif 0.6 * STANDARD_GRAVITY <= norm <= 1.6 * STANDARD_GRAVITY:
            units = "m/s2"
        else:
            raise DataError(source, f"cannot tell the acceleration units: the median vector "
                            f"norm is {norm:.3g}, neither ~1 (g) nor ~9.81 (m/s^2); pass "
                            "--units g or --units m/s2")
        note = f"units detected as {units} (median |a| = {norm:.3g})"
    else:
        note = f"units {units} (given)"
    out = values.copy()
    if units == "m/s2":
        out[:, :3] /= STANDARD_GRAVITY
    return out, note


def resample(rec: Recording, rate: float) -> np.ndarray:
    """(n, C) samples on the uniform grid ``k / rate`` over the recording (linear)."""
    # The margin (a thousandth of a step) absorbs the rounding of large timestamps: Unix
    # seconds lose ~1e-7 s, which would otherwise drop a last grid point that is there.
    n = int(math.floor(rec.times[-1] * rate + 1e-3)) + 1
    grid = np.arange(n) / rate
    return np.stack([np.interp(grid, rec.times, rec.values[:, j])
                     for j in range(rec.values.shape[1])], axis=1)


def sliding_windows(samples: np.ndarray, window: int, hop: int) -> tuple[np.ndarray, np.ndarray]:
    """Windows ``(W, C, window)`` and their start indices from ``(n, C)`` samples."""
    starts = np.arange(0, len(samples) - window + 1, hop)
    idx = starts[:, None] + np.arange(window)[None, :]
    return np.ascontiguousarray(samples[idx].transpose(0, 2, 1), dtype=np.float32), starts


def smooth(probs: np.ndarray, k: int) -> np.ndarray:
    """Centred moving average over ``k`` windows (fewer at the ends)."""
    if k <= 1 or len(probs) == 0:
        return probs.copy()
    half_lo, half_hi = (k - 1) // 2, k // 2
    c = np.concatenate([np.zeros((1, probs.shape[1])), np.cumsum(probs, axis=0)])
    i = np.arange(len(probs))
    lo, hi = np.maximum(i - half_lo, 0), np.minimum(i + half_hi + 1, len(probs))
    return (c[hi] - c[lo]) / (hi - lo)[:, None]


def segments(starts_s: np.ndarray, ends_s: np.ndarray, labels: np.ndarray,
             probs: np.ndarray, end_s: float | None = None
             ) -> list[tuple[float, float, int, float, int]]:
    """Merge runs of equal label: (start_s, end_s, label, mean probability, windows).

    Window i owns [midpoint to its predecessor's centre, midpoint to its successor's]; the
    first starts at its window's start and the last ends at ``end_s`` (the recording's end,
    which the last whole window may stop short of; default: that window's end).
    """
    if len(labels) == 0:
        return []
    centres = (starts_s + ends_s) / 2
    last = ends_s[-1] if end_s is None else max(end_s, ends_s[-1])
    bounds = np.concatenate([[starts_s[0]], (centres[1:] + centres[:-1]) / 2, [last]])
    out = []
    run_start = 0
    for i in range(1, len(labels) + 1):
        if i == len(labels) or labels[i] != labels[run_start]:
            lab = int(labels[run_start])
            out.append((float(bounds[run_start]), float(bounds[i]), lab,
                        float(probs[run_start:i, lab].mean()), i - run_start))
            run_start = i
    return out


# ----------------------------------------------------------------------------- model facts


@dataclass
class ModelInfo:
    channels: int
    window: int
    hop: int
    rate: float
    classes: list[str]


def model_info(session: Any, path: str | Path, window: int | None, hop: int | None,
               rate: float | None, classes_file: str | Path | None) -> ModelInfo:
    """Window, hop, rate, classes: CLI values first, then the file's metadata."""
    meta = dict(session.get_modelmeta().custom_metadata_map)
    kind = meta.get("input", "raw_window")
    if kind != "raw_window":
        raise DataError(path, f"the model takes {kind} input, not raw accelerometer windows: "
                        "stream with a temporal_cnn student (student.model=temporal_cnn)")
    inp = session.get_inputs()[0]
    shape = list(inp.shape)
    if len(shape) != 3:
        raise DataError(path, f"input {inp.name!r} has shape {shape}; expected (batch, C, L)")
    channels, length = shape[1], shape[2]

    def meta_num(key: str) -> float | None:
        if key not in meta:
            return None
        try:
            return float(json.loads(meta[key]))
        except (ValueError, TypeError):
            raise DataError(path, f"metadata {key!r} is not a number: {meta[key]!r}") from None

    if window is None:
        w = meta_num("window")
        window = int(w) if w is not None else length if isinstance(length, int) else None
    if window is None:
        raise ConfigError("the model stores no window length: pass --window")
    if isinstance(length, int) and window != length:
        raise ConfigError(f"--window {window} differs from the model's fixed input length "
                          f"{length}")
    if rate is None:
        rate = meta_num("rate")
    if rate is None:
        raise ConfigError("the model stores no sampling rate: pass --rate (Hz, the rate it "
                          "was trained at)")
    if hop is None:
        h = meta_num("hop")
        hop = int(h) if h is not None else max(window // 4, 1)
    if window < 1 or hop < 1 or not rate > 0:
        raise ConfigError(f"need window >= 1, hop >= 1, rate > 0; got {window}, {hop}, {rate}")
    n_out = session.get_outputs()[0].shape[-1]
    if classes_file is not None:
        try:
            lines = Path(classes_file).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise DataError(classes_file, f"unreadable ({exc})") from exc
        classes = [c.strip() for c in lines if c.strip()]
    elif "classes" in meta:
        classes = [str(c) for c in json.loads(meta["classes"])]
    else:
        classes = [f"class_{i}" for i in range(n_out)] if isinstance(n_out, int) else []
    if isinstance(n_out, int) and len(classes) != n_out:
        raise ConfigError(f"{len(classes)} class names for a model with {n_out} outputs")
    if channels not in (3, 6):
        raise DataError(path, f"the model takes {channels} input channels "
                        f"({meta.get('channels', '?')}); predict reads an accelerometer "
                        "(3: x, y, z) or accelerometer + gyroscope (6) recording")
    return ModelInfo(channels=channels, window=window, hop=hop, rate=float(rate),
                     classes=classes)


# ----------------------------------------------------------------------------- CLI


def predict(model: str | Path, input_csv: str | Path, out: str | Path,
            timeline: str | Path | None = None, *, window: int | None = None,
            hop: int | None = None, rate: float | None = None,
            classes: str | Path | None = None, smooth_k: int = 5, units: str = "auto",
            max_gap: float = 0.25, max_repeated: float = 0.1, threads: int = 1,
            report: str | Path | None = None, log: Any = None) -> dict[str, Any]:
    """Run the whole CLI; returns the summary (also written to ``report`` if given).

    Repairs, warnings and a one-line summary go to ``log`` (default: stderr).
    """
    log = sys.stderr if log is None else log
    out = Path(out)
    timeline = Path(timeline) if timeline else out.with_name(f"{out.stem}_timeline.csv")
    inputs = {"--model": Path(model), "--input": Path(input_csv),
              **({"--classes": Path(classes)} if classes else {})}
    _check_outputs(inputs, {"--out": out, "--timeline": timeline,
                            **({"--report": Path(report)} if report else {})})
    if smooth_k < 1 or max_gap <= 0 or not 0 <= max_repeated <= 1 or threads < 1:
        raise ConfigError(f"need --smooth >= 1, --max-gap > 0, 0 <= --max-repeated <= 1, "
                          f"--threads >= 1; got {smooth_k}, {max_gap}, {max_repeated}, {threads}")
    session = open_session(model, threads=threads)
    info = model_info(session, model, window, hop, rate, classes)
    rec = read_recording(input_csv, max_gap=max_gap, channels=info.channels,
                         max_repeated=max_repeated)
    values, units_note = to_g(rec.values, units, input_csv)
    rec.values = values
    samples = resample(rec, info.rate)
    if len(samples) < info.window:
        raise DataError(input_csv, f"too short: {rec.times[-1]:.3f} s gives {len(samples)} "
                        f"samples at {info.rate:g} Hz; one window needs {info.window} "
                        f"({(info.window - 1) / info.rate:.3f} s)")
    warnings = []
    if rec.input_rate < LOW_RATE_FRACTION * info.rate:
        warnings.append(f"the recording's {rec.input_rate:.3g} Hz is well below the model's "
                        f"{info.rate:g} Hz: its windows are mostly interpolated, and the "
                        "labels less reliable than the exported accuracy says")
    windows, starts = sliding_windows(samples, info.window, info.hop)
    probs = softmax(onnx_logits(session, windows).astype(np.float64))
    label = probs.argmax(axis=1)
    smoothed = smooth(probs, smooth_k)
    smooth_label = smoothed.argmax(axis=1)
    start_s = starts / info.rate
    end_s = (starts + info.window - 1) / info.rate
    names = info.classes
    with atomic_path(out) as tmp, tmp.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["window", "start_s", "end_s", "label", "probability", "smoothed_label",
                    *(f"p_{c}" for c in names)])
        for i in range(len(windows)):
            w.writerow([i, f"{start_s[i]:.4f}", f"{end_s[i]:.4f}", names[label[i]],
                        f"{probs[i, label[i]]:.4f}", names[smooth_label[i]],
                        *(f"{p:.4f}" for p in probs[i])])
    segs = segments(start_s, end_s, smooth_label, smoothed, (len(samples) - 1) / info.rate)
    with atomic_path(timeline) as tmp, tmp.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["start_s", "end_s", "label", "probability", "windows"])
        for s0, s1, lab, p, n in segs:
            w.writerow([f"{s0:.4f}", f"{s1:.4f}", names[lab], f"{p:.4f}", n])
    summary = {
        "input": str(input_csv), "model": str(model), "start": rec.start,
        "input_rate_hz": rec.input_rate, "rate_hz": info.rate, "window": info.window,
        "hop": info.hop, "smooth": smooth_k, "units": units_note, "repairs": rec.repairs,
        "warnings": warnings,
        "samples": len(samples), "windows": len(windows), "segments": len(segs),
        "out": str(out), "timeline": str(timeline),
    }
    if report:
        with atomic_path(report) as tmp:
            tmp.write_text(json.dumps(summary, indent=2) + "\n")
    for note in rec.repairs:
        print(f"repaired: {note}", file=log)
    for note in warnings:
        print(f"warning: {note}", file=log)
    print(f"{input_csv}: {units_note}; {rec.input_rate:.1f} Hz -> {info.rate:g} Hz, "
          f"{len(windows)} windows, {len(segs)} segments -> {out}, {timeline}", file=log)
    return summary


def _check_outputs(inputs: dict[str, Path], outputs: dict[str, Path]) -> None:
    """Before any work: no output is a folder, an input, or another output."""
    seen: dict[Path, str] = {path.resolve(): option for option, path in inputs.items()}
    for option, path in outputs.items():
        if path.is_dir():
            raise ConfigError(f"{path}: is a folder; {option} needs a file name")
        key = path.resolve()
        if key in seen:
            raise ConfigError(f"{path}: given as both {seen[key]} and {option}; it would be "
                              "overwritten")
        seen[key] = option


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m crosskd.deploy.predict",
                                description="Per-window activity labels and a smoothed "
                                "timeline for a raw accelerometer CSV, with an ONNX student.")
    p.add_argument("--model", required=True, help="exported .onnx file (fp32 or int8)")
    p.add_argument("--input", required=True,
                   help="CSV: timestamp, x, y, z (+ gx, gy, gz in deg/s for an acc_gyro model)")
    p.add_argument("--out", required=True, help="per-window CSV to write")
    p.add_argument("--timeline", help="timeline CSV (default: <out>_timeline.csv)")
    p.add_argument("--window", type=int, help="window length in samples (default: metadata)")
    p.add_argument("--hop", type=int, help="hop in samples (default: metadata or window/4)")
    p.add_argument("--rate", type=float, help="model sampling rate in Hz (default: metadata)")
    p.add_argument("--classes", help="class names, one per line (default: metadata)")
    p.add_argument("--smooth", type=int, default=5, help="moving-average length in windows")
    p.add_argument("--units", choices=UNITS, default="auto", help="acceleration units")
    p.add_argument("--max-gap", type=float, default=0.25,
                   help="longest gap in seconds bridged by interpolation (default 0.25)")
    p.add_argument("--max-repeated", type=float, default=0.1,
                   help="largest fraction of samples with a repeated timestamp that is "
                   "repaired by dropping them (default 0.1); more is an error")
    p.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
    p.add_argument("--report", help="also write a JSON summary (repairs, rates, counts)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        predict(args.model, args.input, args.out, args.timeline, window=args.window,
                hop=args.hop, rate=args.rate, classes=args.classes, smooth_k=args.smooth,
                units=args.units, max_gap=args.max_gap, max_repeated=args.max_repeated,
                threads=args.threads, report=args.report)
    except (DataError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. an output folder that cannot be written
        print(f"error: cannot write an output: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
