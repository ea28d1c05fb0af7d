"""Skeleton layouts as data: joint names, bones and the joints normalisation needs.

A layout is a description, not code: models build their graphs from ``bones`` and the
fusion teacher appends IMU nodes linked to ``center``. New skeletons (MediaPipe's 33
landmarks, Berkeley mocap) are new entries here, not new code paths.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Layout:
    name: str
    joints: tuple[str, ...]
    bones: tuple[tuple[str, str], ...]  # (child, parent) pairs, undirected for the graph
    center: str  # the joint subtracted in normalisation and the IMU nodes' neighbour
    hip_joint: str  # with ``spine_joint``: the body's up axis for view rotation
    spine_joint: str
    left_shoulder: str  # with ``right_shoulder``: the body's left-right axis
    right_shoulder: str

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    def index(self, joint: str) -> int:
        return self.joints.index(joint)

    def edges(self) -> list[tuple[int, int]]:
        """Bones as (i, j) joint indices."""
        return [(self.index(a), self.index(b)) for a, b in self.bones]


KINECT_V1 = Layout(
    name="kinect_v1",
    # UTD-MHAD Skeleton_joint_order.txt, 1-based there, 0-based here.
    joints=(
        "head", "shoulder_center", "spine", "hip_center",
        "left_shoulder", "left_elbow", "left_wrist", "left_hand",
        "right_shoulder", "right_elbow", "right_wrist", "right_hand",
        "left_hip", "left_knee", "left_ankle", "left_foot",
        "right_hip", "right_knee", "right_ankle", "right_foot",
    ),
    bones=(
        ("head", "shoulder_center"), ("shoulder_center", "spine"), ("spine", "hip_center"),
        ("left_shoulder", "shoulder_center"), ("left_elbow", "left_shoulder"),
        ("left_wrist", "left_elbow"), ("left_hand", "left_wrist"),
        ("right_shoulder", "shoulder_center"), ("right_elbow", "right_shoulder"),
        ("right_wrist", "right_elbow"), ("right_hand", "right_wrist"),
        ("left_hip", "hip_center"), ("left_knee", "left_hip"), ("left_ankle", "left_knee"),
        ("left_foot", "left_ankle"),
        ("right_hip", "hip_center"), ("right_knee", "right_hip"),
        ("right_ankle", "right_knee"), ("right_foot", "right_ankle"),
    ),
    center="spine",
    hip_joint="hip_center",
    spine_joint="shoulder_center",
    left_shoulder="left_shoulder",
    right_shoulder="right_shoulder",
)

LAYOUTS: dict[str, Layout] = {KINECT_V1.name: KINECT_V1}


def get_layout(name: str) -> Layout:
    try:
        return LAYOUTS[name]
    except KeyError:
        raise KeyError(f"unknown skeleton layout {name!r}; known: {sorted(LAYOUTS)}") from None
