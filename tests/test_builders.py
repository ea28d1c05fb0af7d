"""Params -> models and inputs: profiles, unknown names, shape mismatches, stage CLIs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from crosskd.config import apply_profile, load_params
from crosskd.data.fused_h5 import FusedData
from crosskd.errors import ConfigError, DataError
from crosskd.models import build_model
from crosskd.training.builders import ModelSpec, check_input, student_spec, teacher_spec
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


def _stage(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "pipeline" / script), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_stage_scripts_help_and_clean_errors(tmp_path: Path) -> None:
    for script in ("fetch.py", "fuse.py", "gaf.py", "train_teacher.py", "train_student.py",
                   "evaluate.py", "distill.py", "report.py"):
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
    assert proc.returncode == 1 and "model.pt: checkpoint is missing" in proc.stderr
