"""GAF images against the formula, the uint8 encoding and the gaf step's file."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from crosskd.data.fuse import fuse_dataset
from crosskd.data.gaf import from_uint8, gaf_dataset, gaf_images, read_gaf, to_uint8
from crosskd.errors import DataError
from tests.conftest import base_params


def _formula(x: np.ndarray, method: str) -> np.ndarray:
    scaled = 2 * (x - x.min()) / (x.max() - x.min()) - 1
    phi = np.arccos(np.clip(scaled, -1, 1))
    if method == "gasf":
        return np.cos(phi[:, None] + phi[None, :])
    return np.sin(phi[:, None] - phi[None, :])


@pytest.mark.parametrize("method", ["gasf", "gadf"])
def test_values_match_formula(method: str) -> None:
    series = np.array([[[0.0, 1, 2], [1, 1, -1], [2, 0, 5], [3, 4, 0]]])  # (1, T=4, 3)
    images = gaf_images(series, 4, method)
    assert images.shape == (1, 3, 4, 4)
    for axis in range(3):
        np.testing.assert_allclose(images[0, axis], _formula(series[0, :, axis], method),
                                   atol=1e-6)
    # Hand-checked corner: x = [0,1,2,3] scales to [-1,-1/3,1/3,1]; GASF[0,0] = cos(2*pi) = 1.
    if method == "gasf":
        assert images[0, 0, 0, 0] == pytest.approx(1.0)
        assert images[0, 0, 0, 3] == pytest.approx(np.cos(np.pi + 0.0))
    else:
        np.testing.assert_allclose(np.diagonal(images[0, 0]), 0, atol=1e-7)  # sin(0)


def test_upsampling_and_constant_axis() -> None:
    rng = np.random.default_rng(0)
    series = rng.normal(size=(2, 16, 3))
    series[1, :, 2] = 0.7  # a constant axis: flat image, no NaN
    big = gaf_images(series, 40, "gasf")
    assert big.shape == (2, 3, 40, 40) and np.isfinite(big).all()
    np.testing.assert_allclose(big[1, 2], -1.0)
    small = gaf_images(series, 8, "gasf")  # PAA down to 8
    assert small.shape == (2, 3, 8, 8)
    with pytest.raises(ValueError, match="NaN"):
        gaf_images(np.full((1, 8, 3), np.nan), 8, "gasf")
    with pytest.raises(ValueError, match="method"):
        gaf_images(series, 8, "mtf")


def test_uint8_round_trip_error_bound() -> None:
    x = np.linspace(-1, 1, 1001, dtype=np.float32)
    assert np.abs(from_uint8(to_uint8(x)) - x).max() <= 1 / 255 + 1e-6


def test_gaf_stage_file(mini_utd: Path, tmp_path: Path) -> None:
    params = base_params(data__actions=[1, 2], fetch__source="path")
    fuse_dataset(params, mini_utd, tmp_path / "fused.h5")
    images = gaf_dataset(tmp_path / "fused.h5", tmp_path / "gaf.h5", image_size=32,
                         methods=["gasf", "gadf"])
    with h5py.File(tmp_path / "gaf.h5") as f:
        assert f["gasf"].dtype == np.uint8 and f["gasf"].shape == (8, 3, 32, 32)
        assert f["gasf"].chunks == (1, 3, 32, 32)
        assert f.attrs["image_size"] == 32
    stored, ids = read_gaf(tmp_path / "gaf.h5", "gadf")
    assert ids[0] == "a1_s1_t1"
    assert np.abs(stored - images["gadf"]).max() <= 1 / 255 + 1e-6
    with pytest.raises(DataError, match="no 'mtf' images"):
        read_gaf(tmp_path / "gaf.h5", "mtf")
    # Missing and truncated files: the same open-or-DataError helper as the fused file.
    with pytest.raises(DataError, match="absent.h5: GAF HDF5 file is missing"):
        read_gaf(tmp_path / "absent.h5", "gasf")
    whole = (tmp_path / "gaf.h5").read_bytes()
    (tmp_path / "cut.h5").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError, match="cut.h5: not a readable HDF5"):
        read_gaf(tmp_path / "cut.h5", "gasf")
    with pytest.raises(ValueError, match="gaf.methods"):
        gaf_dataset(tmp_path / "fused.h5", tmp_path / "g2.h5", image_size=32, methods=["x"])
    assert not (tmp_path / "g2.h5").exists()
