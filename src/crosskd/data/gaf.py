"""Gramian Angular Field images of the accelerometer axes (pyts), stored in one HDF5 file.

Per axis the series is min-max scaled to [-1, 1], phi = arccos(x), and
GASF[i, j] = cos(phi_i + phi_j), GADF[i, j] = sin(phi_i - phi_j); x, y, z give the three
image channels (VSKD / PSKD student input). Values are stored as uint8 (value =
code / 255 * 2 - 1, error <= 1/255), chunked one clip per chunk: 4x smaller than float32
and what the reference code's PNG images held.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import h5py
import numpy as np

from crosskd.atomic import atomic_path
from crosskd.data.h5read import decode_strings, open_h5
from crosskd.errors import DataError

# pyts compiles numba kernels on import (~22-26 s per process on 2 cores); with the JIT off
# the import takes ~1.5 s and a whole dataset's GAF ~1 s (measured; see BENCHMARKS.md).
os.environ.setdefault("NUMBA_DISABLE_JIT", "1")

GAF_METHODS = {"gasf": "summation", "gadf": "difference"}
GAF_SCHEMA_VERSION = 1


def gaf_images(series: np.ndarray, image_size: int, method: str) -> np.ndarray:
    """(N, T, C) series -> (N, C, S, S) float32 GAF images in [-1, 1].

    Where S > T, the field is computed at T and resized (bilinear), as the reference code
    did for 224 px; where S <= T, pyts reduces the series by piecewise aggregation.
    """
    if method not in GAF_METHODS:
        raise ValueError(f"GAF method must be one of {sorted(GAF_METHODS)}, got {method!r}")
    n, t, c = series.shape
    size = min(image_size, t)
    # Imported here: the training stages only read stored images (read_gaf) and skip the
    # import's 1.5-3 s per process.
    from pyts.image import GramianAngularField

    gaf = GramianAngularField(image_size=size, method=GAF_METHODS[method], sample_range=(-1, 1))
    flat = series.transpose(0, 2, 1).reshape(n * c, t)
    if not np.isfinite(flat).all():
        raise ValueError("GAF input has NaN/inf values")
    # A constant axis has no range to scale (pyts would divide by zero): treat it as x = 0,
    # phi = pi/2, whose field is flat: GASF = cos(pi) = -1, GADF = sin(0) = 0.
    const = np.ptp(flat, axis=1) < 1e-12
    images = np.full((n * c, size, size), -1.0 if method == "gasf" else 0.0, np.float32)
    if (~const).any():
        images[~const] = gaf.fit_transform(flat[~const])
    if size != image_size:
        images = np.stack([
            cv2.resize(im, (image_size, image_size), interpolation=cv2.INTER_LINEAR)
            for im in images
        ])
    return np.clip(images, -1.0, 1.0).reshape(n, c, image_size, image_size)


def to_uint8(images: np.ndarray) -> np.ndarray:
    return np.round((images + 1.0) * 127.5).astype(np.uint8)


def from_uint8(codes: np.ndarray) -> np.ndarray:
    """Stored codes -> float32 in [-1, 1]."""
    return codes.astype(np.float32) / 127.5 - 1.0


def write_gaf(path: str | Path, images: dict[str, np.ndarray], sample_id: np.ndarray,
              label: np.ndarray, attrs: dict[str, object]) -> None:
    with atomic_path(path) as tmp, h5py.File(tmp, "w", track_order=True) as f:
        for name, im in images.items():
            f.create_dataset(name, data=to_uint8(im), chunks=(1, *im.shape[1:]),
                             compression="gzip", compression_opts=4, track_times=False)
        f.create_dataset("sample_id", data=np.asarray(sample_id, dtype=object),
                         dtype=h5py.string_dtype("utf-8"), track_times=False)
        f.create_dataset("label", data=label.astype(np.int64), track_times=False)
        f.attrs["schema_version"] = GAF_SCHEMA_VERSION
        f.attrs["encoding"] = "uint8: value = code / 127.5 - 1"
        for k, v in attrs.items():
            f.attrs[k] = v


def read_gaf(path: str | Path, method: str) -> tuple[np.ndarray, np.ndarray]:
    """(images float32 (N, 3, S, S) in [-1, 1], sample_id) from a GAF file."""
    path = Path(path)
    with open_h5(path, "GAF HDF5 file is missing (run the gaf stage)") as f:
        if method not in f:
            raise DataError(path, f"has no {method!r} images (has {sorted(f.keys())})")
        return from_uint8(f[method][()]), np.array(decode_strings(f["sample_id"][()]))


def gaf_dataset(fused_path: str | Path, out_path: str | Path, *, image_size: int,
                methods: list[str]) -> dict[str, np.ndarray]:
    """The gaf step: accelerometer of every fused clip -> GASF/GADF images in ``out_path``."""
    from crosskd.data.fused_h5 import read_fused

    if not methods or any(m not in GAF_METHODS for m in methods):
        raise ValueError(f"gaf.methods must be a non-empty subset of {sorted(GAF_METHODS)}, "
                         f"got {methods!r}")
    data = read_fused(fused_path)
    acc = data.inertial[:, :, :3].astype(np.float64)
    images = {m: gaf_images(acc, image_size, m) for m in methods}
    write_gaf(out_path, images, data.sample_id, data.label,
              {"image_size": image_size, "methods": ",".join(methods),
               "dataset": str(data.attrs.get("dataset"))})
    return images
