"""Real `dvc repro` of the pipeline in a temporary git repository."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import pytest
import yaml
from mlflow.tracking import MlflowClient

from crosskd.config import load_params
from tests.conftest import REPO, module_dir

pytestmark = pytest.mark.slow


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=2400)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def project(request, tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A copy of the project's pipeline files in a fresh git repo with DVC initialised."""
    root = module_dir(request, tmp_path_factory, "proj")
    for name in ("dvc.yaml", "params.yaml", ".gitignore", ".dvcignore"):
        shutil.copy(REPO / name, root / name)
    # Fewer epochs than the default (30): every stage still runs for real, in a third of
    # the training time (`make run` covers the default itself, BENCHMARKS.md).
    params = yaml.safe_load((root / "params.yaml").read_text())
    for section in ("teacher", "student"):
        params["profiles"]["fast"][section]["epochs"] = 10
    # DVC caches every model; MLflow's copies (45 MB per ResNet18 run) only cost disk here.
    params["mlflow"]["log_models"] = False
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for keep in ("metrics/eval/.gitkeep", "metrics/distill/.gitkeep"):  # tracked, like here
        (root / keep).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / keep, root / keep)
    for name in ("pipeline", "src"):
        shutil.copytree(REPO / name, root / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    env = dict(os.environ)
    # The stages run `python`: make it this interpreter, importing the copied sources.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["PYTHONPATH"] = str(root / "src")
    env["CI"] = "true"
    dvc = [sys.executable, "-m", "dvc"]
    _run(["git", "init", "-q"], root, env)
    _run(["git", "config", "user.email", "ci@example.invalid"], root, env)
    _run(["git", "config", "user.name", "ci"], root, env)
    _run([*dvc, "init", "-q"], root, env)
    _run([*dvc, "config", "core.analytics", "false"], root, env)
    _run(["git", "add", "-A"], root, env)
    _run(["git", "commit", "-qm", "init"], root, env)
    return root, env


def test_repro_builds_every_stage_then_does_nothing(project) -> None:
    root, env = project
    dvc = [sys.executable, "-m", "dvc"]
    out = _run([*dvc, "repro"], root, env)
    stages = ["fetch", "fuse", "gaf", "train_teacher@sk-0", "train_teacher@fu-0",
              "train_student@0", "evaluate@teacher_sk-0", "evaluate@student_baseline-0",
              "distill@kd-0", "distill@acs-0", "distill_progressive@acs-0", "export", "report"]
    for stage in stages:
        assert f"Running stage '{stage}'" in out
    params = load_params(root / "params.yaml")
    from crosskd.data.datasets import get_dataset
    from crosskd.data.fetch import resolve_actions

    n_actions = len(resolve_actions(get_dataset("utd_mhad"), params["data"]["actions"]))
    n = n_actions * params["synthetic"]["subjects"] * params["synthetic"]["trials"]
    with h5py.File(root / "data/fused/utd_mhad.h5") as f:
        assert f["skeleton"].shape == (n, 3, params["fuse"]["skeleton_frames"], 20)
        assert f.attrs["source"] == "synthetic"
    with h5py.File(root / "data/gaf/utd_mhad.h5") as f:
        size = params["gaf"]["image_size"]
        assert f["gasf"].shape == (n, 3, size, size)
    assert (root / "dvc.lock").is_file()
    for name in ("teacher_sk", "teacher_fu", "student_baseline"):
        assert (root / f"models/{name}/s0/model.pt").is_file()
        assert (root / f"plots/confusion/{name}_s0.png").stat().st_size > 1000
    report = json.loads((root / "metrics/ablation.json").read_text())
    assert {"teacher_sk", "student_baseline", "kd", "acs", "acs_progressive"} <= set(
        report["rows"])
    assert "| acs_progressive |" in (root / "reports/ablation.md").read_text()
    deploy = json.loads((root / "metrics/deploy.json").read_text())
    assert deploy["model"] == "student_baseline" and deploy["architecture"] == "gaf_resnet18"
    assert deploy["fp32"]["agreement_with_pytorch"] == 1.0
    assert (root / "models/deploy/student.int8.onnx").stat().st_size == deploy["int8"]["bytes"]
    # Every stage logged a child run under one parent in the default sqlite store.
    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("crosskd").experiment_id])
    logged = {r.data.tags.get("stage") for r in runs}
    assert set(stages[3:-1]) <= logged
    assert len({r.data.tags["mlflow.parentRunId"] for r in runs
                if "mlflow.parentRunId" in r.data.tags}) == 1

    again = _run([*dvc, "repro"], root, env)
    assert "Running stage" not in again
    status = _run([*dvc, "status"], root, env)
    assert "up to date" in status.lower()
    metrics = _run([*dvc, "metrics", "show", "--json"], root, env)
    assert "metrics/eval/student_baseline_s0.json" in metrics
    _run([*dvc, "plots", "show", "-o", str(root / "plots_html")], root, env)
    html = (root / "plots_html" / "index.html").read_text()
    assert "confusion" in html and "val_accuracy" in html


def test_param_change_reruns_only_downstream(project) -> None:
    """A distillation weight of one method re-runs that method's runs and the report only:
    params are granular per stage."""
    root, env = project
    dvc = [sys.executable, "-m", "dvc"]
    _run([*dvc, "repro"], root, env)
    params_path = root / "params.yaml"
    params = yaml.safe_load(params_path.read_text())
    params["distill"]["weights"]["kd"]["kd"] = 0.5
    params_path.write_text(yaml.safe_dump(params, sort_keys=False))
    out = _run([*dvc, "repro"], root, env)
    assert "Running stage 'distill@kd-0'" in out
    assert "Running stage 'report'" in out
    for stage in ("fetch", "fuse", "gaf", "train_teacher@sk-0", "train_student@0",
                  "evaluate@teacher_sk-0", "distill@acs-0", "export"):
        assert f"Running stage '{stage}'" not in out
    # One method's options, likewise: each distill stage tracks only its own method's entry.
    params["distill"]["options"]["kd"]["temperature"] = 2
    params_path.write_text(yaml.safe_dump(params, sort_keys=False))
    status = _run([*dvc, "status"], root, env)
    assert "distill@kd-0:" in status
    assert "distill@acs-0:" not in status and "distill_progressive@acs-0:" not in status


@pytest.mark.parametrize(("dataset", "layout_joints", "progressive", "student", "refit"),
                         [("mmact", 33, "[acs]", "temporal_cnn", True),
                          ("berkeley_mhad", 22, "[]", "gaf_resnet18", False)])
def test_pipeline_with_each_dataset_switched_in(project, dataset: str, layout_joints: int,
                                                progressive: str, student: str, refit: bool,
                                                pose_model: Path) -> None:
    """`dvc exp run -S data.dataset=...` runs every stage on that dataset's synthetic copy
    (small and short here; MMAct's skeletons come from MediaPipe on its videos). Berkeley
    runs with no distillation at all: the report then holds teachers and baseline only.
    MMAct runs the watch-class student, which the export stage makes streamable, refitted on
    the whole training side (no validation split, last epoch kept) through every stage."""
    root, env = project
    dvc = [sys.executable, "-m", "dvc"]
    overrides = [f"data.dataset={dataset}", "data.actions=[1,2,3]", "synthetic.subjects=3",
                 "synthetic.trials=2", "profiles.fast.teacher.epochs=2",
                 "profiles.fast.student.epochs=2", "distill.pretrained=[]",
                 f"distill.progressive={progressive}",
                 f"skeletons.model.path={pose_model}", f"student.model={student}"]
    # Both ways explicitly: `dvc exp run` leaves the workspace's params.yaml as it ran.
    overrides += (["train.validation.fraction=0", "train.validation.select=last"] if refit
                  else ["train.validation.fraction=0.15", "train.validation.select=best"])
    out = _run([*dvc, "exp", "run", *[a for o in overrides for a in ("-S", o)]], root, env)
    stages = ["fetch", "skeletons", "fuse", "gaf", "train_teacher@fu-0", "export", "report"]
    if progressive != "[]":
        stages.append("distill_progressive@acs-0")
    for stage in stages:
        assert f"Running stage '{stage}'" in out
    with h5py.File(root / f"data/fused/{dataset}.h5") as f:
        assert f["skeleton"].shape[3] == layout_joints
        assert set(f["splits"]) == {"cross_subject"}
        n_test = int(f["splits/cross_subject/test"][()].sum())
    assert n_test > 0
    report = json.loads((root / "metrics/ablation.json").read_text())
    assert report["dataset"] == dataset and report["protocol"] == "cross_subject"
    evaluated = json.loads((root / "metrics/eval/student_baseline_s0.json").read_text())
    assert evaluated["test_clips"] == n_test
    trained = json.loads((root / "metrics/train/student_baseline_s0.json").read_text())
    if refit:
        assert (trained["val_clips"], trained["selected_epoch"]) == (0, 2)
        distilled = json.loads((root / "metrics/distill/acs_progressive_s0.json").read_text())
        assert distilled["val_accuracy"] is None and distilled["selected_epoch"] == 2
        # No validation split: every plot still renders (the val_* fields exist, empty).
        plots = json.loads(_run([*dvc, "plots", "show", "--json"], root, env))
        assert "errors" not in plots
        assert all(plots["data"][name] for name in ("training curves (validation accuracy)",
                                                    "training curves (training loss)"))
    else:
        assert trained["val_clips"] > 0
    deploy = json.loads((root / "metrics/deploy.json").read_text())
    assert deploy["architecture"] == student and deploy["dataset"] == dataset
    assert deploy["test_clips"] == n_test
    assert deploy["pytorch_accuracy"] == pytest.approx(evaluated["accuracy"], abs=1e-6)
    if student == "temporal_cnn":
        assert deploy["stream"]["input"] == "raw_window" and deploy["stream"]["rate"] > 0


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_run_outside_git_fails_before_installing(tmp_path: Path) -> None:
    shutil.copy(REPO / "Makefile", tmp_path / "Makefile")
    env = {**os.environ, "GIT_CEILING_DIRECTORIES": str(tmp_path.parent)}
    proc = subprocess.run(["make", "run"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, env=env)
    assert proc.returncode != 0
    assert "make run needs a git checkout" in proc.stdout + proc.stderr
    assert not (tmp_path / ".venv").exists()  # no minutes of installing first
