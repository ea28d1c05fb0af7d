"""Biovision Hierarchy (BVH) motion capture: parse, write, forward kinematics.

Berkeley-MHAD ships its skeleton stream as BVH (joint rotations, not positions), so reading
it means parsing the hierarchy and running forward kinematics. A small parser of our own,
because every problem must come back as a :class:`~crosskd.errors.DataError` naming the file
and the line (a truncated or hand-edited file must not turn into a silent wrong skeleton).

Conventions, as BVH defines them and as the common exporters and importers read them:

* a joint's transform relative to its parent is translate(OFFSET + its position channels)
  followed by its rotation channels composed in the order its CHANNELS line lists them:
  ``Zrotation Xrotation Yrotation`` means R = Rz(z) @ Rx(x) @ Ry(y), i.e. intrinsic
  rotations about Z, then the new X, then the newest Y. Angles are in degrees, rotations
  right-handed (a positive angle turns y towards z about x, z towards x about y, x towards
  y about z);
* world position of a joint = parent's world position + parent's world rotation applied to
  (OFFSET + position channels); world rotation = parent's world rotation @ own rotation;
* a ROOT's position channels are added to its OFFSET (most files have a zero root offset);
* ``End Site`` blocks carry an OFFSET only; they are kept as joints without channels, named
  ``<parent>_End``, so that their positions can be asked for.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crosskd.errors import DataError

CHANNEL_NAMES = ("Xposition", "Yposition", "Zposition", "Xrotation", "Yrotation", "Zrotation")
_CANONICAL = {c.lower(): c for c in CHANNEL_NAMES}
_FRAMES = re.compile(r"^\s*frames\s*:\s*(\S*)\s*$", re.IGNORECASE)
_FRAME_TIME = re.compile(r"^\s*frame\s+time\s*:\s*(\S*)\s*$", re.IGNORECASE)
# Below this |cos(middle angle)| the Euler decomposition takes its gimbal-lock branch. The
# general branch stays accurate to ~1e-15 down to ~1e-11 (atan2 of two tiny but exact
# products); the lock branch errs by about |cos|, so the switch sits where both are ~1e-12.
_GIMBAL_EPS = 1e-12


@dataclass(frozen=True)
class BvhJoint:
    """One node of the hierarchy. ``parent`` indexes ``Bvh.joints`` (-1 for a ROOT)."""

    name: str
    parent: int
    offset: tuple[float, float, float]
    channels: tuple[str, ...] = ()  # empty for an End Site
    end_site: bool = False
    line: int = 0  # 1-based line of its ROOT/JOINT/End Site keyword (0: built in code)


@dataclass(frozen=True)
class Bvh:
    """A parsed file: joints in depth-first order (the order of the MOTION columns)."""

    joints: tuple[BvhJoint, ...]
    motion: np.ndarray  # (F, C) channel values, columns in joint order then channel order
    frame_time: float  # seconds
    path: Path | None = None

    @property
    def num_frames(self) -> int:
        return int(self.motion.shape[0])

    @property
    def num_channels(self) -> int:
        return sum(len(j.channels) for j in self.joints)

    @property
    def frame_rate(self) -> float:
        return 1.0 / self.frame_time

    @property
    def duration(self) -> float:
        """Frames times frame time: the span the clip covers, as for every other stream."""
        return self.num_frames * self.frame_time

    def joint_names(self, end_sites: bool = False) -> list[str]:
        return [j.name for j in self.joints if end_sites or not j.end_site]

    def index(self, name: str) -> int:
        """Index of joint ``name`` in ``joints`` (exact match first, then case-insensitive)."""
        for i, j in enumerate(self.joints):
            if j.name == name:
                return i
        folded = [i for i, j in enumerate(self.joints) if j.name.lower() == name.lower()]
        if len(folded) == 1:
            return folded[0]
        raise KeyError(name)


def channel_starts(joints: Sequence[BvhJoint]) -> list[int]:
    """First MOTION column of each joint."""
    starts, col = [], 0
    for j in joints:
        starts.append(col)
        col += len(j.channels)
    return starts


# ----------------------------------------------------------------------------- rotations


def axis_rotation(axis: int, radians: np.ndarray) -> np.ndarray:
    """(..., 3, 3) right-handed rotations by ``radians`` about axis 0 (x), 1 (y) or 2 (z)."""
    a = np.asarray(radians, dtype=float)
    c, s = np.cos(a), np.sin(a)
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    out = np.zeros(a.shape + (3, 3))
    out[..., axis, axis] = 1.0
    out[..., i, i] = c
    out[..., j, j] = c
    out[..., i, j] = -s
    out[..., j, i] = s
    return out


def _axes(order: str) -> tuple[int, int, int]:
    idx = tuple("XYZ".index(a) for a in order.upper())
    if len(idx) != 3 or len(set(idx)) != 3:
        raise ValueError(f"rotation order must name X, Y and Z once each, got {order!r}")
    return idx  # type: ignore[return-value]


def rotation_matrix(order: str, degrees: np.ndarray) -> np.ndarray:
    """(..., 3, 3) for intrinsic rotations in ``order`` (e.g. "ZXY") by ``degrees`` (..., 3).

    ``rotation_matrix("ZXY", (z, x, y)) == Rz(z) @ Rx(x) @ Ry(y)``: BVH's channel order.
    """
    d = np.radians(np.asarray(degrees, dtype=float))
    i, j, k = _axes(order)
    return axis_rotation(i, d[..., 0]) @ axis_rotation(j, d[..., 1]) @ axis_rotation(k, d[..., 2])


def euler_angles(rot: np.ndarray, order: str) -> np.ndarray:
    """Inverse of :func:`rotation_matrix`: (..., 3, 3) rotations -> (..., 3) degrees.

    The middle angle lies in [-90, 90]. At gimbal lock (middle angle +-90 degrees) only the
    sum or difference of the outer two is defined; the third is then set to 0.
    """
    r = np.asarray(rot, dtype=float)
    i, j, k = _axes(order)
    e = 1.0 if (j - i) % 3 == 1 else -1.0  # +1 for the cyclic orders XYZ, YZX, ZXY
    sb = np.clip(e * r[..., i, k], -1.0, 1.0)
    cb = np.hypot(r[..., i, i], r[..., i, j])
    b = np.arctan2(sb, cb)
    a = np.arctan2(-e * r[..., j, k], r[..., k, k])
    c = np.arctan2(-e * r[..., i, j], r[..., i, i])
    lock = cb < _GIMBAL_EPS
    if np.any(lock):
        a = np.where(lock, np.arctan2(e * r[..., k, j], r[..., j, j]), a)
        c = np.where(lock, 0.0, c)
    return np.degrees(np.stack([a, b, c], axis=-1))


# ----------------------------------------------------------------------------- parsing


class _Tokens:
    """The hierarchy as (token, line) pairs, with line-aware reads for OFFSET and CHANNELS."""

    def __init__(self, lines: list[str], path: Path | None) -> None:
        self.items = [(tok, n) for n, line in enumerate(lines, 1) for tok in line.split()]
        self.pos = 0
        self.path = path

    def error(self, problem: str) -> DataError:
        return DataError(self.path, problem)

    def peek(self) -> tuple[str, int] | None:
        return self.items[self.pos] if self.pos < len(self.items) else None

    def next(self) -> tuple[str, int] | None:
        item = self.peek()
        self.pos += item is not None
        return item

    def rest_of_line(self, line: int) -> list[str]:
        out = []
        while self.pos < len(self.items) and self.items[self.pos][1] == line:
            out.append(self.items[self.pos][0])
            self.pos += 1
        return out


def _floats(tokens: list[str], what: str, line: int, toks: _Tokens) -> tuple[float, ...]:
    try:
        vals = tuple(float(t) for t in tokens)
    except ValueError:
        raise toks.error(f"line {line}: non-numeric {what} value in {' '.join(tokens)!r}") from None
    if not all(np.isfinite(vals)):
        raise toks.error(f"line {line}: non-finite {what} value in {' '.join(tokens)!r}")
    return vals


def _parse_offset(toks: _Tokens, line: int) -> tuple[float, float, float]:
    vals = toks.rest_of_line(line)
    if len(vals) != 3:
        raise toks.error(f"line {line}: OFFSET needs 3 numbers, found {len(vals)}")
    x, y, z = _floats(vals, "OFFSET", line, toks)
    return (x, y, z)


def _parse_channels(toks: _Tokens, line: int) -> tuple[str, ...]:
    vals = toks.rest_of_line(line)
    if not vals or not vals[0].isdigit():
        raise toks.error(f"line {line}: CHANNELS must start with a channel count, got {vals!r}")
    n, names = int(vals[0]), vals[1:]
    if len(names) != n:
        raise toks.error(
            f"line {line}: CHANNELS declares {n} channels but lists {len(names)} ({names})"
        )
    out = []
    for name in names:
        canon = _CANONICAL.get(name.lower())
        if canon is None:
            raise toks.error(f"line {line}: unknown channel {name!r} (valid: {CHANNEL_NAMES})")
        if canon in out:
            raise toks.error(f"line {line}: channel {canon} listed twice")
        out.append(canon)
    return tuple(out)


def _expect_open(toks: _Tokens, what: str, line: int) -> None:
    item = toks.next()
    if item is None or item[0] != "{":
        found = "end of hierarchy" if item is None else f"{item[0]!r} at line {item[1]}"
        raise toks.error(f"line {line}: expected '{{' after {what}, found {found}")


def _parse_end_site(toks: _Tokens, parent: int, joints: list[BvhJoint], line: int) -> None:
    word = toks.rest_of_line(line)
    if word != ["Site"] and word != ["Site", "{"]:
        raise toks.error(f"line {line}: expected 'End Site', found 'End {' '.join(word)}'")
    if word == ["Site"]:
        _expect_open(toks, "End Site", line)
    offset = None
    while True:
        item = toks.next()
        if item is None:
            raise toks.error(f"unbalanced braces: End Site (line {line}) is never closed")
        tok, n = item
        if tok == "}":
            break
        if tok.upper() == "OFFSET" and offset is None:
            offset = _parse_offset(toks, n)
        else:
            raise toks.error(f"line {n}: unexpected {tok!r} in End Site (line {line})")
    if offset is None:
        raise toks.error(f"End Site (line {line}) has no OFFSET")
    name = f"{joints[parent].name}_End"
    joints.append(BvhJoint(name, parent, offset, (), end_site=True, line=line))


def _parse_joint(toks: _Tokens, kind: str, parent: int, joints: list[BvhJoint], line: int) -> None:
    words = toks.rest_of_line(line)
    opened = bool(words) and words[-1] == "{"
    name = " ".join(words[:-1] if opened else words)
    if not name or name == "{":
        raise toks.error(f"line {line}: {kind} without a name")
    if not opened:
        _expect_open(toks, f"{kind} {name}", line)
    index = len(joints)
    joints.append(BvhJoint(name, parent, (0.0, 0.0, 0.0), (), line=line))  # placeholder
    offset: tuple[float, float, float] | None = None
    channels: tuple[str, ...] | None = None
    while True:
        item = toks.next()
        if item is None:
            raise toks.error(f"unbalanced braces: {kind} {name} (line {line}) is never closed")
        tok, n = item
        key = tok.upper()
        if tok == "}":
            break
        if key == "OFFSET":
            if offset is not None:
                raise toks.error(f"line {n}: second OFFSET in {kind} {name}")
            offset = _parse_offset(toks, n)
        elif key == "CHANNELS":
            if channels is not None:
                raise toks.error(f"line {n}: second CHANNELS in {kind} {name}")
            channels = _parse_channels(toks, n)
        elif key == "JOINT":
            _parse_joint(toks, "JOINT", index, joints, n)
        elif key == "END":
            _parse_end_site(toks, index, joints, n)
        elif key in ("ROOT", "MOTION", "HIERARCHY"):
            raise toks.error(
                f"line {n}: {tok} inside {kind} {name} (line {line}): unbalanced braces, "
                "a '}' is missing"
            )
        else:
            raise toks.error(f"line {n}: unexpected {tok!r} in {kind} {name} (line {line})")
    if offset is None:
        raise toks.error(f"{kind} {name} (line {line}) has no OFFSET")
    if channels is None:
        raise toks.error(f"{kind} {name} (line {line}) has no CHANNELS line")
    joints[index] = BvhJoint(name, parent, offset, channels, line=line)


def _parse_hierarchy(lines: list[str], path: Path | None) -> tuple[BvhJoint, ...]:
    toks = _Tokens(lines, path)
    first = toks.next()
    if first is None or first[0].upper() != "HIERARCHY":
        found = "nothing" if first is None else repr(first[0])
        raise DataError(path, f"not a BVH file: expected HIERARCHY first, found {found}")
    joints: list[BvhJoint] = []
    while (item := toks.next()) is not None:
        tok, n = item
        if tok.upper() == "ROOT":
            _parse_joint(toks, "ROOT", -1, joints, n)
        elif tok == "}":
            raise DataError(path, f"line {n}: unbalanced braces: '}}' with no open joint")
        else:
            raise DataError(path, f"line {n}: expected ROOT, found {tok!r}")
    if not joints:
        raise DataError(path, "HIERARCHY has no ROOT joint")
    names = [j.name for j in joints]
    dupes = sorted({x for x in names if names.count(x) > 1})
    if dupes:
        raise DataError(path, f"joint names used twice: {dupes}")
    return tuple(joints)


def _parse_motion(
    lines: list[str], first: int, num_channels: int, path: Path | None
) -> tuple[np.ndarray, float]:
    """MOTION section from line index ``first`` (0-based, the line after MOTION)."""
    body = [(n, line) for n, line in enumerate(lines[first:], first + 1) if line.strip()]
    if len(body) < 2:
        raise DataError(path, "MOTION section lacks its 'Frames:' and 'Frame Time:' lines")
    (n_f, l_f), (n_t, l_t) = body[0], body[1]
    m_f, m_t = _FRAMES.match(l_f), _FRAME_TIME.match(l_t)
    if m_f is None:
        raise DataError(path, f"line {n_f}: expected 'Frames: <count>', found {l_f.strip()!r}")
    if m_t is None:
        raise DataError(path, f"line {n_t}: expected 'Frame Time: <s>', found {l_t.strip()!r}")
    if not m_f[1].isdigit():
        raise DataError(path, f"line {n_f}: frame count {m_f[1]!r} is not a whole number")
    n_frames = int(m_f[1])
    try:
        frame_time = float(m_t[1])
    except ValueError:
        frame_time = float("nan")
    if not (np.isfinite(frame_time) and frame_time > 0):
        raise DataError(path, f"line {n_t}: Frame Time must be a positive number, got {m_t[1]!r}")
    if n_frames == 0:
        raise DataError(path, f"line {n_f}: the clip has zero frames")
    if num_channels == 0:
        raise DataError(path, "the hierarchy declares no channels")
    rows = body[2:]
    if len(rows) != n_frames:
        raise DataError(
            path,
            f"line {n_f}: Frames: {n_frames}, but {len(rows)} frame lines follow "
            f"({'truncated file?' if len(rows) < n_frames else 'extra lines'})",
        )
    flat: list[str] = []
    for k, (n, line) in enumerate(rows):
        vals = line.split()
        if len(vals) != num_channels:
            raise DataError(
                path,
                f"line {n}: frame {k + 1} has {len(vals)} values; the hierarchy declares "
                f"{num_channels} channels",
            )
        flat.extend(vals)
    try:
        motion = np.array(flat, dtype=np.float64).reshape(n_frames, num_channels)
    except ValueError:
        for n, line in rows:  # find the culprit for the message
            for v in line.split():
                try:
                    float(v)
                except ValueError:
                    raise DataError(path, f"line {n}: non-numeric value {v!r}") from None
        raise
    finite = np.isfinite(motion).all(axis=1)
    if not finite.all():
        k = int(np.flatnonzero(~finite)[0])
        raise DataError(path, f"line {rows[k][0]}: non-finite value (NaN or inf) in frame {k + 1}")
    return motion, frame_time


def _first_word(line: str) -> str:
    words = line.split(maxsplit=1)
    return words[0].upper() if words else ""


def parse_bvh(text: str, path: str | Path | None = None) -> Bvh:
    """Parse BVH text. ``path`` only names the source in error messages."""
    p = None if path is None else Path(path)
    lines = text.splitlines()
    motion_at = next((i for i, line in enumerate(lines) if _first_word(line) == "MOTION"), None)
    if motion_at is None:
        if not text.strip():
            raise DataError(p, "file is empty")
        _parse_hierarchy(lines, p)  # report hierarchy problems first
        raise DataError(p, "no MOTION section")
    if lines[motion_at].split()[1:]:
        raise DataError(p, f"line {motion_at + 1}: unexpected text after MOTION")
    joints = _parse_hierarchy(lines[:motion_at], p)
    n_channels = sum(len(j.channels) for j in joints)
    motion, frame_time = _parse_motion(lines, motion_at + 1, n_channels, p)
    return Bvh(joints=joints, motion=motion, frame_time=frame_time, path=p)


def read_bvh(path: str | Path) -> Bvh:
    """Read and parse a BVH file; every problem is a DataError naming the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(path, "file is missing") from None
    except UnicodeDecodeError as exc:
        raise DataError(path, f"not a text file ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise DataError(path, f"cannot be read ({exc.strerror})") from exc
    return parse_bvh(text, path)


# ----------------------------------------------------------------------------- kinematics


def forward_kinematics(
    bvh: Bvh, *, end_sites: bool = False, frames: slice | np.ndarray | None = None
) -> np.ndarray:
    """World joint positions (F, J, 3) in the file's units, joints in ``bvh.joint_names()``.

    ``end_sites``: include End Site positions (in file order). ``frames``: a slice or index
    array to evaluate only some frames (decimation without computing the rest).
    """
    motion = bvh.motion if frames is None else bvh.motion[frames]
    n = motion.shape[0]
    pos = np.empty((n, len(bvh.joints), 3))
    rot = np.empty((n, len(bvh.joints), 3, 3))
    for j, (joint, col) in enumerate(zip(bvh.joints, channel_starts(bvh.joints), strict=True)):
        trans = np.broadcast_to(np.asarray(joint.offset, dtype=float), (n, 3)).copy()
        r = np.broadcast_to(np.eye(3), (n, 3, 3))
        for k, name in enumerate(joint.channels):
            axis = "XYZ".index(name[0])
            if name.endswith("position"):
                trans[:, axis] += motion[:, col + k]
            else:
                r = r @ axis_rotation(axis, np.radians(motion[:, col + k]))
        if joint.parent < 0:
            pos[:, j] = trans
            rot[:, j] = r
        else:
            pos[:, j] = pos[:, joint.parent] + np.einsum("nij,nj->ni", rot[:, joint.parent], trans)
            rot[:, j] = rot[:, joint.parent] @ r
    keep = [i for i, joint in enumerate(bvh.joints) if end_sites or not joint.end_site]
    return pos[:, keep]


# ----------------------------------------------------------------------------- writing


def format_bvh(
    joints: Sequence[BvhJoint], motion: np.ndarray, frame_time: float, *, decimals: int = 6
) -> str:
    """BVH text for ``joints`` (depth-first order, End Sites included) and ``motion`` (F, C).

    Fixed-point numbers with ``decimals`` places, tabs, "\\n" line ends: the same inputs give
    the same bytes on every machine.
    """
    motion = np.asarray(motion, dtype=np.float64)
    n_ch = sum(len(j.channels) for j in joints)
    if motion.ndim != 2 or motion.shape[1] != n_ch or motion.shape[0] < 1:
        raise ValueError(f"motion must be (F >= 1, {n_ch}), got {motion.shape}")
    children: dict[int, list[int]] = {i: [] for i in range(-1, len(joints))}
    for i, j in enumerate(joints):
        if not -1 <= j.parent < i:
            raise ValueError(f"joint {j.name!r}: parent {j.parent} must precede it")
        children[j.parent].append(i)
    order: list[int] = []
    fmt = f"%.{decimals}f"
    out: list[str] = ["HIERARCHY"]

    def emit(i: int, depth: int) -> None:
        order.append(i)
        j, pad = joints[i], "\t" * depth
        offset = " ".join(fmt % v for v in j.offset)
        if j.end_site:
            out.extend([f"{pad}End Site", f"{pad}{{", f"{pad}\tOFFSET {offset}", f"{pad}}}"])
            return
        out.extend([f"{pad}{'ROOT' if j.parent < 0 else 'JOINT'} {j.name}", f"{pad}{{",
                    f"{pad}\tOFFSET {offset}",
                    f"{pad}\tCHANNELS {len(j.channels)} {' '.join(j.channels)}"])
        for c in children[i]:
            emit(c, depth + 1)
        out.append(f"{pad}}}")

    for root in children[-1]:
        emit(root, 0)
    if order != list(range(len(joints))):
        raise ValueError("joints must be listed in depth-first order (the MOTION column order)")
    out += ["MOTION", f"Frames: {motion.shape[0]}", f"Frame Time: {frame_time:.9f}"]
    buf = io.StringIO()
    np.savetxt(buf, motion, fmt=fmt, delimiter=" ", newline="\n")
    return "\n".join(out) + "\n" + buf.getvalue()


__all__ = [
    "CHANNEL_NAMES",
    "Bvh",
    "BvhJoint",
    "axis_rotation",
    "channel_starts",
    "euler_angles",
    "format_bvh",
    "forward_kinematics",
    "parse_bvh",
    "read_bvh",
    "rotation_matrix",
]
