"""The fusion teacher's input, derived from the fused file alone (Fusion-GCN style).

Fusion-GCN (Duhme et al. 2021) adds each inertial sensor as extra graph nodes: its 3-axis
signal, resampled to the skeleton's length, is a 3-channel "joint" linked to the centre
joint. Units differ (m vs g, deg/s); the teacher's input BatchNorm absorbs the scale.
"""

from __future__ import annotations

import numpy as np

from crosskd.data.resample import resample_time

IMU_NODE_SETS = {"acc": (slice(0, 3),), "acc_gyro": (slice(0, 3), slice(3, 6))}


def imu_node_count(imu: str) -> int:
    if imu not in IMU_NODE_SETS:
        raise ValueError(f"imu must be one of {sorted(IMU_NODE_SETS)}, got {imu!r}")
    return len(IMU_NODE_SETS[imu])


def fused_teacher_input(skeleton: np.ndarray, inertial: np.ndarray, imu: str = "acc") -> np.ndarray:
    """(N, 3, T, V) skeleton + (N, T_i, 6) inertial -> (N, 3, T, V + k) float32.

    ``imu``: "acc" adds one node (accelerometer), "acc_gyro" two (accelerometer, gyroscope).
    """
    k = imu_node_count(imu)
    n, c, t, v = skeleton.shape
    if inertial.shape[0] != n:
        raise ValueError(f"skeleton has {n} clips, inertial {inertial.shape[0]}")
    resampled = resample_time(inertial, t, axis=1)  # (N, T, 6)
    nodes = np.stack([resampled[:, :, s] for s in IMU_NODE_SETS[imu]], axis=-1)  # (N,T,3,k)
    nodes = nodes.transpose(0, 2, 1, 3)  # (N, 3, T, k)
    out = np.concatenate([skeleton, nodes], axis=3).astype(np.float32)
    assert out.shape == (n, c, t, v + k)
    return out
