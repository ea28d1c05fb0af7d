"""Student baseline + distillation table outside DVC, for tuning sweeps (BENCHMARKS.md).

The pipeline's own functions (``train_supervised``, ``distill_run``, ``test_predictions``)
run in a scratch folder with ``params.yaml`` plus ``-S key=value`` overrides, on an existing
fused HDF5. Frozen teachers are reused from ``--teachers`` (a ``models/`` folder of an
earlier ``dvc repro`` of the same protocol and seeds; their records are checked by
``distill_run``), so a student-side change costs minutes instead of retraining the AGCNs,
which DVC would do because the teacher stage depends on ``src/crosskd/training``;
``--train-teachers`` trains them in the scratch folder instead, on the run's own split.

    python benchmarks/student_table.py --fused data/fused/utd_mhad.h5 \\
        --teachers models --protocol trial_split --seeds 0 1 2 \\
        --methods kd dask acs -S student.model=temporal_cnn -S student.label_smoothing=0.1

Prints one JSON line per run (with the selected epoch's validation accuracy, for choosing
settings without the test split: ``benchmarks/fold_select.py`` ranks runs made with
``-S train.validation.group=subject -S train.validation.fold=I``) and a summary whose rows
are the report stage's (``crosskd.report.table_row``: mean +- std over seeds, gain over the
same-seed baseline, plus the validation mean +- std) and, with ``--out``, writes them as
JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from crosskd.config import parse_yaml

ROOT = Path(__file__).resolve().parents[1]


def set_dotted(params: dict[str, Any], key: str, value: Any) -> None:
    node = params
    *parents, last = key.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--fused", required=True, type=Path, help="fused HDF5 (the fuse stage's)")
    p.add_argument("--gaf", type=Path,
                   help="GAF HDF5 of that fused file (the gaf stage's), for gaf_resnet18")
    p.add_argument("--teachers", type=Path, help="models/ folder holding teacher_sk, teacher_fu")
    p.add_argument("--train-teachers", action="store_true",
                   help="train the teachers here, per seed, on this run's own split (for "
                        "fold runs: teachers that never saw the held-out subjects)")
    p.add_argument("--protocol", required=True)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--methods", nargs="*", default=[],
                   help="pretrained methods; NAME:progressive for the progressive schedule")
    p.add_argument("-S", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="params.yaml override (YAML value), as dvc exp run -S")
    p.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    p.add_argument("--out", type=Path, help="write every run and the summary as JSON")
    p.add_argument("--workdir", type=Path, help="scratch folder (new, empty); default: a temp dir")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raw = parse_yaml(args.params.read_text())
    for item in args.overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"-S {item!r}: expected KEY=VALUE")
        set_dotted(raw, key, parse_yaml(value))
    set_dotted(raw, "train.protocol", args.protocol)
    set_dotted(raw, "mlflow.enabled", False)
    fused = args.fused.resolve()
    gaf = args.gaf.resolve() if args.gaf else None
    out = args.out.resolve() if args.out else None
    teachers = args.teachers.resolve() if args.teachers else None
    if args.workdir is None:
        scratch = Path(tempfile.mkdtemp(prefix="student_table_"))
    else:
        scratch = args.workdir.resolve()
        scratch.mkdir(parents=True)  # never mixes runs into an existing folder
    (scratch / "data" / "fused").mkdir(parents=True)
    (scratch / "models").mkdir()
    (scratch / "data" / "fused" / f"{raw['data']['dataset']}.h5").symlink_to(fused)
    if gaf is not None:
        (scratch / "data" / "gaf").mkdir()
        (scratch / "data" / "gaf" / f"{raw['data']['dataset']}.h5").symlink_to(gaf)
    if teachers is not None and args.train_teachers:
        raise SystemExit("--teachers and --train-teachers exclude each other")
    if teachers is not None:
        for kind in raw["distill"]["teachers"]:
            (scratch / "models" / f"teacher_{kind}").symlink_to(teachers / f"teacher_{kind}")
    (scratch / "params.yaml").write_text(yaml.safe_dump(raw))
    os.chdir(scratch)
    logging.basicConfig(level=logging.WARNING)

    from crosskd.config import load_params
    from crosskd.evaluation import test_predictions
    from crosskd.report import mean_std, table_row
    from crosskd.training import paths
    from crosskd.training.builders import (
        load_fused_for,
        load_model,
        student_spec,
        teacher_spec,
        training_device,
    )
    from crosskd.training.distill_run import distill_run
    from crosskd.training.metrics import summary as test_summary
    from crosskd.training.splits import subject_folds
    from crosskd.training.supervised import train_supervised

    params = load_params("params.yaml")
    data = load_fused_for(params)
    rows: list[dict[str, Any]] = []
    for seed in args.seeds:
        if args.train_teachers:
            for kind in params["distill"]["teachers"]:
                train_supervised(params, data, teacher_spec(kind, params, data), "teacher", seed,
                                 "table")
        result = train_supervised(params, data, student_spec(params, data), "student", seed,
                                  "table")
        spec, model, _ = load_model(paths.model_file("student_baseline", seed))
        y, pred = test_predictions(model, spec.modality, data, params, args.protocol, seed)
        test = test_summary(y, pred, data.num_classes)
        rows.append({"run": "student_baseline", "seed": seed,
                     "accuracy": round(test["accuracy"], 6),
                     "macro_f1": round(test["macro_f1"], 6),
                     "val_accuracy": result.val_accuracy,
                     "seconds_per_epoch": round(result.seconds_per_epoch, 3)})
        print(json.dumps(rows[-1]), flush=True)
        for item in args.methods:
            method, _, schedule = item.partition(":")
            m = distill_run(params, method, schedule or "pretrained", seed, "table")
            rows.append({"run": m["variant"], "seed": seed, "accuracy": m["accuracy"],
                         "macro_f1": m["macro_f1"], "val_accuracy": m["val_accuracy"],
                         "wall_seconds": m["wall_seconds"]})
            print(json.dumps(rows[-1]), flush=True)
    base = {r["seed"]: r for r in rows if r["run"] == "student_baseline"}
    table = {run: table_row(run, "student" if run == "student_baseline" else "distill",
                            [r for r in rows if r["run"] == run], base, {})
             for run in dict.fromkeys(r["run"] for r in rows)}
    for run, row in table.items():  # the selection figure: validation, never test
        vals = [100 * r["val_accuracy"] for r in rows
                if r["run"] == run and r["val_accuracy"] is not None]
        if vals:  # none when the run refits on the whole training side (fraction 0)
            val = mean_std(vals)
            row["val_accuracy_mean"], row["val_accuracy_std"] = (round(v, 3) for v in val)
    summary = {"protocol": args.protocol, "seeds": args.seeds, "overrides": args.overrides,
               "device": str(training_device(params)),
               "parameters": sum(p.numel() for p in model.parameters()), "table": table}
    validation = params["train"]["validation"]
    if validation["group"] == "subject" and validation.get("fold") is not None:
        # how many folds make the set complete, for benchmarks/fold_select.py
        summary["folds"] = subject_folds(data, args.protocol, float(validation["fraction"]))
    print(json.dumps(summary), flush=True)
    if out is not None:
        out.write_text(json.dumps({"runs": rows, "summary": summary}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
