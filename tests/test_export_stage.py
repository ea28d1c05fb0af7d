"""The export stage: a trained student -> fp32 / int8 ONNX and metrics/deploy.json.

A compact student is trained for a few epochs on a tiny synthetic UTD-MHAD set; the stage's
figures are checked against an independent PyTorch evaluation, the files against their
metadata, and the stage's own checks (tolerances, wrong run, GAF model) for their errors.
"""

from __future__ import annotations

import copy
import csv
import json
import os
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from mlflow.tracking import MlflowClient

from crosskd.config import apply_profile
from crosskd.data.fetch import fetch_dataset
from crosskd.data.fuse import fuse_dataset
from crosskd.data.fused_h5 import read_clip_spans, read_fused
from crosskd.data.utd_mhad import INERTIAL_RATE_HZ, read_utd_mhad
from crosskd.deploy.export import evaluate_onnx
from crosskd.deploy.predict import main as predict_main
from crosskd.deploy.stage import REPORT, export_run, float_stem_for
from crosskd.errors import ConfigError, DataError, ExportError
from crosskd.evaluation import evaluate_run
from crosskd.evaluation import test_predictions as held_out_predictions
from crosskd.training.builders import load_modality, load_model, student_spec
from crosskd.training.supervised import split_for, train_supervised
from tests.conftest import base_params


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, dict, dict]:
    root = tmp_path_factory.mktemp("export")
    params = apply_profile(base_params(data__actions=[1, 22, 27], synthetic__subjects=2))
    params["fuse"].update(skeleton_frames=16, inertial_steps=64)
    params["student"].update(model="temporal_cnn", epochs=8, batch_size=8)
    params["student"]["temporal_cnn"].update(window=32, widths=[8, 16, 16])
    params["train"]["validation"]["fraction"] = 0.3
    params["mlflow"]["tracking_uri"] = f"sqlite:///{root / 'mlflow.db'}"
    params["deploy"].update(latency_runs=20, calibration_windows=16)
    cwd = Path.cwd()
    os.chdir(root)
    try:
        fetch_dataset(params, "data/raw")
        fuse_dataset(params, "data/raw/utd_mhad", "data/fused/utd_mhad.h5")
        data = read_fused("data/fused/utd_mhad.h5")
        for seed in (0, 1):  # seed 1: the second member of the seed-ensemble test
            train_supervised(params, data, student_spec(params, data), "student", seed,
                             f"train_student@{seed}")
        report = export_run(params)
    finally:
        os.chdir(cwd)
    return root, params, report


def test_deploy_report_matches_pytorch(exported, monkeypatch) -> None:
    root, params, report = exported
    monkeypatch.chdir(root)
    assert json.loads((root / REPORT).read_text()) == report
    data = read_fused("data/fused/utd_mhad.h5")
    spec, model, _ = load_model("models/student_baseline/s0/model.pt")
    y, pred = held_out_predictions(model, spec.modality, data, params, report["protocol"], 0)
    assert report["test_clips"] == len(y) == 12
    assert report["pytorch_accuracy"] == pytest.approx(float((pred == y).mean()), abs=1e-6)
    assert report["fp32"]["max_abs_logit_diff"] <= params["deploy"]["fp32_logit_atol"]
    assert report["fp32"]["agreement_with_pytorch"] == 1.0
    assert report["fp32"]["accuracy"] == pytest.approx(report["pytorch_accuracy"])
    assert report["int8"]["accuracy_drop"] <= params["deploy"]["int8_accuracy_tolerance"]
    # params.yaml's default per architecture: the temporal CNN keeps its stem in float.
    assert params["deploy"]["int8_float_stem"]["temporal_cnn"] is True
    assert report["int8_float_stem"] is True
    quantization = {p.key: p.value for p in onnx.load(
        str(root / "models/deploy/student.int8.onnx")).metadata_props}["quantization"]
    assert json.loads(quantization)["float_stem"] is True
    for kind, name in (("fp32", "student.onnx"), ("int8", "student.int8.onnx")):
        f = root / "models/deploy" / name
        assert report[kind]["bytes"] == f.stat().st_size
        assert 0 < report[kind]["latency_ms_median"] <= report[kind]["latency_ms_p90"]
        assert report[kind]["threads"] == 1
    assert report["int8"]["bytes"] < report["fp32"]["bytes"]
    assert report["parameters"] == sum(p.numel() for p in model.parameters())
    # 3 -> 8 -> 16 -> 16 channels, kernel 5, 32 -> 16 -> 8 steps (pool 2 after all but the
    # last block), then fc0 and fc: counted by hand.
    k, emb = 5, int(params["student"]["embedding_dim"])
    convs = k * (32 * 3 * 8 + 16 * 8 * 16 + 8 * 16 * 16)
    assert report["macs"] == convs + 16 * emb + emb * 3
    # The training run logged its model file to MLflow (mlflow.log_models, on by default).
    client = MlflowClient(tracking_uri=params["mlflow"]["tracking_uri"])
    train = client.search_runs([client.get_experiment_by_name("crosskd").experiment_id],
                               "tags.stage = 'train_student@0'")[0]
    assert [a.path for a in client.list_artifacts(train.info.run_id, "model")] == [
        "model/model.pt"]


def test_stream_metadata_rate_is_the_rate_the_model_was_trained_at(exported, monkeypatch) -> None:
    root, params, report = exported
    monkeypatch.chdir(root)
    spans = read_clip_spans("data/fused/utd_mhad.h5")
    raw = sorted(read_utd_mhad(Path("data/raw/utd_mhad"), [1, 22, 27]), key=lambda s: s.sample_id)
    assert len(spans) == len(raw)
    # First to last sample: n samples at 50 Hz span (n - 1) / 50 s.
    np.testing.assert_allclose(sorted(spans), sorted((len(s.acc) - 1) / INERTIAL_RATE_HZ
                                                     for s in raw))
    meta = {p.key: json.loads(p.value) if p.value[:1] in "[{0123456789" else p.value
            for p in onnx.load(str(root / "models/deploy/student.int8.onnx")).metadata_props}
    assert meta["window"] == 32 and meta["hop"] == params["deploy"]["hop"]
    assert meta["rate"] == pytest.approx(31 / np.median(spans), rel=1e-4)
    assert meta["classes"] == read_fused("data/fused/utd_mhad.h5").class_names
    assert meta["input"] == "raw_window" and meta["model"] == "student_baseline"
    assert report["stream"]["rate"] == meta["rate"]


def test_exported_file_streams_a_recording(exported, tmp_path) -> None:
    """Raw clips of the synthetic set (UTD-MHAD acc at 50 Hz) one after the other, through
    predict at the model's own rate: one window per hop, labels from the model's classes."""
    root, _, report = exported
    clips = sorted(read_utd_mhad(root / "data/raw/utd_mhad", [1, 22, 27]),
                   key=lambda s: s.sample_id)[:4]
    acc = np.concatenate([c.acc for c in clips])
    t = np.arange(len(acc)) / INERTIAL_RATE_HZ
    csv = tmp_path / "rec.csv"
    csv.write_text("".join(f"{a:.6f},{x:.5f},{y:.5f},{z:.5f}\n"
                           for a, (x, y, z) in zip(t, acc, strict=True)))
    out = tmp_path / "out.csv"
    assert predict_main(["--model", str(root / "models/deploy/student.int8.onnx"), "--input",
                         str(csv), "--out", str(out), "--hop", "4"]) == 0
    rows = out.read_text().splitlines()
    samples = int(np.floor(t[-1] * report["stream"]["rate"] + 1e-9)) + 1
    assert len(rows) - 1 == (samples - 32) // 4 + 1
    assert rows[0].startswith("window,start_s,end_s,label")
    classes = read_fused(root / "data/fused/utd_mhad.h5").class_names
    assert {r.split(",")[3] for r in rows[1:]} <= set(classes)


def test_evaluate_stage_outputs_agree_with_each_other(exported, monkeypatch) -> None:
    # The evaluate stage on the same student: metrics, per-class report, confusion CSV.
    root, params, report = exported
    monkeypatch.chdir(root)
    evaluate_run(params, "student_baseline", 1, "evaluate@student_baseline-1")
    metrics = json.loads(Path("metrics/eval/student_baseline_s1.json").read_text())
    detail = json.loads(Path("metrics/eval/student_baseline_s1.per_class.json").read_text())
    with Path("plots/confusion/student_baseline_s1.csv").open(newline="") as f:
        pairs = [(r["actual"], r["predicted"]) for r in csv.DictReader(f)]
    names = detail["class_names"]
    data = read_fused("data/fused/utd_mhad.h5")
    spec, model, _ = load_model("models/student_baseline/s1/model.pt")
    y, pred = held_out_predictions(model, spec.modality, data, params, report["protocol"], 1)
    assert pairs == [(names[a], names[b]) for a, b in zip(y, pred, strict=True)]
    assert metrics["test_clips"] == len(pairs) == 12
    assert metrics["accuracy"] == pytest.approx(float((y == pred).mean()), abs=1e-6)
    confusion = np.array(detail["confusion"])
    for i, actual in enumerate(names):  # rows: actual class; columns: predicted
        for j, predicted in enumerate(names):
            assert confusion[i, j] == pairs.count((actual, predicted))
        assert detail["per_class"][actual]["support"] == confusion[i].sum()
    assert Path("plots/confusion/student_baseline_s1.png").stat().st_size > 1000
    # A model made for another protocol is refused by name, not scored on this one's test set.
    other = copy.deepcopy(params)
    other["train"]["protocol"] = "trial_split"
    written = Path("metrics/eval/student_baseline_s1.json").read_bytes()
    with pytest.raises(DataError, match=r"s1/model\.pt: made for \{.*'protocol': "
                       r"'cross_subject'.*this run is \{.*'trial_split'.*re-run its training"):
        evaluate_run(other, "student_baseline", 1, "evaluate@student_baseline-1")
    assert Path("metrics/eval/student_baseline_s1.json").read_bytes() == written


def test_stage_checks_fail_loudly(exported, monkeypatch) -> None:
    root, base, _ = exported
    monkeypatch.chdir(root)
    before = {p.name: p.read_bytes() for p in (root / "models/deploy").iterdir()}
    params = copy.deepcopy(base)
    params["deploy"]["fp32_logit_atol"] = -1.0  # no fp32 file can match PyTorch this closely
    with pytest.raises(ExportError, match=r"models/deploy/student\.onnx: fp32 ONNX logits "
                       r"differ from PyTorch's by .* > deploy\.fp32_logit_atol -1"):
        export_run(params)
    params = copy.deepcopy(base)
    params["deploy"]["int8_accuracy_tolerance"] = -1.0  # no file can pass
    with pytest.raises(ExportError, match=r"int8 test accuracy .*deploy\.int8_accuracy_tolerance"
                       r"[^;]*; try deploy\.calibration$"):
        export_run(params)
    # The whole graph in int8 (this architecture's entry off): the refusal names the switch.
    params["deploy"]["int8_float_stem"] = {"temporal_cnn": False, "gaf_resnet18": True}
    with pytest.raises(ExportError, match=r"try deploy\.int8_float_stem\.temporal_cnn: true or"):
        export_run(params)
    # The files that passed stay; nothing half-checked replaces them or lies beside them.
    assert {p.name: p.read_bytes() for p in (root / "models/deploy").iterdir()} == before
    assert [p.name for p in (root / "models").iterdir() if "deploy" in p.name] == ["deploy"]
    for value, message in (
            ("yes", "deploy.int8_float_stem must be true or false"),
            ({"temporal_cnn": "yes", "gaf_resnet18": False},
             "deploy.int8_float_stem.temporal_cnn must be true or false"),
            ({"gaf_resnet18": True}, "has no entry for 'temporal_cnn'"),
            ({"temporal_cnn": True, "temporal_cn": True}, r"unknown models \['temporal_cn'\]")):
        params = copy.deepcopy(base)
        params["deploy"]["int8_float_stem"] = value
        with pytest.raises(ConfigError, match=message):
            export_run(params)
    params = copy.deepcopy(base)
    params["deploy"]["model"] = "distill_nothing"
    with pytest.raises(DataError, match="models/distill_nothing/s0/model.pt: no trained model"):
        export_run(params)
    params = copy.deepcopy(base)
    params["train"]["protocol"] = "trial_split"
    with pytest.raises(DataError, match="made for"):
        export_run(params)


def test_float_stem_for_reads_one_boolean_or_one_per_architecture() -> None:
    per_arch = {"deploy": {"int8_float_stem": {"temporal_cnn": True, "gaf_resnet18": False}}}
    assert float_stem_for(per_arch, "temporal_cnn") is True
    assert float_stem_for(per_arch, "gaf_resnet18") is False
    for flag in (True, False):
        one = {"deploy": {"int8_float_stem": flag}}
        assert float_stem_for(one, "temporal_cnn") is flag
        assert float_stem_for(one, "gaf_resnet18") is flag
    with pytest.raises(ConfigError, match="missing parameter 'deploy.int8_float_stem'"):
        float_stem_for({"deploy": {}}, "temporal_cnn")


def test_predict_at_the_metadata_rate_sees_what_training_saw() -> None:
    """A clip resampled by predict at the exported rate gives the fused file's window."""
    from crosskd.data.resample import resample_time
    from crosskd.deploy.predict import Recording, resample
    from crosskd.deploy.stage import stream_metadata

    n, window = 157, 32
    t = np.arange(n) / INERTIAL_RATE_HZ
    acc = np.stack([np.sin(2 * np.pi * f * t) for f in (0.7, 1.3, 2.1)], axis=1)
    trained = resample_time(acc, window)  # what fuse gives the model
    meta = stream_metadata("inertial", np.zeros((1, 3, window)), np.array([t[-1]]), ["a"],
                           hop=8)
    streamed = resample(Recording(times=t, values=acc, start="0"), meta["rate"])[:window]
    np.testing.assert_allclose(streamed, trained, atol=1e-3)


def test_predict_refuses_a_gaf_model(tmp_path, capsys) -> None:
    """An exported GAF ResNet18 takes images: the streaming CLI says so instead of guessing."""
    import torch

    from crosskd.deploy.export import export_onnx
    from crosskd.deploy.stage import stream_metadata
    from crosskd.models import build_model

    model = build_model("gaf_resnet18", num_classes=3, embedding_dim=16).eval()
    x = np.zeros((1, 3, 16, 16), dtype=np.float32)
    meta = stream_metadata("gasf", x, np.ones(4), ["a", "b", "c"], hop=4)
    path = export_onnx(model, torch.from_numpy(x), tmp_path / "gaf.onnx", metadata=meta)
    csv = tmp_path / "rec.csv"
    csv.write_text("".join(f"{i / 50:.3f},0,0,1\n" for i in range(200)))
    assert predict_main(["--model", str(path), "--input", str(csv), "--out",
                         str(tmp_path / "o.csv")]) == 2
    assert "gaf.onnx: the model takes gasf_image input" in capsys.readouterr().err
    assert not (tmp_path / "o.csv").exists()


def test_seed_ensemble_exports_the_mean_of_its_members(exported, tmp_path, monkeypatch) -> None:
    """deploy.seeds [0, 1]: one file whose logits are the two seeds' mean logits, scored and
    sized as the pair; a missing seed or a malformed list fails before anything is written."""
    import torch

    root, base, single = exported
    work = tmp_path / "root"
    shutil.copytree(root, work)
    monkeypatch.chdir(work)
    params = copy.deepcopy(base)
    params["deploy"]["seeds"] = [1, 0]  # the same ensemble as [0, 1]
    import crosskd.deploy.stage as stage

    calibrations, real_quantize = [], stage.quantize_int8

    def quantize_spy(*args, **kwargs):
        calibrations.append(args[2])
        return real_quantize(*args, **kwargs)

    monkeypatch.setattr(stage, "quantize_int8", quantize_spy)
    report = export_run(params)
    assert report["seeds"] == [0, 1] and report["ensemble"] is True
    assert single["seeds"] == [0] and single["ensemble"] is False
    data = read_fused("data/fused/utd_mhad.h5")
    split = split_for(params, data, 0)
    x = torch.as_tensor(load_modality("inertial", data, params)[split.test]).float()
    members = [load_model(f"models/student_baseline/s{s}/model.pt")[1] for s in (0, 1)]
    with torch.no_grad():
        logits = [m(x).logits.numpy() for m in members]
    mean = (logits[0] + logits[1]) / 2
    y = data.label[split.test]
    # int8 calibration: training-side windows of the members, never a test window
    windows = load_modality("inertial", data, params)
    train_side = np.union1d(split.train, split_for(params, data, 1).train)
    assert len(calibrations) == 1 and len(calibrations[0]) == report["calibration"]["windows"]
    for w in calibrations[0]:
        rows = np.flatnonzero(np.all(np.isclose(windows, w), axis=(1, 2)))
        assert len(rows) >= 1 and set(rows) <= set(train_side)
        assert not set(rows) & set(split.test)
    assert report["pytorch_accuracy"] == pytest.approx(float((mean.argmax(1) == y).mean()))
    onnx_logits = evaluate_onnx("models/deploy/student.onnx", x.numpy(), y)["logits"]
    np.testing.assert_allclose(onnx_logits, mean, atol=1e-4)
    assert np.abs(onnx_logits - logits[0]).max() > 1e-3  # not just the first member
    assert report["parameters"] == 2 * single["parameters"]
    assert report["macs"] == 2 * single["macs"]
    assert report["int8"]["accuracy_drop"] <= params["deploy"]["int8_accuracy_tolerance"]
    meta = {p.key: p.value for p in onnx.load("models/deploy/student.int8.onnx").metadata_props}
    assert json.loads(meta["seeds"]) == [0, 1]

    before = {p.name: p.read_bytes() for p in Path("models/deploy").iterdir()}
    params["deploy"]["seeds"] = [0, 5]
    with pytest.raises(DataError, match="models/student_baseline/s5/model.pt: no trained model"):
        export_run(params)
    narrow = copy.deepcopy(base)  # seed 2: another architecture under the same run name
    narrow["student"]["temporal_cnn"]["widths"] = [8, 8]
    train_supervised(narrow, data, student_spec(narrow, data), "student", 2, "train_student@2")
    params["deploy"]["seeds"] = [0, 2]
    with pytest.raises(DataError, match=r"s2/model.pt: is a temporal_cnn .*an ensemble needs "
                                        "one architecture"):
        export_run(params)
    for bad in ([], [0, 0], 0, [0, "1"]):
        params["deploy"]["seeds"] = bad
        with pytest.raises(ConfigError, match="deploy.seeds must be a non-empty list"):
            export_run(params)
    assert {p.name: p.read_bytes() for p in Path("models/deploy").iterdir()} == before
