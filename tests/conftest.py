"""Shared fixtures. Real data is read from $CROSSKD_SHARED (default: ../shared)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CROSSKD_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def utd_real() -> Path:
    """The real UTD-MHAD copy. Missing: a failure in CI, a skip elsewhere (said why)."""
    root = SHARED / "datasets" / "utd_mhad"
    _shared_or_skip(root / "Inertial", "real UTD-MHAD copy")
    return root


def module_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
               name: str) -> Path:
    """A temporary folder for a module-scoped fixture, removed when its module ends with no
    failure (kept for a look otherwise): the DVC and distillation projects hold hundreds of
    MB, and CI's disk is not large."""
    path = tmp_path_factory.mktemp(name)
    failed_before = request.session.testsfailed

    def _remove_if_passed() -> None:
        if request.session.testsfailed == failed_before:
            shutil.rmtree(path, ignore_errors=True)

    request.addfinalizer(_remove_if_passed)
    return path


def _shared_or_skip(path: Path, what: str) -> Path:
    """A file from ../shared: missing is a failure in CI, a skip (saying why) elsewhere."""
    if not path.exists():
        msg = f"{what} not found at {path}; set CROSSKD_SHARED"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return path


@pytest.fixture(scope="session")
def pose_model() -> Path:
    """The shared MediaPipe pose bundle (never copied into this repository)."""
    return _shared_or_skip(SHARED / "models" / "pose_landmarker_full.task", "pose model")


def write_utd_clip(root: Path, a: int, s: int, t: int, n: int = 120, frames: int = 50,
                   seed: int = 0) -> None:
    """One small, valid UTD-MHAD pair (random but finite) for bad-input tests."""
    rng = np.random.default_rng([seed, a, s, t])
    (root / "Inertial").mkdir(parents=True, exist_ok=True)
    (root / "Skeleton").mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(root / "Inertial" / f"a{a}_s{s}_t{t}_inertial.mat",
                     {"d_iner": rng.normal(size=(n, 6))})
    scipy.io.savemat(root / "Skeleton" / f"a{a}_s{s}_t{t}_skeleton.mat",
                     {"d_skel": rng.normal(size=(20, 3, frames))})


@pytest.fixture
def mini_utd(tmp_path: Path) -> Path:
    """Actions 1-2, subjects 1-2, trials 1-2: 8 valid pairs."""
    root = tmp_path / "utd"
    for a in (1, 2):
        for s in (1, 2):
            for t in (1, 2):
                write_utd_clip(root, a, s, t)
    return root


def base_params(**over) -> dict:
    """A params dict like params.yaml's, with dotted-key overrides."""
    import copy

    import yaml

    params = copy.deepcopy(yaml.safe_load((REPO / "params.yaml").read_text()))
    for key, value in over.items():
        node = params
        *parents, last = key.split("__")
        for p in parents:
            node = node[p]
        node[last] = value
    return params
