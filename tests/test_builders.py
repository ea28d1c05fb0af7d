"""Params -> models and inputs: profiles, unknown names, shape mismatches, stage CLIs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from crosskd.config import apply_profile, load_params
from crosskd.data.fused_h5 import FusedData
from crosskd.errors import ConfigError, DataError
from crosskd.models import build_model
from crosskd.training.builders import (
    ModelSpec,
    check_input,
    load_checked_model,
    load_model,
    save_model,
    student_spec,
    teacher_spec,
)
from tests.conftest import REPO, base_params


def _fused(v: int = 20) -> FusedData:
    n = 4
    return FusedData(
        skeleton=np.zeros((n, 3, 16, v), np.float32), inertial=np.zeros((n, 32, 6), np.float32),
        label=np.arange(n) % 2, action=np.arange(n) % 2 + 1, subject=np.ones(n, int),
        trial=np.ones(n, int), sample_id=np.array([f"c{i}" for i in range(n)]),
        class_names=["a", "b"], splits={}, attrs={"layout": "kinect_v1"})


def test_profiles_merge_and_unknown_profile() -> None:
    params = load_params(REPO / "params.yaml")
    assert params["gaf"]["image_size"] == params["profiles"]["fast"]["gaf"]["image_size"]
    assert params["teacher"]["channels"] == params["profiles"]["fast"]["teacher"]["channels"]
    assert params["teacher"]["imu"] == "acc"  # untouched keys survive the merge
    paper = apply_profile({**base_params(), "profile": "paper"})
    assert paper["gaf"]["image_size"] == 224 and len(paper["teacher"]["channels"]) == 10
    with pytest.raises(ConfigError, match="unknown profile 'gpu'"):
        apply_profile({**base_params(), "profile": "gpu"})


def test_teacher_and_student_specs() -> None:
    params = apply_profile(base_params())
    data = _fused()
    sk, fu = teacher_spec("sk", params, data), teacher_spec("fu", params, data)
    assert (sk.modality, sk.kwargs["imu_nodes"]) == ("skeleton", 0)
    assert (fu.modality, fu.kwargs["imu_nodes"]) == ("fused", 1)
    assert student_spec(params, data).kwargs["num_classes"] == 2
    params["student"]["model"] = "temporal_cnn"
    params["student"]["temporal_cnn"].update(convs_per_block=3, residual=True)
    spec = student_spec(params, data)
    assert (spec.kwargs["convs_per_block"], spec.kwargs["residual"]) == (3, True)
    assert build_model(spec.model, **spec.kwargs).blocks[0].shortcut is not None
    params["student"]["temporal_cnn"]["convs_per_block"] = 0
    with pytest.raises(ConfigError, match="student.temporal_cnn.convs_per_block"):
        student_spec(params, data)
    params["student"]["temporal_cnn"].update(convs_per_block=1, residual="false")
    with pytest.raises(ConfigError, match="student.temporal_cnn.residual must be true or false"):
        student_spec(params, data)
    with pytest.raises(ConfigError, match="unknown teacher 'rgb'"):
        teacher_spec("rgb", params, data)
    params["student"]["model"] = "mobilenet"
    with pytest.raises(ConfigError, match="student.model 'mobilenet'"):
        student_spec(params, data)
    with pytest.raises(ConfigError, match="unknown model"):
        build_model("transformer")


def test_shape_mismatch_between_file_and_model_is_named() -> None:
    params = apply_profile(base_params())
    spec = teacher_spec("sk", params, _fused())
    model = spec.build()
    with pytest.raises(DataError, match=r"fused.h5: skeleton input of shape \(3, 16, 25\)"):
        check_input(spec, model, np.zeros((2, 3, 16, 25), np.float32), "fused.h5")
    gaf = ModelSpec("s", "gaf_resnet18", {"num_classes": 2}, "gasf")
    with pytest.raises(DataError, match="gasf input"):
        check_input(gaf, gaf.build(), np.zeros((2, 1, 32, 32), np.float32), "gaf.h5")


def test_damaged_or_misplaced_model_files_are_named(tmp_path: Path) -> None:
    params = apply_profile(base_params())
    data = _fused()
    spec = teacher_spec("sk", params, data)
    model = spec.build()
    meta = {"class_names": data.class_names, "dataset": "utd_mhad", "seed": 0,
            "protocol": "cross_subject"}
    good = tmp_path / "teacher_sk.pt"
    save_model(good, spec, model, meta)
    assert load_model(good)[0] == spec
    bare = tmp_path / "bare.pt"
    torch.save(model.state_dict(), bare)  # weights alone, as torch users often save them
    with pytest.raises(DataError, match=r"bare\.pt: not a model file of this pipeline "
                       r"\(no name, model, kwargs, modality, state_dict\)"):
        load_model(bare)
    record = torch.load(good, weights_only=True)
    del record["state_dict"][next(iter(record["state_dict"]))]
    torch.save(record, tmp_path / "partial.pt")
    with pytest.raises(DataError, match=r"partial\.pt: its weights do not fit its agcn model "
                       r"\(Error\(s\) in loading state_dict"):
        load_model(tmp_path / "partial.pt")
    # The fusion teacher's file where the skeleton teacher's belongs.
    fu = teacher_spec("fu", params, data)
    save_model(tmp_path / "fu.pt", fu, fu.build(), meta)
    with pytest.raises(DataError, match=r"fu\.pt: holds the model 'teacher_fu', expected "
                       r"'teacher_sk': re-run"):
        load_checked_model(tmp_path / "fu.pt", params, data, 0, name="teacher_sk",
                           hint=": re-run train_teacher")


def _stage(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "pipeline" / script), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_stage_scripts_help_and_clean_errors(tmp_path: Path) -> None:
    for script in sorted(p.name for p in (REPO / "pipeline").glob("*.py")):
        proc = _stage(script, "--help", cwd=tmp_path)
        assert proc.returncode == 0 and "--params" in proc.stdout, script
    params = base_params(fetch__source="carrier-pigeon")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    proc = _stage("fetch.py", cwd=tmp_path)
    assert proc.returncode == 1
    assert "fetch.source = 'carrier-pigeon'" in proc.stderr and "Traceback" not in proc.stderr
    proc = _stage("fuse.py", cwd=tmp_path)
    assert proc.returncode == 1 and "data/raw/utd_mhad/Inertial: folder is missing" in proc.stderr
    proc = _stage("evaluate.py", "--model", "teacher_sk", "--seed", "0", cwd=tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "data/fused/utd_mhad.h5: fused HDF5 file is missing (run the fuse stage)" in proc.stderr
