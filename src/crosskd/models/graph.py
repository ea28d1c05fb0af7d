"""Skeleton graphs for the GCN teachers, built from a :class:`Layout` (no per-dataset code).

Spatial partition of 2s-AGCN (Shi et al. 2019): three subsets, identity (self links),
inward (towards the root) and outward (away from it). Fusion-GCN (Duhme et al. 2021) adds
the IMU signal as extra graph nodes; each is linked to the layout's ``center`` joint.

Node order: the layout's joints ``0..V-1``, then the IMU nodes ``V..V+imu_nodes-1``.

Matrix convention (as 2s-AGCN's ``edge2mat``): an edge ``i -> j`` sets ``A[j, i] = 1``;
the GCN aggregates ``out[:, w] = sum_v x[:, v] * A[v, w]`` and every column is normalised
(``A @ D^-1``, D = column sums), so each node averages over its neighbours in that subset.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from crosskd.data.layouts import Layout


def fused_num_nodes(layout: Layout, imu_nodes: int = 0) -> int:
    """Number of graph nodes: skeleton joints plus the appended IMU nodes."""
    if imu_nodes < 0:
        raise ValueError(f"imu_nodes must be >= 0, got {imu_nodes}")
    return layout.num_joints + imu_nodes


def inward_edges(layout: Layout, imu_nodes: int = 0) -> list[tuple[int, int]]:
    """Directed (child, parent) node-index pairs, every edge pointing towards ``center``.

    The direction comes from hop distance to ``layout.center`` (breadth-first search),
    not from the order written in ``layout.bones``: layouts state bones "undirected for the
    graph", and the root of the partition is the centre joint (e.g. on kinect_v1 the bone
    (spine, hip_center) becomes hip_center -> spine because spine is the centre). On equal
    distance (only possible in a graph with cycles) the layout's (child, parent) order wins.
    IMU node ``V + k`` contributes the edge ``(V + k, center)``.
    """
    fused_num_nodes(layout, imu_nodes)  # validates imu_nodes
    num_joints = layout.num_joints
    bones = layout.edges()
    neighbours: list[list[int]] = [[] for _ in range(num_joints)]
    for a, b in bones:
        neighbours[a].append(b)
        neighbours[b].append(a)
    root = layout.index(layout.center)
    dist = [-1] * num_joints
    dist[root] = 0
    queue = deque([root])
    while queue:
        node = queue.popleft()
        for nxt in neighbours[node]:
            if dist[nxt] < 0:
                dist[nxt] = dist[node] + 1
                queue.append(nxt)
    unreachable = [layout.joints[i] for i, d in enumerate(dist) if d < 0]
    if unreachable:
        raise ValueError(
            f"layout {layout.name!r}: joints {unreachable} are not connected to the centre "
            f"{layout.center!r}"
        )
    edges = [(b, a) if dist[a] < dist[b] else (a, b) for a, b in bones]
    edges += [(num_joints + k, root) for k in range(imu_nodes)]
    return edges


def _edge2mat(edges: list[tuple[int, int]], num_nodes: int) -> np.ndarray:
    a = np.zeros((num_nodes, num_nodes), dtype=np.float32)
    for i, j in edges:
        a[j, i] = 1.0
    return a


def normalize_digraph(a: np.ndarray) -> np.ndarray:
    """``A @ D^-1`` with D the column sums; all-zero columns stay zero (2s-AGCN)."""
    col = a.sum(axis=0)
    inv = np.zeros_like(col)
    np.divide(1.0, col, out=inv, where=col > 0)
    return (a * inv[None, :]).astype(np.float32)


def graph_adjacency(layout: Layout, imu_nodes: int = 0) -> np.ndarray:
    """The (3, V', V') spatial-partition adjacency: [identity, inward, outward], V' = V + imu.

    Inward/outward are column-normalised; identity is left as is (2s-AGCN ``get_spatial_graph``).
    """
    n = fused_num_nodes(layout, imu_nodes)
    inward = inward_edges(layout, imu_nodes)
    outward = [(j, i) for i, j in inward]
    ident = np.eye(n, dtype=np.float32)
    return np.stack(
        [ident, normalize_digraph(_edge2mat(inward, n)), normalize_digraph(_edge2mat(outward, n))]
    )
