"""Seed ensembles of runs made by ``benchmarks/student_table.py`` (BENCHMARKS.md).

A group is one or more student_table scratch folders (``--workdir``) of the same settings
and split that together hold seeds of the same runs; the ensemble of a run is
:class:`crosskd.deploy.ensemble.SeedEnsemble` over every seed found (what the export stage
deploys with ``deploy.seeds``). For each run and group it scores the ensemble and the mean
single member on ``--split val`` (fold runs: the figure a choice may use) or ``--split
test``, and prints a markdown table: one column per group, then mean +- std over groups.

    python benchmarks/ensemble_table.py --split val --runs student_baseline distill_sp \\
        --group f0-s0,f0-s12 --group f1-s0,f1-s12 --group f2-s0,f2-s12 --group f3-s0,f3-s12
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--group", action="append", required=True,
                   help="comma-separated student_table workdirs holding one setting's seeds")
    p.add_argument("--runs", nargs="+", required=True,
                   help="run names under models/: student_baseline, distill_<method>, ...")
    p.add_argument("--split", choices=("val", "test"), default="val")
    p.add_argument("--out", type=Path, help="write the figures as JSON")
    return p.parse_args(argv)


def _setting(params: dict[str, Any]) -> dict[str, Any]:
    """What must match across a group's folders: every param but ``train.seeds``."""
    return {**params, "train": {k: v for k, v in params["train"].items() if k != "seeds"}}


def score_group(dirs: list[Path], runs: list[str], split_name: str) -> dict[str, Any]:
    """Ensemble and per-member accuracy of each run over every seed the folders hold."""
    from crosskd.config import load_params
    from crosskd.deploy.ensemble import SeedEnsemble
    from crosskd.training.batches import PairedArrays
    from crosskd.training.builders import load_fused_for, load_modality, load_model
    from crosskd.training.loop import predict_logits
    from crosskd.training.supervised import split_for

    setting = [_setting(load_params(d / "params.yaml")) for d in dirs]
    for d, other in zip(dirs[1:], setting[1:], strict=True):
        if other != setting[0]:  # else one folder's split would score another's models
            raise SystemExit(f"{d}: other params than {dirs[0]} (train.seeds aside); a group "
                             "holds seeds of one setting and split")
    cwd = Path.cwd()
    os.chdir(dirs[0])  # data/fused and params.yaml of the group (checked equal above)
    try:
        params = load_params("params.yaml")
        data = load_fused_for(params)
        out: dict[str, Any] = {}
        for run in runs:
            found = sorted((int(p.parent.name[1:]), p) for d in dirs
                           for p in (d / "models" / run).glob("s*/model.pt")
                           if re.fullmatch(r"s\d+", p.parent.name))
            if len({s for s, _ in found}) != len(found):
                raise SystemExit(f"{run}: a seed appears in more than one folder of {dirs}")
            if not found:
                raise SystemExit(f"{run}: no models under {[str(d) for d in dirs]}")
            seeds = [s for s, _ in found]
            idx = [getattr(split_for(params, data, s), split_name) for s in seeds]
            if any(not np.array_equal(i, idx[0]) for i in idx[1:]) or not len(idx[0]):
                raise SystemExit(f"{run}: seeds {seeds} have different or empty {split_name} "
                                 "splits")
            loaded = [load_model(p) for _, p in found]
            modality = loaded[0][0].modality
            arrays = PairedArrays({modality: load_modality(modality, data, params)},
                                  data.label, data.sample_id)
            y = data.label[idx[0]]
            with torch.no_grad():
                single = [float((predict_logits(m, arrays, idx[0], modality).argmax(1).numpy()
                                 == y).mean()) for _, m, _ in loaded]
                ens = SeedEnsemble([m for _, m, _ in loaded]).eval()
                ens_acc = float((predict_logits(ens, arrays, idx[0], modality).argmax(1)
                                 .numpy() == y).mean())
            out[run] = {"seeds": seeds, "clips": len(y), "members": single,
                        "member_mean": statistics.mean(single), "ensemble": ens_acc}
        return out
    finally:
        os.chdir(cwd)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(1)
    groups = [[Path(d).resolve() for d in g.split(",")] for g in args.group]
    figures = [score_group(dirs, args.runs, args.split) for dirs in groups]
    rows = []
    for run in args.runs:
        ens = [100 * f[run]["ensemble"] for f in figures]
        mem = [100 * f[run]["member_mean"] for f in figures]
        sd = statistics.stdev(ens) if len(ens) > 1 else 0.0
        rows.append((statistics.mean(ens), run, ens, sd, statistics.mean(mem)))
    seeds = sorted({str(f[run]["seeds"]) for f in figures for run in args.runs})
    print(f"{args.split} accuracy %, seed ensemble per group (seeds: {', '.join(seeds)})\n")
    print("| run | " + " | ".join(f"group {i}" for i in range(len(groups)))
          + " | ensemble mean +- std | single-member mean |")
    print("| --- " * (len(groups) + 3) + "|")
    for mean, run, ens, sd, mem in sorted(rows, key=lambda r: -r[0]):
        print(f"| {run} | " + " | ".join(f"{e:.2f}" for e in ens)
              + f" | {mean:.2f} +- {sd:.2f} | {mem:.2f} |")
    if args.out:
        args.out.write_text(json.dumps({"split": args.split, "groups": args.group,
                                        "figures": figures}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
