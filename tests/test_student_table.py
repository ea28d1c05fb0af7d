"""benchmarks/student_table.py: the tuning-sweep runner reports what the pipeline's code gives."""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from crosskd.config import apply_profile
from crosskd.data.fetch import fetch_dataset
from crosskd.data.fuse import fuse_dataset
from crosskd.data.fused_h5 import FusedData, read_fused
from crosskd.evaluation import test_predictions as held_out_predictions
from crosskd.training.builders import load_model
from tests.conftest import REPO, base_params

sys.path.insert(0, str(REPO / "benchmarks"))
import ensemble_table  # noqa: E402
import student_table  # noqa: E402


def test_student_table_runs_baseline_and_progressive_distillation(tmp_path, monkeypatch):
    params = apply_profile(base_params(data__actions=[1, 22, 27], synthetic__subjects=2))
    params["fuse"].update(skeleton_frames=16, inertial_steps=64)
    monkeypatch.chdir(tmp_path)
    fetch_dataset(params, "data/raw")
    fuse_dataset(params, "data/raw/utd_mhad", "fused.h5")
    work, out = tmp_path / "work", tmp_path / "table.json"
    cwd = Path.cwd()
    try:
        rc = student_table.main([
            "--fused", "fused.h5", "--protocol", "cross_subject", "--seeds", "0", "1",
            "--methods", "kd:progressive", "--workdir", str(work), "--out", str(out),
            "-S", "data.actions=[1, 22, 27]", "-S", "student.model=temporal_cnn",
            "-S", "student.temporal_cnn.widths=[8, 16]", "-S", "student.temporal_cnn.window=32",
            "-S", "student.label_smoothing=0.1", "-S", "profiles.fast.student.epochs=2",
            "-S", "profiles.fast.teacher.channels=[8, 8]",
            "-S", "profiles.fast.teacher.strides=[1, 1]",
            "-S", "train.validation.fraction=0.3"])
    finally:
        os.chdir(cwd)
    assert rc == 0
    result = json.loads(out.read_text())
    assert [(r["run"], r["seed"]) for r in result["runs"]] == [
        ("student_baseline", 0), ("kd_progressive", 0),
        ("student_baseline", 1), ("kd_progressive", 1)]
    # The overrides reached the run: the saved student is the small temporal CNN.
    os.chdir(work)
    try:
        data = read_fused("data/fused/utd_mhad.h5")
        spec, model, record = load_model("models/student_baseline/s1/model.pt")
        assert spec.kwargs["channels"] == [8, 16] and record["protocol"] == "cross_subject"
        from crosskd.config import load_params

        y, pred = held_out_predictions(model, spec.modality, data, load_params("params.yaml"),
                                       "cross_subject", 1)
    finally:
        os.chdir(cwd)
    base = [r for r in result["runs"] if r["run"] == "student_baseline"]
    assert base[1]["accuracy"] == round(float(np.mean(y == pred)), 6)
    assert base[1]["val_accuracy"] == round(record["val"]["val_accuracy"], 6)
    kd_runs = [r for r in result["runs"] if r["run"] == "kd_progressive"]
    kd = [r["accuracy"] for r in kd_runs]
    metrics = json.loads((work / "metrics/distill/kd_progressive_s1.json").read_text())
    assert kd_runs[1]["val_accuracy"] == metrics["val_accuracy"]
    assert result["summary"]["table"]["kd_progressive"]["val_accuracy_mean"] == round(
        100 * np.mean([r["val_accuracy"] for r in kd_runs]), 3)
    table = result["summary"]["table"]
    assert table["student_baseline"]["gain_mean"] == 0.0
    expected_gain = 100 * np.mean(np.array(kd) - np.array([b["accuracy"] for b in base]))
    assert table["kd_progressive"]["gain_mean"] == round(expected_gain, 3)
    gains = 100 * (np.array(kd) - np.array([b["accuracy"] for b in base]))
    assert table["kd_progressive"]["gain_std"] == round(float(np.std(gains, ddof=1)), 3)
    assert result["summary"]["parameters"] == sum(p.numel() for p in model.parameters())

    # benchmarks/ensemble_table.py on the same folder: each member's test accuracy is the
    # run's own, and the ensemble's is the argmax of the two seeds' mean logits. Clip-level
    # validation splits differ by seed, so a validation ensemble is refused.
    ens_out = tmp_path / "ensemble.json"
    args = ["--group", str(work), "--runs", "student_baseline", "distill_kd_progressive"]
    with pytest.raises(SystemExit, match=r"seeds \[0, 1\] have different or empty val"):
        ensemble_table.main([*args, "--split", "val"])
    assert ensemble_table.main([*args, "--split", "test", "--out", str(ens_out)]) == 0
    figures = json.loads(ens_out.read_text())["figures"][0]
    for run, runs in (("student_baseline", base), ("distill_kd_progressive", kd_runs)):
        assert figures[run]["seeds"] == [0, 1]
        assert [round(a, 6) for a in figures[run]["members"]] == [r["accuracy"] for r in runs]
    os.chdir(work)
    try:
        import torch

        from crosskd.training.builders import load_modality
        from crosskd.training.supervised import split_for

        params = load_params("params.yaml")
        test = split_for(params, data, 0).test
        x = torch.as_tensor(load_modality("inertial", data, params)[test]).float()
        with torch.no_grad():
            mean = sum(load_model(f"models/distill_kd_progressive/s{s}/model.pt")[1](x).logits
                       for s in (0, 1)) / 2
    finally:
        os.chdir(cwd)
    assert figures["distill_kd_progressive"]["ensemble"] == pytest.approx(
        float((mean.argmax(1).numpy() == data.label[test]).mean()))


def four_subject_fused(tmp_path, monkeypatch) -> FusedData:
    """Synthetic subjects 1-4, actions 1 and 22, fused to ``tmp_path/fused.h5`` (the cwd)."""
    params = apply_profile(base_params(data__actions=[1, 22], synthetic__subjects=4))
    params["fuse"].update(skeleton_frames=16, inertial_steps=64)
    monkeypatch.chdir(tmp_path)
    fetch_dataset(params, "data/raw")
    fuse_dataset(params, "data/raw/utd_mhad", "fused.h5")
    return read_fused("fused.h5")


def test_student_table_fold_run_trains_teachers_on_its_own_split(tmp_path, monkeypatch):
    data = four_subject_fused(tmp_path, monkeypatch)
    work, out = tmp_path / "work", tmp_path / "table.json"
    cwd = Path.cwd()
    try:
        with pytest.raises(SystemExit, match="exclude each other"):
            student_table.main(["--fused", "fused.h5", "--protocol", "cross_subject",
                                "--teachers", "models", "--train-teachers"])
        sweep = [
            "--fused", "fused.h5", "--protocol", "cross_subject", "--seeds", "0",
            "--methods", "kd",
            "-S", "data.actions=[1, 22]", "-S", "student.model=temporal_cnn",
            "-S", "student.temporal_cnn.widths=[8, 16]", "-S", "student.temporal_cnn.window=32",
            "-S", "profiles.fast.student.epochs=2", "-S", "profiles.fast.teacher.epochs=1",
            "-S", "profiles.fast.teacher.channels=[8, 8]",
            "-S", "profiles.fast.teacher.strides=[1, 1]",
            "-S", "train.validation.group=subject", "-S", "train.validation.fraction=0.5",
            "-S", "train.validation.fold=1"]
        rc = student_table.main([*sweep, "--train-teachers", "--workdir", str(work),
                                 "--out", str(out)])
    finally:
        os.chdir(cwd)
    assert rc == 0
    result = json.loads(out.read_text())
    assert [r["run"] for r in result["runs"]] == ["student_baseline", "kd"]
    assert result["summary"]["folds"] == 2  # two training subjects, one per fold
    # Training subjects are 1 and 3; fold 1 holds out subject 3 for every model, teachers
    # included, so the teachers never saw the clips the student is selected on.
    held_out = int(np.sum(data.subject == 3))
    for name in ("teacher_sk", "teacher_fu", "student_baseline"):
        train = json.loads((work / f"metrics/train/{name}_s0.json").read_text())
        assert (train["val_clips"], train["train_clips"]) == (
            held_out, int(np.sum(data.subject == 1)))
    _, _, record = load_model(work / "models/teacher_sk/s0/model.pt")
    assert record["protocol"] == "cross_subject"
    # --teachers: a sweep reuses those teachers (linked, not retrained); the same seed and
    # settings then give the same distilled student, to the last digit.
    work2, out2 = tmp_path / "work2", tmp_path / "table2.json"
    try:
        rc = student_table.main([*sweep, "--teachers", str(work / "models"), "--workdir",
                                 str(work2), "--out", str(out2)])
    finally:
        os.chdir(cwd)
    assert rc == 0
    for kind in ("sk", "fu"):
        assert (work2 / f"models/teacher_{kind}").resolve() == work / f"models/teacher_{kind}"
    assert not (work2 / "metrics/train/teacher_sk_s0.json").exists()  # not trained again
    again = json.loads(out2.read_text())["runs"]
    assert [(r["run"], r["accuracy"]) for r in again] == [
        (r["run"], r["accuracy"]) for r in result["runs"]]


def test_student_table_refit_trains_on_the_whole_training_side(tmp_path, monkeypatch):
    data = four_subject_fused(tmp_path, monkeypatch)
    work, out = tmp_path / "work", tmp_path / "table.json"
    cwd = Path.cwd()
    try:
        rc = student_table.main([
            "--fused", "fused.h5", "--protocol", "cross_subject", "--seeds", "0",
            "--methods", "fitnet", "--train-teachers", "--workdir", str(work),
            "--out", str(out),
            "-S", "data.actions=[1, 22]", "-S", "student.model=temporal_cnn",
            "-S", "student.temporal_cnn.widths=[8, 16]", "-S", "student.temporal_cnn.window=32",
            "-S", "profiles.fast.student.epochs=2", "-S", "profiles.fast.teacher.epochs=1",
            "-S", "profiles.fast.teacher.channels=[8, 8]",
            "-S", "profiles.fast.teacher.strides=[1, 1]",
            "-S", "train.validation.fraction=0", "-S", "train.validation.select=last"])
    finally:
        os.chdir(cwd)
    assert rc == 0
    result = json.loads(out.read_text())
    assert [(r["run"], r["val_accuracy"]) for r in result["runs"]] == [
        ("student_baseline", None), ("fitnet", None)]
    assert "val_accuracy_mean" not in result["summary"]["table"]["fitnet"]
    assert "folds" not in result["summary"]
    # Every model trains on every training-side clip (subjects 1 and 3) and keeps its last
    # epoch; the test figures are still computed on the untouched test subjects.
    for name in ("teacher_sk", "teacher_fu", "student_baseline"):
        train = json.loads((work / f"metrics/train/{name}_s0.json").read_text())
        assert (train["train_clips"], train["val_clips"]) == (
            int(np.isin(data.subject, [1, 3]).sum()), 0)
        assert train["selected_epoch"] == train["epochs"]
    distilled = json.loads((work / "metrics/distill/fitnet_s0.json").read_text())
    assert distilled["selected_epoch"] == 2 and distilled["val_accuracy"] is None
    # The curves keep their val_* columns, empty: `dvc plots` needs the field in every file.
    for curve in ("plots/train/student_baseline_s0.csv", "plots/distill/fitnet_s0.csv"):
        with open(work / curve, newline="") as f:
            rows = list(csv.DictReader(f))
        assert [int(r["epoch"]) for r in rows] == [1, 2]
        assert all(r["val_accuracy"] == r["val_loss"] == "" and float(r["loss"]) > 0
                   for r in rows)
    assert distilled["test_clips"] == int(np.isin(data.subject, [2, 4]).sum())
