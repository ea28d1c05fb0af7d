"""benchmarks/fold_select.py: nested selection ranks by validation over folds, never test."""

from __future__ import annotations

import json
import sys

import pytest

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import fold_select  # noqa: E402


def _doc(fold: int, setting: list[str], vals: dict[str, list[float]], test: float,
         protocol: str = "cross_subject", folds: int | None = None) -> dict:
    overrides = ["data.actions=[1, 2]", *setting, f"train.validation.fold={fold}",
                 "train.threads=1"]
    runs = [{"run": run, "seed": s, "accuracy": test, "val_accuracy": v}
            for run, per_seed in vals.items() for s, v in enumerate(per_seed)]
    summary = {"protocol": protocol, "overrides": overrides}
    if folds is not None:
        summary["folds"] = folds
    return {"runs": runs, "summary": summary}


def test_rank_by_validation_over_every_fold_ignoring_test(tmp_path, capsys) -> None:
    files = []
    for fold in range(2):
        # "long" is better on validation in both folds, "short" has the better *test* figure
        for name, setting, val, test in (("short", [], [0.80, 0.84], 0.99),
                                         ("long", ["epochs=80"], [0.90, 0.92], 0.50)):
            vals = {"student_baseline": [v - 0.1 * fold for v in val],
                    "fitnet": [v - 0.1 * fold + 0.01 for v in val]}
            path = tmp_path / f"{name}-f{fold}.json"
            path.write_text(json.dumps(_doc(fold, setting, vals, test)))
            files.append(path)
    # a setting seen on fold 0 only ranks after the complete ones, however high
    lone = tmp_path / "lone-f0.json"
    lone.write_text(json.dumps(_doc(0, ["lr=9"], {"student_baseline": [1.0]}, 0.1)))
    md, js = tmp_path / "rank.md", tmp_path / "rank.json"
    assert fold_select.main([*map(str, files), str(lone), "--markdown", str(md),
                             "--json", str(js)]) == 0
    rows = json.loads(js.read_text())
    assert [(r["setting"][1:], r["run"]) for r in rows] == [
        (["epochs=80"], "fitnet"), (["epochs=80"], "student_baseline"),
        ([], "fitnet"), ([], "student_baseline"), (["lr=9"], "student_baseline")]
    best = rows[0]
    # fitnet, epochs=80: folds 0 and 1, two seeds each
    assert best["n"] == 4 and best["folds"] == [0, 1] and best["complete"]
    assert best["val_mean"] == pytest.approx(100 * (0.91 + 0.93 + 0.81 + 0.83) / 4)
    assert best["fold_means"] == {"0": 92.0, "1": 82.0}
    assert not rows[-1]["complete"]
    text = md.read_text()
    assert text == capsys.readouterr().out
    # only what differs is shown per row; the shared override (with its spaces) once
    assert text.startswith("All runs: data.actions=[1, 2]\n")
    assert "| epochs=80 | fitnet | 87.00 +- 5.89 | 4 | 92.00 | 82.00 |" in text


def test_rank_refuses_mixed_protocols_and_non_fold_runs(tmp_path) -> None:
    a = _doc(0, [], {"student_baseline": [0.5]}, 0.5)
    b = _doc(1, [], {"student_baseline": [0.5]}, 0.5, protocol="trial_split")
    with pytest.raises(SystemExit, match="several protocols"):
        fold_select.rank({"a": a, "b": b})
    c = _doc(0, [], {"student_baseline": [0.5]}, 0.5)
    c["summary"]["overrides"] = ["student.model=temporal_cnn"]
    with pytest.raises(SystemExit, match="c.json: not a fold run"):
        fold_select.rank({"c.json": c})
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(SystemExit, match="bad.json: cannot read"):
        fold_select.main([str(bad)])


def test_rank_knows_a_fold_missing_from_every_file() -> None:
    # student_table recorded 3 folds; fold 2 was never run, so no setting is complete
    docs = {f"f{fold}": _doc(fold, [], {"student_baseline": [0.9]}, 0.5, folds=3)
            for fold in (0, 1)}
    rows = fold_select.rank(docs)
    assert len(rows) == 1 and rows[0]["folds"] == [0, 1] and not rows[0]["complete"]
    docs["f2"] = _doc(2, [], {"student_baseline": [0.9]}, 0.5, folds=3)
    assert fold_select.rank(docs)[0]["complete"]
    docs["g"] = _doc(0, ["x=1"], {"student_baseline": [0.9]}, 0.5, folds=4)
    with pytest.raises(SystemExit, match=r"different fold counts \[3, 4\]"):
        fold_select.rank(docs)
