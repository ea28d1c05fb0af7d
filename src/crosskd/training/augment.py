"""Train-time augmentation for raw wearable windows ``(B, C, L)`` (issue #6) and for the
teachers' skeleton clips ``(B, 3, T, V)``.

Each augmentation models a nuisance a wrist sensor really has, so the student learns to
ignore it:

- :func:`scale` - amplitude scaling: people move with different vigour, sensors differ in
  gain. One factor per sample and sensor triple, so a vector's direction is kept.
- :func:`rotate` - a small random rotation of the sensor frame: the watch sits a little
  differently on every wrist. The *same* rotation is applied to every xyz triple of a
  sample (acc and gyro are rigidly mounted in one device), which keeps vector norms.
- :func:`time_warp` - a smooth monotone warp of the time axis: the same action performed
  faster in one part and slower in another. Endpoints stay fixed, so the window still
  spans the whole clip.

All take ``(x, rng)`` (the signature of :class:`crosskd.training.batches.PairedArrays`'s
``augment`` hooks, with the strength bound by :func:`build_augment`), never modify ``x`` in
place and return the input's dtype. Channels must be xyz triples (C = 3 or 6).

:func:`build_skeleton_augment` applies the same three to a skeleton clip as a whole: one
warp of the time axis for every node, one rigid rotation (a view change) and one size
factor (a taller or shorter person) for the body joints. The fusion teacher's IMU nodes
(after the body joints) are only warped: they live in the sensor's frame, which a view
change does not turn.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping

import numpy as np

from crosskd.errors import ConfigError

Augment = Callable[[np.ndarray, np.random.Generator], np.ndarray]
AUGMENT_KEYS = ("scale", "rotate_deg", "time_warp")


def _check(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[1] % 3 != 0:
        raise ValueError(f"augmentation expects (B, C, L) windows with C a multiple of 3 "
                         f"(xyz triples), got shape {x.shape}")
    return x


def scale(x: np.ndarray, rng: np.random.Generator, sigma: float = 0.1) -> np.ndarray:
    """Multiply each sample's sensor triples by factors drawn uniformly in [1-sigma, 1+sigma]."""
    x = _check(x)
    if sigma <= 0:
        return x.copy()
    b, c, _ = x.shape
    f = rng.uniform(1.0 - sigma, 1.0 + sigma, size=(b, c // 3, 1, 1))
    f = np.broadcast_to(f, (b, c // 3, 3, 1)).reshape(b, c, 1)
    return (x * f).astype(x.dtype, copy=False)


def random_rotations(n: int, max_deg: float, rng: np.random.Generator) -> np.ndarray:
    """``(n, 3, 3)`` rotations about uniform random axes by angles uniform in +-max_deg."""
    axis = rng.normal(size=(n, 3))
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    angle = np.deg2rad(rng.uniform(-max_deg, max_deg, size=n))
    k = np.zeros((n, 3, 3))  # cross-product matrices: Rodrigues' formula
    k[:, 0, 1], k[:, 0, 2], k[:, 1, 2] = -axis[:, 2], axis[:, 1], -axis[:, 0]
    k = k - k.transpose(0, 2, 1)
    s, c = np.sin(angle)[:, None, None], np.cos(angle)[:, None, None]
    return np.eye(3)[None] + s * k + (1.0 - c) * (k @ k)


def rotate(x: np.ndarray, rng: np.random.Generator, max_deg: float = 10.0) -> np.ndarray:
    """Rotate every xyz triple of a sample by one random rotation of at most ``max_deg``."""
    x = _check(x)
    if max_deg <= 0:
        return x.copy()
    b, c, length = x.shape
    r = random_rotations(b, max_deg, rng)
    triples = x.reshape(b, c // 3, 3, length).astype(np.float64)
    out = np.einsum("bij,btjl->btil", r, triples)
    return out.reshape(b, c, length).astype(x.dtype, copy=False)


def warp_positions(b: int, length: int, sigma: float, rng: np.random.Generator,
                   knots: int = 4) -> np.ndarray:
    """``(b, length)`` sample positions of a smooth, strictly increasing warp of
    ``[0, length-1]`` onto itself (first and last positions exact).

    The local speed is ``1 + sigma * N(0, 1)`` at ``knots + 2`` evenly spaced knots,
    floored at 0.1 (monotone), interpolated linearly (smooth: the warp is piecewise
    quadratic with a continuous slope) and integrated, then rescaled to the fixed ends.
    """
    grid = np.arange(length, dtype=np.float64)
    if length < 2:
        return np.zeros((b, length))
    knot_t = np.linspace(0.0, length - 1.0, knots + 2)
    speed_k = np.maximum(1.0 + sigma * rng.normal(size=(b, knots + 2)), 0.1)
    speed = np.stack([np.interp(grid, knot_t, s) for s in speed_k])
    pos = np.concatenate([np.zeros((b, 1)), np.cumsum((speed[:, 1:] + speed[:, :-1]) / 2,
                                                      axis=1)], axis=1)
    pos *= (length - 1.0) / pos[:, -1:]
    pos[:, -1] = length - 1.0
    return pos


def time_warp(x: np.ndarray, rng: np.random.Generator, sigma: float = 0.1) -> np.ndarray:
    """Resample each sample (linear interpolation) at a random smooth monotone warp."""
    x = _check(x)
    if sigma <= 0:
        return x.copy()
    b, c, length = x.shape
    if length < 2:
        return x.copy()
    pos = warp_positions(b, length, sigma, rng)
    lo = np.clip(np.floor(pos).astype(np.int64), 0, length - 2)  # (B, L)
    frac = (pos - lo)[:, None, :]
    lo = np.broadcast_to(lo[:, None, :], (b, c, length))
    left = np.take_along_axis(x, lo, axis=2)
    right = np.take_along_axis(x, lo + 1, axis=2)
    return (left * (1.0 - frac) + right * frac).astype(x.dtype, copy=False)


def _strengths(cfg: Mapping[str, float], section: str) -> dict[str, float]:
    """Checked strengths: unknown keys and negative or absurd values are configuration
    errors (a typo must not switch an augmentation off silently)."""
    unknown = sorted(set(cfg) - set(AUGMENT_KEYS))
    if unknown:
        raise ConfigError(f"{section}: unknown option(s) {unknown}; known: {list(AUGMENT_KEYS)}")
    limits = {"scale": 1.0, "rotate_deg": 180.0, "time_warp": 1.0}
    values: dict[str, float] = {}
    for key, value in cfg.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{section}.{key}: expected a number, got {value!r}")
        if not 0 <= value <= limits[key] or (key == "scale" and value >= 1):
            raise ConfigError(f"{section}.{key}: must be in [0, {limits[key]}"
                              f"{')' if key == 'scale' else ']'}, got {value}")
        values[key] = float(value)
    return values


def build_augment(cfg: Mapping[str, float] | None, section: str = "augment") -> Augment | None:
    """Compose the augmentations switched on in ``cfg`` (strength 0 = off; None if none).

    ``cfg`` keys: ``scale`` (sigma of the amplitude factor), ``rotate_deg`` (max rotation),
    ``time_warp`` (sigma of the local speed). Order: warp, rotate, scale.
    """
    if not cfg:
        return None
    values = _strengths(cfg, section)
    steps: list[Augment] = []
    if values.get("time_warp", 0) > 0:
        steps.append(functools.partial(time_warp, sigma=values["time_warp"]))
    if values.get("rotate_deg", 0) > 0:
        steps.append(functools.partial(rotate, max_deg=values["rotate_deg"]))
    if values.get("scale", 0) > 0:
        steps.append(functools.partial(scale, sigma=values["scale"]))
    if not steps:
        return None

    def augment(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        for step in steps:
            x = step(x, rng)
        return x

    return augment


def build_skeleton_augment(cfg: Mapping[str, float] | None, body_joints: int,
                           section: str = "teacher.augment") -> Augment | None:
    """The teachers' augmentation of ``(B, 3, T, V)`` clips whose first ``body_joints``
    nodes are the body (None if every strength is 0).

    Same keys and order as :func:`build_augment`: ``time_warp`` warps every node with one
    warp per clip; ``rotate_deg`` turns the body joints by one random rotation about the
    origin (the centred body, with ``fuse.center``); ``scale`` multiplies them by one factor
    per clip, uniform in [1-scale, 1+scale]. IMU nodes after the body are only warped.
    """
    values = _strengths(cfg or {}, section)
    warp, max_deg, sigma = (values.get(k, 0.0) for k in ("time_warp", "rotate_deg", "scale"))
    if warp <= 0 and max_deg <= 0 and sigma <= 0:
        return None

    def augment(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim != 4 or x.shape[1] != 3 or x.shape[3] < body_joints:
            raise ValueError(f"skeleton augmentation expects (B, 3, T, V >= {body_joints}) "
                             f"clips, got shape {x.shape}")
        b, c, t, v = x.shape
        out = x.astype(np.float32, copy=True)
        if warp > 0:  # (B, V*3, T): every node's xyz is one triple of the 1-D warp
            flat = out.transpose(0, 3, 1, 2).reshape(b, v * c, t)
            out = time_warp(flat, rng, warp).reshape(b, v, c, t).transpose(0, 2, 3, 1).copy()
        body = out[..., :body_joints]
        if max_deg > 0:
            r = random_rotations(b, max_deg, rng).astype(np.float32)
            body = np.einsum("bij,bjtv->bitv", r, body)
        if sigma > 0:
            body = body * rng.uniform(1.0 - sigma, 1.0 + sigma, size=(b, 1, 1, 1)).astype(
                np.float32)
        out[..., :body_joints] = body
        return out.astype(x.dtype, copy=False)

    return augment
