"""Pick the distilled run with the best mean validation accuracy over seeds.

Reads what ``benchmarks/student_table.py`` writes for one student and protocol, one file per
seed: its ``--out`` JSON, or its log (one JSON row per run; a log is all there is of a run
cut short). Ranks the runs by their selected epoch's validation accuracy, mean over seeds; a
run that lacks one of the seeds (``--seeds``, or every seed any run has) ranks last and is
never picked. Runs tied with the pick are listed: the pick among them is the first in run
order, which says nothing about the methods. It never reads the test figures the files also
hold.

    python benchmarks/seed_select.py cnn-cross_subject-s*.log --seeds 0 1 2 --selected
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from crosskd.report import mean_std

BASELINE = "student_baseline"


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The per-run rows of one student_table ``--out`` file or log."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise SystemExit(f"{path}: cannot read: {exc}") from exc
    try:
        return json.loads(text)["runs"]
    except (json.JSONDecodeError, KeyError, TypeError):
        pass
    rows = []
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # log lines, tracebacks
        if isinstance(row, dict) and {"run", "seed", "val_accuracy"} <= row.keys():
            rows.append(row)
    return rows


def rank(rows: list[dict[str, Any]], seeds: list[int] | None = None) -> list[dict[str, Any]]:
    """(run, seeds, n, val mean/std, complete), best first; complete = every seed of
    ``seeds`` (default: every seed some run has)."""
    per_run: dict[str, dict[int, float]] = {}
    for row in rows:
        if row["val_accuracy"] is None:
            raise SystemExit(f"{row['run']} seed {row['seed']}: no validation accuracy (a "
                             "refit on the whole training side): nothing to select on")
        per_run.setdefault(row["run"], {})[row["seed"]] = 100 * row["val_accuracy"]
    if seeds is None:
        seeds = sorted({s for by_seed in per_run.values() for s in by_seed})
    ranked, means = [], {}
    for run, by_seed in per_run.items():
        means[run], std = mean_std(list(by_seed.values()))
        ranked.append({"run": run, "seeds": sorted(by_seed), "n": len(by_seed),
                       "val_mean": round(means[run], 3), "val_std": round(std, 3),
                       "complete": set(seeds) <= set(by_seed)})
    # sorted() is stable: equal means keep run order (the order of the first file's rows)
    return sorted(ranked, key=lambda r: (not r["complete"], -means[r["run"]]))


def candidates(ranked: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Complete distilled runs, best first (the baseline is the reference, not a candidate)."""
    return [row for row in ranked if row["complete"] and row["run"] != BASELINE]


def selected(ranked: list[dict[str, Any]]) -> str:
    """The best complete distilled run."""
    rows = candidates(ranked)
    if not rows:
        raise SystemExit("no distilled run has every seed: nothing to select")
    return rows[0]["run"]


def tied(ranked: list[dict[str, Any]]) -> list[str]:
    """The candidates whose mean validation equals the pick's (the pick included)."""
    rows = candidates(ranked)
    return [row["run"] for row in rows if row["val_mean"] == rows[0]["val_mean"]]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("files", nargs="+", type=Path, help="student_table.py --out files or logs")
    p.add_argument("--seeds", type=int, nargs="+",
                   help="the seeds every candidate must have (default: every seed seen)")
    p.add_argument("--selected", action="store_true",
                   help="print only the selected run's name (for scripts)")
    args = p.parse_args(argv)
    ranked = rank([row for path in args.files for row in read_rows(path)], args.seeds)
    if not ranked:
        raise SystemExit("no runs in " + ", ".join(map(str, args.files)))
    if args.selected:
        print(selected(ranked))
        return 0
    for row in ranked:
        print(json.dumps(row))
    print(json.dumps({"selected": selected(ranked), "tied": tied(ranked)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
