"""benchmarks/seed_select.py and benchmarks/paper_profile_gpu.sh (protocol 8, BENCHMARKS.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile

import pytest

from tests.conftest import REPO
from tests.test_student_table import four_subject_fused

sys.path.insert(0, str(REPO / "benchmarks"))
import seed_select  # noqa: E402


def row(run: str, seed: int, val: float | None, test: float) -> str:
    return json.dumps({"run": run, "seed": seed, "accuracy": test, "val_accuracy": val})


def test_seed_select_ranks_on_validation_never_test(tmp_path, capsys):
    # seed 0 as a log cut short (log lines, a traceback, no summary), seed 1 as --out JSON
    (tmp_path / "s0.log").write_text("\n".join([
        "12:00:01 INFO crosskd: training", row("student_baseline", 0, 0.99, 0.50),
        row("kd", 0, 0.90, 0.99), row("fitnet", 0, 0.95, 0.10), row("at", 0, 0.95, 0.20),
        row("cc", 0, 1.00, 0.30), "Traceback (most recent call last):", "{not json"]))
    (tmp_path / "s1.json").write_text(json.dumps({"runs": [
        json.loads(row(r, 1, v, 0.5)) for r, v in
        (("student_baseline", 0.99), ("kd", 0.92), ("fitnet", 0.93), ("at", 0.93))]}))
    files = [str(tmp_path / "s0.log"), str(tmp_path / "s1.json")]
    assert seed_select.main(files) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    ranked, pick = lines[:-1], lines[-1]
    assert [r["run"] for r in ranked] == ["student_baseline", "fitnet", "at", "kd", "cc"]
    assert ranked[1] == {"run": "fitnet", "seeds": [0, 1], "n": 2, "val_mean": 94.0,
                         "val_std": 1.414, "complete": True}
    # cc has the best validation but only seed 0: it ranks last and is not picked. The
    # baseline leads but is the reference; fitnet and at tie, and the first in run order wins.
    assert ranked[-1]["complete"] is False
    assert pick == {"selected": "fitnet", "tied": ["fitnet", "at"]}
    assert seed_select.main([*files, "--selected"]) == 0
    assert capsys.readouterr().out == "fitnet\n"
    # A seed whose file is missing (a job that failed): no run has every expected seed, so
    # none is picked on fewer seeds.
    with pytest.raises(SystemExit, match="no distilled run has every seed"):
        seed_select.main([files[0], "--seeds", "0", "1", "--selected"])


def test_seed_select_refuses_what_it_cannot_select_on(tmp_path):
    refit = tmp_path / "refit.log"
    refit.write_text(row("student_baseline", 0, None, 0.9))
    with pytest.raises(SystemExit, match="no validation accuracy"):
        seed_select.main([str(refit)])
    only_base = tmp_path / "base.log"
    only_base.write_text(row("student_baseline", 0, 0.9, 0.9))
    with pytest.raises(SystemExit, match="no distilled run"):
        seed_select.main([str(only_base), "--selected"])
    with pytest.raises(SystemExit, match="cannot read"):
        seed_select.main([str(tmp_path / "missing.log")])


@pytest.mark.slow
def test_paper_profile_script_runs_both_students_and_shares_teachers(tmp_path, monkeypatch):
    four_subject_fused(tmp_path, monkeypatch)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHON": sys.executable, "P8_SEEDS": "0", "P8_METHODS": "kd",
           "P8_EXTRA": " ".join([
               "-S data.actions=[1,22] -S profiles.paper.teacher.epochs=1",
               "-S profiles.paper.teacher.channels=[8,8] -S profiles.paper.teacher.strides=[1,1]",
               "-S profiles.paper.student.epochs=1 -S student.temporal_cnn.widths=[8,16]",
               "-S train.validation.fraction=0.3"])}
    done = subprocess.run(["bash", str(REPO / "benchmarks/paper_profile_gpu.sh"),
                           str(tmp_path / "fused.h5"), str(out), "300"],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    work = done.stdout.strip().rsplit("work in ", 1)[1]
    for kind in ("cnn", "gaf"):
        for protocol in ("cross_subject", "trial_split"):
            result = json.loads((out / f"{kind}-{protocol}-s0.json").read_text())
            assert [r["run"] for r in result["runs"]] == ["student_baseline", "kd"]
            summary = result["summary"]
            assert summary["device"] == "cpu" and summary["protocol"] == protocol
            # the student each kind names: the compact CNN, or the ResNet18 on 224 px GAF
            assert (summary["parameters"] < 10**6) == (kind == "cnn")
            pick = (out / f"pick-{kind}-{protocol}.txt").read_text().splitlines()
            assert json.loads(pick[-1]) == {"selected": "kd", "tied": ["kd"]}
    # The GAF jobs distil from the compact jobs' teachers (same seed, protocol and params).
    for protocol in ("cross_subject", "trial_split"):
        linked = os.path.realpath(f"{work}/gaf-{protocol}-s0/models/teacher_fu")
        assert linked == os.path.realpath(f"{work}/cnn-{protocol}-s0/models/teacher_fu")
        assert not os.path.exists(f"{work}/gaf-{protocol}-s0/metrics/train/teacher_fu_s0.json")
        with tarfile.open(out / f"models-{protocol}.tar") as tar:
            assert sorted(tar.getnames()) == [
                f"cnn-{protocol}-s0/models/distill_kd/s0/model.pt",
                f"cnn-{protocol}-s0/models/student_baseline/s0/model.pt"]


def test_paper_profile_script_reports_a_failed_job(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "P8_SEEDS": "0", "P8_METHODS": "",
           "P8_EXTRA": "-S student.model=no_such_model"}
    script = str(REPO / "benchmarks/paper_profile_gpu.sh")
    done = subprocess.run(["bash", script, str(tmp_path / "missing.h5"), str(tmp_path / "out"),
                           "60", "cnn"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    for protocol in ("cross_subject", "trial_split"):
        assert f"cnn-{protocol}-s0 failed" in done.stderr
    bad = subprocess.run(["bash", script, "f.h5", str(tmp_path / "out2"), "60", "cnn,gaf"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "unknown cnn,gaf" in bad.stderr
