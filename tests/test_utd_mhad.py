"""UTD-MHAD reader: the real release, both protocols, and every kind of bad file."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from crosskd.data.datasets import ReadReport, get_dataset
from crosskd.data.utd_mhad import UTD_MHAD_ACTIONS, read_utd_mhad
from crosskd.errors import ConfigError, DataError


def test_real_release_counts_shapes_classes(utd_real: Path) -> None:
    samples = list(read_utd_mhad(utd_real))
    assert len(samples) == 861
    ids = {s.sample_id for s in samples}
    assert not {"a8_s1_t4", "a23_s6_t4", "a27_s8_t4"} & ids
    assert Counter(s.action for s in samples) == {
        a: 32 - (a in (8, 23, 27)) for a in range(1, 28)
    }
    for s in samples:
        assert s.acc.shape[1] == 3 and s.gyro.shape == s.acc.shape
        assert 107 <= len(s.acc) <= 326
        assert s.skeleton.shape[1:] == (20, 3) and 41 <= len(s.skeleton) <= 125
        assert s.action_name == UTD_MHAD_ACTIONS[s.action - 1]
    # Order is by action number, not by file name (a1, a2, ... not a1, a10, ...).
    assert [s.action for s in samples] == sorted(s.action for s in samples)
    assert samples[32].sample_id == "a2_s1_t1"
    # Accelerometer in g: a wrist at rest-ish reads about 1 g on average.
    mean_norm = np.mean([np.linalg.norm(s.acc, axis=1).mean() for s in samples])
    assert 0.9 < mean_norm < 1.4


def test_real_release_protocol_sizes(utd_real: Path) -> None:
    spec = get_dataset("utd_mhad")
    samples = list(read_utd_mhad(utd_real))
    subj = np.array([s.subject for s in samples])
    trial = np.array([s.trial for s in samples])
    masks = spec.split_masks(subj, trial)
    assert (masks["cross_subject"].sum(), (~masks["cross_subject"]).sum()) == (431, 430)
    assert (masks["trial_split"].sum(), (~masks["trial_split"]).sum()) == (432, 429)
    assert set(subj[masks["cross_subject"]]) == {1, 3, 5, 7}


def test_action_subset_and_unknown_dataset(mini_utd: Path) -> None:
    assert {s.action for s in read_utd_mhad(mini_utd, [2])} == {2}
    with pytest.raises(DataError, match="unknown UTD-MHAD action"):
        list(read_utd_mhad(mini_utd, [28]))
    with pytest.raises(ConfigError, match="unknown dataset 'nope'"):
        get_dataset("nope")


def _corrupt(path: Path, how: str) -> None:
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2] if how == "truncate" else b"garbage" * 40)


@pytest.mark.parametrize("how", ["truncate", "garbage"])
def test_corrupt_or_truncated_mat_names_file(mini_utd: Path, how: str) -> None:
    bad = mini_utd / "Inertial" / "a1_s2_t1_inertial.mat"
    _corrupt(bad, how)
    with pytest.raises(DataError, match="corrupt or truncated") as exc:
        list(read_utd_mhad(mini_utd))
    assert exc.value.path == bad


def test_missing_partner_error_and_skip(mini_utd: Path) -> None:
    (mini_utd / "Skeleton" / "a2_s1_t2_skeleton.mat").unlink()
    with pytest.raises(DataError, match="partner file Skeleton/a2_s1_t2_skeleton.mat"):
        list(read_utd_mhad(mini_utd))
    report = ReadReport()
    samples = list(read_utd_mhad(mini_utd, on_bad_clip="skip", report=report))
    assert len(samples) == 7 and report.read == 7
    assert len(report.skipped) == 1 and "a2_s1_t2_inertial.mat" in report.skipped[0][0]


@pytest.mark.parametrize(
    ("kind", "payload", "message"),
    [
        ("inertial", {"wrong_name": np.zeros((100, 6))}, "has no variable 'd_iner'"),
        ("inertial", {"d_iner": np.zeros((100, 5))}, r"must be \(N, 6\)"),
        ("skeleton", {"d_skel": np.zeros((25, 3, 40))}, r"must be \(20, 3, T\)"),
        ("inertial", {"d_iner": np.full((100, 6), np.nan)}, "NaN/inf"),
        ("skeleton", {"d_skel": np.where(np.eye(20)[:, :3, None], np.inf, np.zeros((20, 3, 9)))},
         "NaN/inf"),
        ("inertial", {"d_iner": np.zeros((0, 6))}, "empty"),
        ("inertial", {"d_iner": np.zeros((1, 6))}, "at least 2"),
        ("inertial", {"d_iner": np.zeros((100, 6)) + 1j}, "non-real dtype complex128"),
    ],
)
def test_bad_content_names_file_and_problem(mini_utd: Path, kind: str, payload: dict,
                                            message: str) -> None:
    folder = "Inertial" if kind == "inertial" else "Skeleton"
    bad = mini_utd / folder / f"a1_s1_t2_{kind}.mat"
    scipy.io.savemat(bad, payload)
    with pytest.raises(DataError, match=message) as exc:
        list(read_utd_mhad(mini_utd))
    assert exc.value.path == bad and str(bad) in str(exc.value)


def test_two_files_of_one_clip_are_an_error(mini_utd: Path) -> None:
    twin = mini_utd / "Inertial" / "a01_s1_t1_inertial.mat"
    shutil.copy(mini_utd / "Inertial" / "a1_s1_t1_inertial.mat", twin)
    with pytest.raises(DataError, match=r"names the same clip \(a1_s1_t1\) as .*"
                       r"a\d+_s1_t1_inertial\.mat; keep one") as exc:
        list(read_utd_mhad(mini_utd))
    assert {exc.value.path.name, Path(str(exc.value).split(" as ")[1].split(";")[0]).name} == {
        twin.name, "a1_s1_t1_inertial.mat"}
    report = ReadReport()  # like any bad clip: skippable; another action's read is unaffected
    assert len(list(read_utd_mhad(mini_utd, on_bad_clip="skip", report=report))) == 7
    assert "names the same clip" in report.skipped[0][1]
    assert len(list(read_utd_mhad(mini_utd, [2]))) == 4


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="Inertial: folder is missing"):
        list(read_utd_mhad(tmp_path))
