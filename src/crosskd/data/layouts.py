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

# MediaPipe's landmark order (mediapipe.tasks.python.vision.PoseLandmark), lower-cased.
POSE33_JOINTS: tuple[str, ...] = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_pinky", "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)

# A spanning tree of MediaPipe's POSE_CONNECTIONS (35 edges, with cycles, and the face drawn
# apart from the body), as (child, parent) pairs rooted at left_hip. Kept from the
# connections: hips, shoulder-hip sides, arms, legs, eyes/ears. Dropped to break cycles:
# shoulder-shoulder, pinky-index and heel-foot_index. Added, because MediaPipe draws no bone
# between head and body: nose -> left_shoulder, and both mouth corners -> nose (instead of
# the mouth_left-mouth_right line). There is no mid-hip landmark and we add no synthetic
# joint, so the centre is left_hip, and the body's up axis for view rotation runs
# left_hip -> left_shoulder (parallel to the spine).
MEDIAPIPE_POSE33 = Layout(
    name="mediapipe_pose33",
    joints=POSE33_JOINTS,
    bones=(
        ("right_hip", "left_hip"),
        ("left_shoulder", "left_hip"), ("right_shoulder", "right_hip"),
        ("nose", "left_shoulder"),
        ("left_eye_inner", "nose"), ("left_eye", "left_eye_inner"),
        ("left_eye_outer", "left_eye"), ("left_ear", "left_eye_outer"),
        ("right_eye_inner", "nose"), ("right_eye", "right_eye_inner"),
        ("right_eye_outer", "right_eye"), ("right_ear", "right_eye_outer"),
        ("mouth_left", "nose"), ("mouth_right", "nose"),
        ("left_elbow", "left_shoulder"), ("left_wrist", "left_elbow"),
        ("left_pinky", "left_wrist"), ("left_index", "left_wrist"), ("left_thumb", "left_wrist"),
        ("right_elbow", "right_shoulder"), ("right_wrist", "right_elbow"),
        ("right_pinky", "right_wrist"), ("right_index", "right_wrist"),
        ("right_thumb", "right_wrist"),
        ("left_knee", "left_hip"), ("left_ankle", "left_knee"),
        ("left_heel", "left_ankle"), ("left_foot_index", "left_ankle"),
        ("right_knee", "right_hip"), ("right_ankle", "right_knee"),
        ("right_heel", "right_ankle"), ("right_foot_index", "right_ankle"),
    ),
    center="left_hip",
    hip_joint="left_hip",
    spine_joint="left_shoulder",
    left_shoulder="left_shoulder",
    right_shoulder="right_shoulder",
)


# Berkeley-MHAD's mocap skeleton (BVH), without its *Roll twist joints, which sit halfway
# along their bones; crosskd.data.berkeley_mhad maps BVH joint names to these.
BERKELEY_MOCAP = Layout(
    name="berkeley_mocap",
    joints=(
        "hips", "spine", "spine1", "spine2", "neck", "head",
        "left_clavicle", "left_shoulder", "left_elbow", "left_wrist",
        "right_clavicle", "right_shoulder", "right_elbow", "right_wrist",
        "left_hip", "left_knee", "left_ankle", "left_toe",
        "right_hip", "right_knee", "right_ankle", "right_toe",
    ),
    bones=(
        ("spine", "hips"), ("spine1", "spine"), ("spine2", "spine1"), ("neck", "spine2"),
        ("head", "neck"),
        ("left_clavicle", "spine2"), ("left_shoulder", "left_clavicle"),
        ("left_elbow", "left_shoulder"), ("left_wrist", "left_elbow"),
        ("right_clavicle", "spine2"), ("right_shoulder", "right_clavicle"),
        ("right_elbow", "right_shoulder"), ("right_wrist", "right_elbow"),
        ("left_hip", "hips"), ("left_knee", "left_hip"), ("left_ankle", "left_knee"),
        ("left_toe", "left_ankle"),
        ("right_hip", "hips"), ("right_knee", "right_hip"), ("right_ankle", "right_knee"),
        ("right_toe", "right_ankle"),
    ),
    center="spine",  # lumbar joint, just above the hips (Kinect v1's "spine" likewise)
    hip_joint="hips",
    spine_joint="neck",
    left_shoulder="left_shoulder",
    right_shoulder="right_shoulder",
)

LAYOUTS: dict[str, Layout] = {x.name: x for x in (KINECT_V1, MEDIAPIPE_POSE33, BERKELEY_MOCAP)}


def get_layout(name: str) -> Layout:
    try:
        return LAYOUTS[name]
    except KeyError:
        raise KeyError(f"unknown skeleton layout {name!r}; known: {sorted(LAYOUTS)}") from None
