"""Skeleton normalisation: centre on a joint, optionally rotate to a canonical view."""

from __future__ import annotations

import numpy as np

from crosskd.data.layouts import Layout

CENTER_MODES = ("first_frame", "per_frame", "none")


def view_rotation(frame: np.ndarray, layout: Layout) -> np.ndarray:
    """Rotation (3, 3) taking the body's right direction to +x and its up direction to +y.

    Built from one frame (V, 3): up = hip joint -> spine joint, right = left -> right
    shoulder, made orthogonal (Gram-Schmidt). Like 2s-AGCN's pre-normalisation, this removes
    the camera's view angle so teachers see every subject from the front.
    """
    up = frame[layout.index(layout.spine_joint)] - frame[layout.index(layout.hip_joint)]
    right = frame[layout.index(layout.right_shoulder)] - frame[layout.index(layout.left_shoulder)]
    nu = np.linalg.norm(up)
    if nu < 1e-6:  # degenerate trunk (hip on the spine joint): keep the view as it is
        return np.eye(3)
    up = up / nu
    right = right - np.dot(right, up) * up
    nr = np.linalg.norm(right)
    if nr < 1e-6:  # degenerate shoulders: keep the view as it is
        return np.eye(3)
    right /= nr
    back = np.cross(right, up)  # right-handed: x right, y up, z = x cross y
    return np.stack([right, up, back])


def normalize_skeleton(
    skel: np.ndarray, layout: Layout, center: str = "first_frame", rotate: bool = True
) -> np.ndarray:
    """``skel`` (T, V, 3) -> centred (and rotated) copy.

    ``first_frame`` subtracts the centre joint of frame 0 from every frame, keeping the whole
    body's motion (sit2stand, walk); ``per_frame`` subtracts each frame's own centre.
    """
    if center not in CENTER_MODES:
        raise ValueError(f"center must be one of {CENTER_MODES}, got {center!r}")
    out = np.array(skel, dtype=np.float64, copy=True)
    c = layout.index(layout.center)
    if center == "first_frame":
        out -= out[0:1, c : c + 1, :]
    elif center == "per_frame":
        out -= out[:, c : c + 1, :]
    if rotate:
        out = out @ view_rotation(skel[0], layout).T
    return out
