"""MLflow tracking against a real temporary sqlite store."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from crosskd.errors import ConfigError
from crosskd.tracking import PARENT_KEY_TAG, project_root, resolve_uri, stage_run


@pytest.fixture
def store(tmp_path: Path, monkeypatch) -> tuple[dict, str]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    (tmp_path / "params.yaml").write_text("a: 1\n")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    return {"mlflow": {"enabled": True, "tracking_uri": uri, "experiment": "t"}}, uri


def test_parent_and_child_runs_written_and_read_back(store, tmp_path: Path) -> None:
    params, uri = store
    (tmp_path / "curve.csv").write_text("epoch,loss\n1,0.5\n")
    with stage_run(params, "train_teacher@sk-0", log_params={"teacher": {"lr": 0.1}}) as run:
        for epoch in (1, 2, 3):
            run.log_metrics({"val_accuracy": 0.2 * epoch, "loss": 1.0 / epoch}, step=epoch)
        run.log_artifact(tmp_path / "curve.csv", "curves")
    with stage_run(params, "evaluate@teacher_sk-0") as run2:
        run2.log_metrics({"test_accuracy": 0.9})

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("t")
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if PARENT_KEY_TAG in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and len(children) == 2
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parents[0].info.run_id}
    train = next(r for r in children if r.info.run_name == "train_teacher@sk-0")
    assert train.info.status == "FINISHED"
    assert train.data.params["teacher.lr"] == "0.1"
    assert train.data.tags["dvc_exp_name"] == "workspace" and "git_commit" in train.data.tags
    history = client.get_metric_history(train.info.run_id, "val_accuracy")
    assert [(m.step, round(m.value, 3)) for m in history] == [(1, 0.2), (2, 0.4), (3, 0.6)]
    arts = [a.path for a in client.list_artifacts(train.info.run_id, "curves")]
    assert arts == ["curves/curve.csv"]


def test_model_files_logged_unless_log_models_is_off(store, tmp_path: Path) -> None:
    params, uri = store
    (tmp_path / "model.pt").write_bytes(b"weights")
    with stage_run(params, "train_student@0") as on:
        on.log_model_file(tmp_path / "model.pt")
    params["mlflow"]["log_models"] = False
    with stage_run(params, "train_student@1") as off:
        off.log_model_file(tmp_path / "model.pt")
    client = MlflowClient(tracking_uri=uri)
    assert [a.path for a in client.list_artifacts(on.run_id, "model")] == ["model/model.pt"]
    assert client.list_artifacts(off.run_id) == []
    params["mlflow"]["log_models"] = "no"
    with pytest.raises(ConfigError, match="mlflow.log_models must be true or false, got 'no'"):
        with stage_run(params, "train_student@2"):
            pass
    params["mlflow"]["enabled"] = "no"  # not silently on (a non-empty string is truthy)
    with pytest.raises(ConfigError, match="mlflow.enabled must be true or false, got 'no'"):
        with stage_run(params, "train_student@3"):
            pass


def test_failed_stage_marks_run_failed_and_exp_name_tags(store, monkeypatch) -> None:
    params, uri = store
    monkeypatch.setenv("DVC_EXP_NAME", "brisk-lamb")
    with pytest.raises(RuntimeError), stage_run(params, "train_student@0"):
        raise RuntimeError("boom")
    client = MlflowClient(tracking_uri=uri)
    run = client.search_runs([client.get_experiment_by_name("t").experiment_id],
                             "tags.stage = 'train_student@0'")[0]
    assert run.info.status == "FAILED" and run.data.tags["dvc_exp_name"] == "brisk-lamb"


def test_each_pipeline_run_gets_its_own_parent(store, tmp_path: Path, monkeypatch) -> None:
    # A pipeline run is (git commit, DVC experiment, params.yaml's content): stages of one run
    # share a parent; `dvc exp run -S ...` (new params, experiment name) gets a new one.
    params, uri = store

    def parent_of(stage: str) -> str:
        with stage_run(params, stage) as run:
            pass
        return MlflowClient(tracking_uri=uri).get_run(run.run_id).data.tags["mlflow.parentRunId"]

    first = parent_of("fetch")
    assert parent_of("fuse") == first
    (tmp_path / "params.yaml").write_text("a: 2\n")
    second = parent_of("fetch")
    monkeypatch.setenv("DVC_EXP_NAME", "brisk-lamb")
    third = parent_of("fetch")
    assert len({first, second, third}) == 3
    (tmp_path / "params.yaml").write_text("a: 1\n")
    monkeypatch.delenv("DVC_EXP_NAME")
    assert parent_of("gaf") == first  # the first run's parent again, not a fourth


def test_tracking_off_is_a_no_op(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with stage_run({"mlflow": {"enabled": False}}, "x") as run:
        run.log_metrics({"a": 1.0})
    assert not run.enabled and not (tmp_path / "mlflow.db").exists()


def test_relative_sqlite_uri_resolves_to_project_root(tmp_path: Path) -> None:
    exp_dir = tmp_path / "repo" / ".dvc" / "tmp" / "exps" / "run1"
    exp_dir.mkdir(parents=True)
    assert project_root(exp_dir) == tmp_path / "repo"
    assert resolve_uri("sqlite:///mlflow.db", exp_dir) == f"sqlite:///{tmp_path}/repo/mlflow.db"
    assert resolve_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5000"


def test_dvc_root_names_the_project_for_experiment_runs(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DVC_ROOT", str(tmp_path / "parent"))
    monkeypatch.chdir(tmp_path)
    assert project_root() == tmp_path / "parent"
    assert resolve_uri("sqlite:///mlflow.db") == f"sqlite:///{tmp_path}/parent/mlflow.db"


def test_two_processes_logging_at_once_lose_nothing(store, tmp_path: Path) -> None:
    params, uri = store
    script = textwrap.dedent(f"""
        import sys
        from crosskd.tracking import stage_run
        params = {params!r}
        with stage_run(params, sys.argv[1]) as run:
            for step in range(1, 41):
                run.log_metrics({{"m": float(step)}}, step=step)
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, f"stage{i}"], cwd=tmp_path,
                              stderr=subprocess.PIPE, text=True) for i in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    client = MlflowClient(tracking_uri=uri)
    exp_id = client.get_experiment_by_name("t").experiment_id
    runs = client.search_runs([exp_id])
    assert sum(PARENT_KEY_TAG in r.data.tags for r in runs) == 1
    children = [r for r in runs if "stage" in r.data.tags]
    assert sorted(r.data.tags["stage"] for r in children) == ["stage0", "stage1"]
    for r in children:
        assert r.info.status == "FINISHED"
        assert len(client.get_metric_history(r.info.run_id, "m")) == 40


def test_compare_table_across_runs(store, tmp_path: Path, capsys) -> None:
    import yaml

    from crosskd.compare import main, runs_table

    params, uri = store
    for acc in (0.8, 0.9):
        with stage_run(params, "evaluate@student_baseline-0") as run:
            run.log_metrics({"test_accuracy": acc, "test_macro_f1": acc - 0.05})
    table = runs_table(uri, "t", "evaluate")
    assert sorted(table["test_accuracy"]) == [0.8, 0.9]
    assert set(table["stage"]) == {"evaluate@student_baseline-0"}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    assert main(["--params", str(tmp_path / "params.yaml"), "--format", "csv"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("stage,experiment,commit,status,started,test_accuracy")
    assert len(out) == 3
    with stage_run(params, "export") as run:  # its own key figures, not blank test_* cells
        run.log_metrics({"deploy_int8_accuracy": 0.9, "deploy_int8_latency_ms_median": 0.04,
                         "deploy_int8_bytes": 1e6, "deploy_fp32_bytes": 4e6})
    export = runs_table(uri, "t", "export")
    assert list(export.columns[5:]) == ["deploy_int8_accuracy", "deploy_int8_latency_ms_median",
                                        "deploy_int8_bytes"]
