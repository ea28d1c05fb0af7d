"""Compare runs in the MLflow store: one table of key metrics across pipeline runs.

    python -m crosskd.compare                      # test metrics of every evaluated run
    python -m crosskd.compare --stage distill --format csv > runs.csv

Each row is a stage run (e.g. ``distill@acs-0``) with the pipeline run it belongs to (its
DVC experiment name and git commit), so the same stage can be compared across experiments.
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from crosskd.config import load_params
from crosskd.tracking import resolve_uri

KEY_METRICS = ("test_accuracy", "test_macro_f1", "test_clips", "selected_val_accuracy",
               # the export stage's (a table has only the columns its rows have)
               "deploy_int8_accuracy", "deploy_int8_latency_ms_median", "deploy_int8_bytes")


def runs_table(tracking_uri: str, experiment: str, stage_filter: str = "") -> pd.DataFrame:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return pd.DataFrame()
    rows = []
    for run in client.search_runs([exp.experiment_id], "tags.stage != ''",
                                  order_by=["attributes.start_time DESC"], max_results=5000):
        tags, metrics = run.data.tags, run.data.metrics
        stage = tags.get("stage", "")
        if stage_filter not in stage:
            continue
        row = {"stage": stage, "experiment": tags.get("dvc_exp_name", ""),
               "commit": tags.get("git_commit", "")[:8], "status": run.info.status,
               "started": pd.Timestamp(run.info.start_time, unit="ms").strftime("%Y-%m-%d %H:%M")}
        row.update({k: round(metrics[k], 4) for k in KEY_METRICS if k in metrics})
        rows.append(row)
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--params", default="params.yaml", help="reads mlflow.* from here")
    p.add_argument("--stage", default="", help="only stages whose name contains this")
    p.add_argument("--format", choices=("table", "csv", "markdown"), default="table")
    args = p.parse_args(argv)
    params = load_params(args.params)
    mlflow_params = params.get("mlflow", {})
    uri = resolve_uri(mlflow_params.get("tracking_uri", "sqlite:///mlflow.db"))
    table = runs_table(uri, mlflow_params.get("experiment", "crosskd"), args.stage)
    if table.empty:
        print(f"no runs in {uri}", file=sys.stderr)
        return 1
    if args.format == "csv":
        print(table.to_csv(index=False), end="")
    elif args.format == "markdown":
        print(table.astype(object).fillna("").to_markdown(index=False))
    else:
        print(table.astype(object).fillna("").to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
