"""The report step: every run's test metrics -> the ablation table (mean +- std over seeds).

Rows: the two teachers, the student baseline (cross-entropy only), and every distillation
variant; each with accuracy and macro F1 as mean +- std over the seeds, and the gain in
accuracy points over the student baseline of the *same seed* (mean +- std of the paired
differences). All rows must come from one protocol.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from crosskd.atomic import write_text_atomic
from crosskd.config import get, is_number
from crosskd.data.fused_h5 import read_protocol
from crosskd.errors import DataError
from crosskd.training import paths
from crosskd.training.outputs import write_json

# UTD-MHAD accuracy %, for comparison: PSKD Table 4 (the distillation rows) and VSKD's
# GAF ResNet18 student without distillation (student_baseline). Shown for utd_mhad only.
PAPER_UTD = {"acs_progressive": 95.19, "rkd": 95.03, "kd": 94.34, "at": 94.27, "cc": 94.12,
             "sp": 94.06, "fitnet": 94.03, "logits": 93.87, "student_baseline": 94.87}


def _read(path: Path, protocol: str) -> dict[str, Any]:
    if not path.is_file():
        raise DataError(path, "metrics file is missing (did its stage run?)")
    try:
        run = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(path, f"not valid JSON ({exc}): re-run its stage") from None
    if not isinstance(run, dict):
        raise DataError(path, f"expected a JSON object, got {type(run).__name__}")
    for key in ("accuracy", "macro_f1"):
        value = run.get(key)
        if not is_number(value):
            raise DataError(path, f"{key} must be a finite number, got {value!r}")
    if run.get("protocol") != protocol:
        raise DataError(path, f"protocol {run.get('protocol')!r} differs from train.protocol "
                        f"{protocol!r}: re-run the pipeline")
    return run


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def table_row(name: str, kind: str, runs: list[dict[str, Any]],
              baseline: dict[int, dict[str, Any]] | None, paper: dict[str, float]
              ) -> dict[str, Any]:
    """One table row from per-seed runs (``seed``, ``accuracy``, ``macro_f1``, optionally
    ``wall_seconds``): mean +- std in %, and the paired gain over ``baseline[seed]``."""
    acc = [100 * r["accuracy"] for r in runs]
    f1 = [100 * r["macro_f1"] for r in runs]
    row = {"name": name, "kind": kind, "seeds": len(runs)}
    row["accuracy_mean"], row["accuracy_std"] = mean_std(acc)
    row["macro_f1_mean"], row["macro_f1_std"] = mean_std(f1)
    if baseline is not None:
        gains = [100 * (r["accuracy"] - baseline[r["seed"]]["accuracy"]) for r in runs]
        row["gain_mean"], row["gain_std"] = mean_std(gains)
    walls = [r["wall_seconds"] for r in runs if "wall_seconds" in r]
    if walls:
        row["wall_seconds_mean"] = statistics.fmean(walls)
    if name in paper:
        row["paper_accuracy"] = paper[name]
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}


def build_report(params: dict[str, Any]) -> dict[str, Any]:
    seeds = [int(s) for s in get(params, "train.seeds")]
    dataset = get(params, "data.dataset")
    protocol = read_protocol(paths.fused_file(dataset), get(params, "train.protocol"))

    def load_eval(model: str) -> list[dict[str, Any]]:
        return [{**_read(paths.eval_metrics(model, s), protocol), "seed": s} for s in seeds]

    paper = PAPER_UTD if dataset == "utd_mhad" else {}
    baseline_runs = load_eval("student_baseline")
    baseline = {r["seed"]: r for r in baseline_runs}
    rows = [table_row(t, "teacher", load_eval(t), None, paper)
            for t in ("teacher_sk", "teacher_fu")]
    rows.append(table_row("student_baseline", "student", baseline_runs, baseline, paper))
    for schedule, key in (("pretrained", "distill.pretrained"),
                          ("progressive", "distill.progressive")):
        for method in get(params, key) or []:
            variant = paths.variant_name(method, schedule)
            runs = [_read(paths.distill_metrics(variant, s), protocol) for s in seeds]
            rows.append(table_row(variant, f"distill ({schedule})", runs, baseline, paper))
    return {"dataset": dataset, "protocol": protocol, "seeds": seeds,
            "student": get(params, "student.model"), "rows": {r["name"]: r for r in rows}}


def to_markdown(report: dict[str, Any]) -> str:
    pm = "\u00b1"
    lines = [f"Ablation on {report['dataset']} ({report['protocol']}), student "
             f"{report.get('student', '?')}, seeds {report['seeds']}; accuracy and macro F1 in "
             "%, gain = accuracy minus the same-seed student baseline (points). The papers' "
             "figures are for their GAF ResNet18 student.", "",
             "| run | kind | accuracy | macro F1 | gain | paper (PSKD T.4 / VSKD) | wall s/run |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in report["rows"].values():
        gain = f"{r['gain_mean']:+.2f} {pm} {r['gain_std']:.2f}" if "gain_mean" in r else ""
        paper = f"{r['paper_accuracy']:.2f}" if "paper_accuracy" in r else ""
        wall = f"{r['wall_seconds_mean']:.0f}" if "wall_seconds_mean" in r else ""
        lines.append(f"| {r['name']} | {r['kind']} | {r['accuracy_mean']:.2f} {pm} "
                     f"{r['accuracy_std']:.2f} | {r['macro_f1_mean']:.2f} {pm} "
                     f"{r['macro_f1_std']:.2f} | {gain} | {paper} | {wall} |")
    return "\n".join(lines) + "\n"


def write_report(params: dict[str, Any], json_path: str | Path = "metrics/ablation.json",
                 md_path: str | Path = "reports/ablation.md") -> dict[str, Any]:
    report = build_report(params)
    write_json(json_path, report)
    write_text_atomic(md_path, to_markdown(report))
    return report
