"""MLflow tracking: one parent run per pipeline run, one child run per stage.

Each DVC stage is its own process, so the parent is found (or made) by a key: the git
commit, the DVC experiment name (``DVC_EXP_NAME``, set by ``dvc exp run``) and the hash of
params.yaml. Creating it happens under a file lock, and every write is retried while SQLite
reports the database locked, so stages or experiments logging at once lose nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from crosskd.config import boolean, get

log = logging.getLogger(__name__)
T = TypeVar("T")

PARENT_KEY_TAG = "crosskd.pipeline_key"


def project_root(start: Path | None = None) -> Path:
    """The repository root; for ``dvc exp run`` (also --temp/--queue copies) the original one.

    DVC exports ``DVC_ROOT`` (the parent repo) to experiment runs; otherwise a path inside
    ``.dvc/tmp/exps/`` is traced back to its repo, and anything else is the cwd.
    """
    if start is None and os.environ.get("DVC_ROOT"):
        return Path(os.environ["DVC_ROOT"])
    cwd = (start or Path.cwd()).resolve()
    parts = cwd.parts
    if ".dvc" in parts and "exps" in parts:  # .../repo/.dvc/tmp/exps/<run>/...
        return Path(*parts[: parts.index(".dvc")])
    return cwd


def resolve_uri(uri: str, root: Path | None = None) -> str:
    """Make a relative ``sqlite:///file.db`` absolute against the project root."""
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri[len(prefix):].startswith("/"):
        return prefix + str(project_root(root) / uri[len(prefix):])
    return uri


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _retry(fn: Callable[[], T], attempts: int = 20) -> T:
    for i in range(attempts):
        try:
            return fn()
        except Exception as exc:  # sqlite3/SQLAlchemy errors arrive wrapped in MlflowException
            if "locked" not in str(exc).lower() or i == attempts - 1:
                raise
            time.sleep(0.1 * (i + 1))
    raise AssertionError("unreachable")


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = str(v)[:500]
    return out


class StageRun:
    """A child run for one stage; methods are no-ops when tracking is off."""

    def __init__(self, client: Any | None, run_id: str | None, log_models: bool = True) -> None:
        self.client, self.run_id, self.log_models = client, run_id, log_models

    @property
    def enabled(self) -> bool:
        return self.client is not None

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        if not self.enabled:
            return
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, step or 0) for k, v in metrics.items()
                 if isinstance(v, int | float)]
        _retry(lambda: self.client.log_batch(self.run_id, metrics=batch))

    def log_params(self, params: dict[str, Any]) -> None:
        if not self.enabled:
            return
        from mlflow.entities import Param

        items = [Param(k, v) for k, v in flatten(params).items()]
        for i in range(0, len(items), 100):
            _retry(lambda chunk=items[i : i + 100]: self.client.log_batch(self.run_id,
                                                                          params=chunk))

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        if self.enabled:
            _retry(lambda: self.client.log_artifact(self.run_id, str(path), artifact_path))

    def log_model_file(self, path: str | Path) -> None:
        """A trained model's file under ``model/``, unless ``mlflow.log_models`` is off (DVC
        caches every model anyway; MLflow's copy is for fetching one from the UI)."""
        if self.log_models:
            self.log_artifact(path, "model")


def _parent_key(params_file: Path) -> tuple[str, dict[str, str]]:
    commit = _git("rev-parse", "HEAD") or "no-git"
    exp = os.environ.get("DVC_EXP_NAME", "")
    params_hash = ""
    if params_file.is_file():
        params_hash = hashlib.sha256(params_file.read_bytes()).hexdigest()[:12]
    key = f"{commit}:{exp}:{params_hash}"
    tags = {"git_commit": commit, "dvc_exp_name": exp or "workspace", "params_hash": params_hash}
    return key, tags


@contextlib.contextmanager
def stage_run(params: dict[str, Any], stage: str, *, params_file: str | Path = "params.yaml",
              log_params: dict[str, Any] | None = None) -> Iterator[StageRun]:
    """Open a child run named ``stage`` under this pipeline run's parent."""
    if not boolean(params, "mlflow.enabled", True):
        yield StageRun(None, None)
        return
    log_models = boolean(params, "mlflow.log_models", True)
    from filelock import FileLock
    from mlflow.tracking import MlflowClient

    uri = resolve_uri(str(get(params, "mlflow.tracking_uri", "sqlite:///mlflow.db")))
    root = project_root()
    lock = FileLock(str(root / ".mlflow.lock"), timeout=300)
    key, tags = _parent_key(Path(params_file))
    with lock:  # schema creation and get-or-create of experiment and parent are serialised
        client = MlflowClient(tracking_uri=uri)
        exp_name = str(get(params, "mlflow.experiment", "crosskd"))
        exp = client.get_experiment_by_name(exp_name)
        exp_id = exp.experiment_id if exp else client.create_experiment(
            exp_name, artifact_location=(root / "mlartifacts").as_uri())
        found = client.search_runs([exp_id], f"tags.`{PARENT_KEY_TAG}` = '{key}'", max_results=1)
        if found:
            parent_id = found[0].info.run_id
        else:
            run_name = f"pipeline {tags['dvc_exp_name']} {tags['git_commit'][:8]}"
            parent_id = client.create_run(exp_id, run_name=run_name,
                                          tags={PARENT_KEY_TAG: key, **tags}).info.run_id
    child = _retry(lambda: client.create_run(exp_id, run_name=stage, tags={
        "mlflow.parentRunId": parent_id, "stage": stage, **tags}))
    run = StageRun(client, child.info.run_id, log_models)
    if log_params:
        run.log_params(log_params)
    status = "FAILED"
    try:
        yield run
        status = "FINISHED"
    finally:
        try:
            _retry(lambda: client.set_terminated(run.run_id, status))
            # The parent reflects the latest stage: FAILED shows a pipeline run that broke.
            _retry(lambda: client.set_terminated(parent_id, status))
        except Exception:  # never hide the stage's own error behind a tracking failure
            log.exception("MLflow: could not mark run %s %s", run.run_id, status)
        log.info("MLflow run %s (%s) %s", run.run_id, stage, status.lower())
