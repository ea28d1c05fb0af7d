"""Rank student settings and distillation methods by validation accuracy over subject folds.

Nested, test-free selection (BENCHMARKS.md): ``benchmarks/student_table.py`` is run once
per fold with ``-S train.validation.group=subject -S train.validation.fold=I`` (each fold
holds out other training subjects as validation), for every candidate setting; this script
reads those ``--out`` files and ranks (setting, run) pairs by their mean validation accuracy
over all folds and seeds. It never reads the test figures that the files also hold.

    python benchmarks/fold_select.py A-cross_subject-*.json --markdown ranking.md
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from crosskd.report import mean_std

FOLD_KEY = "train.validation.fold="


def setting_of(overrides: list[str]) -> tuple[str, ...]:
    """The candidate setting: the run's overrides less the fold (and thread count)."""
    return tuple(o for o in overrides if not o.startswith((FOLD_KEY, "train.threads=")))


def fold_of(overrides: list[str], path: str) -> int:
    folds = [int(o[len(FOLD_KEY):]) for o in overrides if o.startswith(FOLD_KEY)]
    if len(folds) != 1:
        raise SystemExit(f"{path}: not a fold run (no -S {FOLD_KEY}I among its overrides)")
    return folds[0]


def rank(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows (setting, run, folds, n, val mean/std, per-fold means), best first.

    ``results`` maps a file name to a student_table ``--out`` document.
    """
    protocols = {doc["summary"]["protocol"] for doc in results.values()}
    if len(protocols) != 1:
        raise SystemExit(f"files from several protocols {sorted(protocols)}: rank one at a time")
    cells: dict[tuple[tuple[str, ...], str], dict[int, list[float]]] = {}
    for path, doc in results.items():
        overrides = doc["summary"]["overrides"]
        fold = fold_of(overrides, path)
        for run in doc["runs"]:
            per_fold = cells.setdefault((setting_of(overrides), run["run"]), {})
            per_fold.setdefault(fold, []).append(100 * run["val_accuracy"])
    counts = {doc["summary"].get("folds") for doc in results.values()} - {None}
    if len(counts) > 1:
        raise SystemExit(f"files with different fold counts {sorted(counts)}: rank one "
                         "validation layout at a time")
    # Complete = every fold the layout has (as student_table recorded it), else every fold
    # that any file covers.
    all_folds = (list(range(counts.pop())) if counts
                 else sorted({f for per_fold in cells.values() for f in per_fold}))
    rows = []
    for (setting, run), per_fold in cells.items():
        values = [v for f in sorted(per_fold) for v in per_fold[f]]
        mean, std = mean_std(values)
        rows.append({
            "setting": list(setting), "run": run, "folds": sorted(per_fold), "n": len(values),
            "complete": sorted(per_fold) == all_folds,
            "val_mean": round(mean, 3), "val_std": round(std, 3),
            "fold_means": {f: round(statistics.fmean(per_fold[f]), 2) for f in sorted(per_fold)},
        })
    # Incomplete rows (a fold missing) rank last: their mean is over easier or harder folds.
    return sorted(rows, key=lambda r: (not r["complete"], -r["val_mean"]))


def markdown(rows: list[dict[str, Any]]) -> str:
    """The ranking; the setting column shows only what differs between settings."""
    folds = sorted({f for r in rows for f in r["fold_means"]})
    common = set.intersection(*(set(r["setting"]) for r in rows))
    head = ["setting", "run", "validation % (mean +- std)", "n",
            *(f"fold {f}" for f in folds)]
    lines = [f"All runs: {' '.join(sorted(common)) or '(defaults)'}", "",
             "| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for r in rows:
        own = " ".join(o for o in r["setting"] if o not in common)
        cells = [own or "(common only)", r["run"], f"{r['val_mean']:.2f} +- "
                 f"{r['val_std']:.2f}", str(r["n"]),
                 *(f"{r['fold_means'][f]:.2f}" if f in r["fold_means"] else "-" for f in folds)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("files", nargs="+", type=Path, help="student_table.py --out files")
    p.add_argument("--markdown", type=Path, help="also write the ranking as a Markdown table")
    p.add_argument("--json", type=Path, help="also write the ranking as JSON")
    args = p.parse_args(argv)
    results = {}
    for path in args.files:
        try:
            results[str(path)] = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise SystemExit(f"{path}: cannot read a student_table result: {exc}") from exc
    rows = rank(results)
    text = markdown(rows)
    print(text, end="")
    if args.markdown:
        args.markdown.write_text(text)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
