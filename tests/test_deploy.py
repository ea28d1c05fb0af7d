"""Deployment: ONNX export (fp32 == PyTorch), static int8, profiling, MACs, the predict CLI.

A tiny temporal CNN is trained for a few seconds on synthetic accelerometer activities with
clear margins (still / walk at 2 Hz / shake at 6 Hz), exported once per module.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from crosskd.deploy.ensemble import SeedEnsemble
from crosskd.deploy.export import (
    FP32_LOGIT_ATOL,
    INT8_ACCURACY_TOLERANCE,
    count_macs,
    count_parameters,
    evaluate_onnx,
    export_onnx,
    profile,
    quantize_int8,
    stem_nodes,
)
from crosskd.deploy.predict import main, onnx_logits, open_session, smooth
from crosskd.errors import ExportError
from crosskd.models import build_model
from crosskd.models.temporal_cnn import input_stats

CLASSES = ["still", "walk", "shake"]
RATE, WINDOW, HOP = 50.0, 64, 16
META = {"classes": CLASSES, "rate": RATE, "window": WINDOW, "hop": HOP,
        "channels": ["acc_x", "acc_y", "acc_z"], "units": "g"}


def signal(kind: int, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(len(t), 3) acceleration [g] of one synthetic activity (gravity on z, noise 0.03 g)."""
    g = np.array([0.05, -0.1, 1.0]) + rng.normal(0, 0.05, 3)
    x = np.tile(g, (len(t), 1)) + rng.normal(0, 0.03, (len(t), 3))
    phase = rng.uniform(0, 2 * np.pi)
    if kind == 1:
        f = 2.0 * rng.uniform(0.85, 1.15)
        x[:, 0] += 0.5 * np.sin(2 * np.pi * f * t + phase)
        x[:, 2] += 0.2 * np.sin(4 * np.pi * f * t + phase)
    elif kind == 2:
        f = 6.0 * rng.uniform(0.85, 1.15)
        x[:, 1] += 1.0 * np.sin(2 * np.pi * f * t + phase)
    return x


def windows_of(n_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(WINDOW) / RATE
    xs, ys = [], []
    for k in range(len(CLASSES)):
        for _ in range(n_per_class):
            xs.append(signal(k, t, rng).T)
            ys.append(k)
    return np.asarray(xs, dtype=np.float32), np.asarray(ys)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A trained tiny student, its fp32 and int8 ONNX files and held-out windows."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x_train, y_train = windows_of(80, seed=0)
    x_test, y_test = windows_of(40, seed=1)
    model = build_model("temporal_cnn", num_classes=3, channels=[8, 16, 16], embedding_dim=16)
    model.set_input_stats(*input_stats(x_train))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train)
    gen = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(80):
        idx = torch.randint(0, len(xt), (64,), generator=gen)
        loss = torch.nn.functional.cross_entropy(model(xt[idx]).logits, yt[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(x_test)).logits.numpy()
    acc = float((logits.argmax(1) == y_test).mean())
    assert acc >= 0.95, f"the fixture model did not learn the synthetic task ({acc:.2f})"
    d = tmp_path_factory.mktemp("deploy")
    fp32 = export_onnx(model, torch.from_numpy(x_train[:1]), d / "student.onnx", metadata=META)
    int8 = quantize_int8(fp32, d / "student.int8.onnx", x_train)
    return {"model": model, "fp32": fp32, "int8": int8, "x_test": x_test, "y_test": y_test,
            "torch_logits": logits, "torch_acc": acc, "dir": d}


def test_fp32_onnx_matches_torch(deployed: dict):
    """Same graph, BN folded: logits agree to float32 rounding (1e-4), at any batch size."""
    session = open_session(deployed["fp32"])
    lo = onnx_logits(session, deployed["x_test"], batch_size=17)
    np.testing.assert_allclose(lo, deployed["torch_logits"], atol=FP32_LOGIT_ATOL, rtol=0)
    one = onnx_logits(session, deployed["x_test"][:1])
    np.testing.assert_allclose(one, deployed["torch_logits"][:1], atol=FP32_LOGIT_ATOL, rtol=0)
    # raw g in: the standardisation is inside the graph
    rng = np.random.default_rng(5)
    x = rng.normal(0, 1, (9, 3, WINDOW)).astype(np.float32)
    with torch.no_grad():
        ref = deployed["model"](torch.from_numpy(x)).logits.numpy()
    np.testing.assert_allclose(onnx_logits(session, x), ref, atol=FP32_LOGIT_ATOL, rtol=0)


def test_onnx_interface_and_metadata(deployed: dict):
    for path in (deployed["fp32"], deployed["int8"]):
        proto = onnx.load(str(path))
        assert [i.name for i in proto.graph.input] == ["window"]
        assert [o.name for o in proto.graph.output] == ["logits"]
        dims = proto.graph.input[0].type.tensor_type.shape.dim
        assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [3, WINDOW]
        meta = {p.key: p.value for p in proto.metadata_props}
        assert json.loads(meta["classes"]) == CLASSES
        assert float(meta["rate"]) == RATE and int(meta["window"]) == WINDOW
    meta = {p.key: p.value for p in onnx.load(str(deployed["int8"])).metadata_props}
    assert json.loads(meta["quantization"])["format"] == "QDQ"
    ops = {n.op_type for n in onnx.load(str(deployed["int8"])).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops


def test_int8_agrees_with_fp32(deployed: dict):
    """Tolerance: >= 90% identical argmax and accuracy within INT8_ACCURACY_TOLERANCE.

    8-bit activations add rounding noise of ~1/255 of each calibrated range per layer; only
    windows whose top-2 margin is below that noise can flip. This model separates its
    classes clearly, so nearly all agree; a broken quantisation (wrong scales, missing
    calibration) lands near chance (33%), far below the bound.
    """
    x, y = deployed["x_test"], deployed["y_test"]
    lf = onnx_logits(open_session(deployed["fp32"]), x)
    lq = onnx_logits(open_session(deployed["int8"]), x)
    assert (lf.argmax(1) == lq.argmax(1)).mean() >= 0.90
    res = evaluate_onnx(deployed["int8"], x, y)
    assert res["n"] == len(y)
    assert res["accuracy"] >= deployed["torch_acc"] - INT8_ACCURACY_TOLERANCE
    assert evaluate_onnx(deployed["fp32"], x, y)["accuracy"] == deployed["torch_acc"]


def test_quantize_rejects_wrong_calibration(deployed: dict, tmp_path: Path):
    with pytest.raises(ValueError, match="calibration windows"):
        quantize_int8(deployed["fp32"], tmp_path / "q.onnx", np.zeros((4, 3, 32)))
    with pytest.raises(ValueError, match="method"):
        quantize_int8(deployed["fp32"], tmp_path / "q.onnx", deployed["x_test"], method="x")
    assert not (tmp_path / "q.onnx").exists()


def test_profile(deployed: dict):
    res = {k: profile(deployed[k], deployed["x_test"], threads=1, runs=30, warmup=5)
           for k in ("fp32", "int8")}
    for k, r in res.items():
        assert r["latency_ms_median"] > 0 and r["latency_ms_p90"] >= r["latency_ms_median"]
        assert r["bytes"] == os.path.getsize(deployed[k]) and r["threads"] == 1
    assert res["int8"]["bytes"] < res["fp32"]["bytes"]


def test_count_macs_and_parameters():
    model = build_model("temporal_cnn", num_classes=3, channels=[4, 6], pool=[2, 1],
                        embedding_dim=5, kernel_size=5)
    # conv1 64 x 4 x (3 x 5); conv2 32 x 6 x (4 x 5); fc0 6 x 5; fc 5 x 3
    expected = 64 * 4 * 15 + 32 * 6 * 20 + 30 + 15
    assert count_macs(model, torch.randn(1, 3, 64)) == expected
    assert count_macs(model, torch.randn(4, 3, 64)) == expected  # per window
    sep = build_model("temporal_cnn", num_classes=3, channels=[4, 6], pool=[2, 1],
                      embedding_dim=5, kernel_size=5, separable=True)
    # block 2: depthwise 32 x 4 x 5 + pointwise 32 x 6 x 4
    assert count_macs(sep, torch.randn(1, 3, 64)) == 64 * 4 * 15 + 32 * 4 * 5 + 32 * 24 + 45
    assert count_parameters(model) == sum(p.numel() for p in model.parameters())


def _conv_weight_sources(path: Path) -> list[str]:
    """For each Conv in graph order: the op that makes its weight ('' for an initializer)."""
    graph = onnx.load(str(path)).graph
    made_by = {o: n.op_type for n in graph.node for o in n.output}
    return [made_by.get(n.input[1], "") for n in graph.node if n.op_type == "Conv"]


def test_float_stem_keeps_the_first_block_in_float(deployed: dict, tmp_path: Path):
    """deploy.int8_float_stem: the nodes up to the first MaxPool (input standardisation,
    block 1) stay float; every later conv is quantised as before; the file still agrees."""
    stem = stem_nodes(onnx.load(str(deployed["fp32"])))
    ops = {n.name: n.op_type for n in onnx.load(str(deployed["fp32"])).graph.node}
    assert ops[stem[-1]] == "MaxPool" and [ops[n] for n in stem].count("Conv") == 1
    assert _conv_weight_sources(deployed["int8"]) == ["DequantizeLinear"] * 3
    int8 = quantize_int8(deployed["fp32"], tmp_path / "stem.onnx", deployed["x_test"],
                         float_stem=True)
    assert _conv_weight_sources(int8) == ["", "DequantizeLinear", "DequantizeLinear"]
    meta = {p.key: p.value for p in onnx.load(str(int8)).metadata_props}
    assert json.loads(meta["quantization"])["float_stem"] is True
    lf = onnx_logits(open_session(deployed["fp32"]), deployed["x_test"])
    lq = onnx_logits(open_session(int8), deployed["x_test"])
    assert (lf.argmax(1) == lq.argmax(1)).mean() >= 0.90


def test_float_stem_of_a_seed_ensemble_is_every_members_first_block(tmp_path: Path):
    x, _ = windows_of(4, seed=7)
    members = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        m = build_model("temporal_cnn", num_classes=3, channels=[4, 6, 6], embedding_dim=4)
        m.set_input_stats(*input_stats(x))
        members.append(m.eval())
    fp32 = export_onnx(SeedEnsemble(members).eval(), torch.from_numpy(x[:1]),
                       tmp_path / "ens.onnx", metadata=META)
    ops = {n.name: n.op_type for n in onnx.load(str(fp32)).graph.node}
    stem = [ops[n] for n in stem_nodes(onnx.load(str(fp32)))]
    assert stem.count("MaxPool") == 2 and stem.count("Conv") == 2 and "Gemm" not in stem
    int8 = quantize_int8(fp32, tmp_path / "ens.int8.onnx", x, float_stem=True)
    assert sorted(_conv_weight_sources(int8)) == ["", ""] + ["DequantizeLinear"] * 4


def test_float_stem_needs_a_pooled_first_block(tmp_path: Path):
    model = build_model("temporal_cnn", num_classes=3, channels=[4, 4], pool=[1, 1],
                        embedding_dim=4).eval()
    x, _ = windows_of(2, seed=6)
    fp32 = export_onnx(model, torch.from_numpy(x[:1]), tmp_path / "flat.onnx", metadata=META)
    with pytest.raises(ExportError, match=r"flat.onnx: no MaxPool"):
        quantize_int8(fp32, tmp_path / "flat.int8.onnx", x, float_stem=True)
    assert not (tmp_path / "flat.int8.onnx").exists()


def test_residual_student_exports(tmp_path: Path):
    """The residual blocks (a sum and a 1x1 shortcut) survive export and quantisation."""
    torch.manual_seed(0)
    x, _ = windows_of(20, seed=4)
    model = build_model("temporal_cnn", num_classes=3, channels=[8, 16, 16], embedding_dim=16,
                        convs_per_block=2, residual=True)
    model.set_input_stats(*input_stats(x))
    model.train()
    with torch.no_grad():  # BN running statistics that are not the identity
        for _ in range(5):
            model(torch.from_numpy(x))
    model.eval()
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).logits.numpy()
    fp32 = export_onnx(model, torch.from_numpy(x[:1]), tmp_path / "r.onnx", metadata=META)
    np.testing.assert_allclose(onnx_logits(open_session(fp32), x), ref, atol=FP32_LOGIT_ATOL,
                               rtol=0)
    int8 = quantize_int8(fp32, tmp_path / "r.int8.onnx", x)
    q = onnx_logits(open_session(int8), x)
    assert q.shape == ref.shape and np.isfinite(q).all()
    assert any(n.op_type == "QuantizeLinear" for n in onnx.load(int8).graph.node)
    # MACs count the shortcut convs too: 3 -> 8 and 8 -> 16, at lengths 64 and 32
    plain = build_model("temporal_cnn", num_classes=3, channels=[8, 16, 16], embedding_dim=16,
                        convs_per_block=2)
    example = torch.from_numpy(x[:1])
    assert count_macs(model, example) - count_macs(plain, example) == 64 * 8 * 3 + 32 * 16 * 8


# ----------------------------------------------------------------------------- predict CLI


def recording(rate: float, seconds_each: float = 4.0, seed: int = 3) -> tuple[np.ndarray,
                                                                                np.ndarray]:
    """still, walk, shake one after the other at ``rate`` Hz: (times [s], (n, 3) [g])."""
    rng = np.random.default_rng(seed)
    parts_t, parts_x = [], []
    for k in range(3):
        t = np.arange(int(seconds_each * rate)) / rate
        parts_t.append(t + k * seconds_each)
        parts_x.append(signal(k, t, rng))
    return np.concatenate(parts_t) + 1000.0, np.concatenate(parts_x)


def write_csv(path: Path, t: np.ndarray, x: np.ndarray, header: bool = False) -> Path:
    lines = ["timestamp,x,y,z"] if header else []
    lines += [f"{ti:.6f},{a:.5f},{b:.5f},{c:.5f}" for ti, (a, b, c) in zip(t, x, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def check_outputs(out: Path, timeline: Path) -> None:
    rows = read_rows(out)
    n = int((12.0 * RATE - WINDOW) // HOP) + 1  # 12 s at 50 Hz after resampling
    assert len(rows) == n
    probs = np.array([[float(r[f"p_{c}"]) for c in CLASSES] for r in rows])
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-3)
    assert all(r["label"] == CLASSES[int(np.argmax(p))] for r, p in zip(rows, probs, strict=True))
    # smoothed_label: the argmax of the centred 5-window mean (--smooth's default), fewer
    # windows at the ends. Skip near-ties, where the 4-decimal CSV rounding could flip it.
    for i, r in enumerate(rows):
        mean = probs[max(i - 2, 0):i + 3].mean(0)
        top2 = np.sort(mean)[-2:]
        if top2[1] - top2[0] > 1e-3:
            assert r["smoothed_label"] == CLASSES[int(np.argmax(mean))], i
    assert float(rows[1]["start_s"]) == pytest.approx(HOP / RATE)
    segs = read_rows(timeline)
    assert [s["label"] for s in segs] == CLASSES
    assert float(segs[0]["start_s"]) == 0.0
    assert float(segs[-1]["end_s"]) == pytest.approx(12.0 - 1 / RATE, abs=0.03)  # the end
    assert float(segs[1]["start_s"]) == pytest.approx(4.0, abs=0.7)
    assert float(segs[2]["start_s"]) == pytest.approx(8.0, abs=0.7)
    for a, b in zip(segs, segs[1:], strict=False):
        assert a["end_s"] == b["start_s"]  # segments tile the recording


def test_smooth_is_a_centred_moving_average_that_removes_a_one_window_blip():
    labels = [0, 0, 0, 1, 0, 0, 2, 2, 2, 2]  # one window flips to class 1
    probs = np.eye(3)[labels] * 0.8 + 0.2 / 3
    out = smooth(probs, 3)
    for i in range(len(labels)):  # plain loop: windows i-1..i+1 clipped to the recording
        window = probs[max(i - 1, 0):min(i + 2, len(labels))]
        np.testing.assert_allclose(out[i], window.mean(0))
    assert list(out.argmax(1)) == [0, 0, 0, 0, 0, 0, 2, 2, 2, 2]
    np.testing.assert_allclose(smooth(probs, 4)[0], probs[0:3].mean(0))  # even k: one more after
    np.testing.assert_array_equal(smooth(probs, 1), probs)


def test_predict_cli_without_torch(deployed: dict, tmp_path: Path):
    """End to end at 100 Hz on the int8 file, in a process where importing torch fails."""
    src = write_csv(tmp_path / "rec.csv", *recording(100.0), header=True)
    out = tmp_path / "out.csv"
    argv = ["predict", "--model", str(deployed["int8"]), "--input", str(src), "--out",
            str(out), "--report", str(tmp_path / "report.json")]
    code = ("import runpy, sys; sys.modules['torch'] = None; "
            f"sys.argv = {argv!r}; "
            "runpy.run_module('crosskd.deploy.predict', run_name='__main__', alter_sys=True)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "units detected as g" in proc.stderr
    check_outputs(out, tmp_path / "out_timeline.csv")
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["input_rate_hz"] == pytest.approx(100.0)
    assert report["rate_hz"] == RATE and report["window"] == WINDOW and report["hop"] == HOP
    assert report["repairs"] == [f"skipped header line 1: {'timestamp,x,y,z'!r}"]


def test_predict_mmact_format_in_ms2(deployed: dict, tmp_path: Path, capsys):
    """MMAct CSV: string timestamps, m/s^2 (auto-detected from gravity), ~80 Hz, no header."""
    t, x = recording(80.0)
    start = datetime(2018, 10, 7, 14, 3, 12)
    lines = [f"{(start + timedelta(seconds=ti - t[0])).strftime('%Y%m%d_%H:%M:%S.%f')},"
             f"{a:.5f},{b:.5f},{c:.5f}" for ti, (a, b, c) in zip(t, x * 9.80665, strict=True)]
    src = tmp_path / "acc.csv"
    src.write_text("\n".join(lines) + "\n")
    out, timeline = tmp_path / "o.csv", tmp_path / "tl.csv"
    assert main(["--model", str(deployed["fp32"]), "--input", str(src), "--out", str(out),
                 "--timeline", str(timeline)]) == 0
    assert "units detected as m/s2" in capsys.readouterr().err
    check_outputs(out, timeline)


def test_predict_overrides(deployed: dict, tmp_path: Path, capsys):
    src = write_csv(tmp_path / "rec.csv", *recording(50.0))
    names = tmp_path / "names.txt"
    names.write_text("A\nB\nC\n")
    out = tmp_path / "o.csv"
    assert main(["--model", str(deployed["fp32"]), "--input", str(src), "--out", str(out),
                 "--hop", "32", "--classes", str(names), "--smooth", "1"]) == 0
    rows = read_rows(out)
    assert len(rows) == int((600 - WINDOW) // 32) + 1
    assert {r["label"] for r in rows} <= {"A", "B", "C"} and "p_A" in rows[0]
    assert main(["--model", str(deployed["fp32"]), "--input", str(src), "--out", str(out),
                 "--window", "32"]) == 2
    assert "differs from the model's fixed input length 64" in capsys.readouterr().err
    names.write_text("A\nB\n")
    assert main(["--model", str(deployed["fp32"]), "--input", str(src), "--out", str(out),
                 "--classes", str(names)]) == 2
    assert "2 class names for a model with 3 outputs" in capsys.readouterr().err


def _bad_input(tmp_path: Path, deployed: dict, capsys, lines: list[str],
               *extra: str) -> tuple[int, str]:
    src = tmp_path / "bad.csv"
    src.write_text("\n".join(lines) + "\n")
    out = tmp_path / "o.csv"
    out.unlink(missing_ok=True)
    rc = main(["--model", str(deployed["fp32"]), "--input", str(src), "--out", str(out),
               *extra])
    err = capsys.readouterr().err
    if rc != 0:
        assert not out.exists(), "an error must not leave a partial output"
    return rc, err


def _lines(n: int = 200, rate: float = 50.0) -> list[str]:
    t, x = recording(rate, seconds_each=n / rate / 3 + 0.1)
    return [f"{ti:.4f},{a:.4f},{b:.4f},{c:.4f}" for ti, (a, b, c) in zip(t, x, strict=True)][:n]


def test_bad_input_unsorted(deployed: dict, tmp_path: Path, capsys):
    lines = _lines()
    lines[10], lines[11] = lines[11], lines[10]
    rc, err = _bad_input(tmp_path, deployed, capsys, lines)
    assert rc == 2 and "timestamps are not sorted: line 12" in err and "line 11" in err


def test_bad_input_repeated_timestamps_repaired(deployed: dict, tmp_path: Path, capsys):
    lines = _lines()
    lines.insert(21, lines[20].split(",")[0] + ",9,9,9")  # same time, other values
    lines.insert(51, lines[50])
    rc, err = _bad_input(tmp_path, deployed, capsys, lines)
    assert rc == 0
    assert ("repaired: dropped 2 sample(s) with a repeated timestamp (line(s) 22, 52; kept the "
            "first of each, 1 had different values)") in err


def test_bad_input_mostly_repeated_timestamps_is_an_error(deployed: dict, tmp_path: Path,
                                                          capsys):
    # Timestamps in whole 0.1 s at 50 Hz: 4 of each 5 samples repeat a time. Dropping them
    # would leave a 10 Hz signal read as 50 Hz, so this is not repaired by default.
    lines = [f"{float(line.split(',')[0]):.1f},{line.split(',', 1)[1]}" for line in _lines()]
    repeats = len(lines) - len({line.split(",")[0] for line in lines})
    assert 150 <= repeats <= 170
    rc, err = _bad_input(tmp_path, deployed, capsys, lines)
    assert rc == 2
    assert f"bad.csv: {repeats} of 200 samples (80%) repeat the previous timestamp" in err
    assert "--max-repeated 0.1" in err
    rc, err = _bad_input(tmp_path, deployed, capsys, lines, "--max-repeated", "0.9")
    assert rc == 0 and f"repaired: dropped {repeats} sample(s) with a repeated timestamp" in err
    rc, err = _bad_input(tmp_path, deployed, capsys, lines, "--max-repeated", "1.5")
    assert rc == 2 and "0 <= --max-repeated <= 1" in err


def test_bad_input_gap(deployed: dict, tmp_path: Path, capsys):
    lines = _lines()
    del lines[100:140]  # 0.8 s missing
    rc, err = _bad_input(tmp_path, deployed, capsys, lines)
    assert rc == 2 and "1 gap(s) longer than --max-gap 0.25 s" in err
    assert "between line 100 and line 101" in err
    rc, err = _bad_input(tmp_path, deployed, capsys, lines, "--max-gap", "1.0")
    assert rc == 0 and "repaired: interpolated across 1 short gap(s)" in err


def test_bad_input_nan(deployed: dict, tmp_path: Path, capsys):
    lines = _lines()
    lines[4] = lines[4].rsplit(",", 1)[0] + ",nan"
    lines[8] = lines[8].rsplit(",", 1)[0] + ","
    rc, err = _bad_input(tmp_path, deployed, capsys, lines)
    assert rc == 2 and "NaN or infinite values on line(s) 5, 9" in err


def test_bad_input_too_short(deployed: dict, tmp_path: Path, capsys):
    rc, err = _bad_input(tmp_path, deployed, capsys, _lines(40))
    assert rc == 2 and "too short" in err and f"one window needs 64 ({63 / RATE:.3f} s)" in err


@pytest.mark.parametrize("start", [0.0, 1_700_000_000.0])  # seconds from 0, Unix seconds
def test_window_count_does_not_depend_on_the_clock(deployed: dict, tmp_path: Path, capsys,
                                                   start: float):
    # Exactly one window, and one window plus one hop, at the model's rate: Unix timestamps
    # lose ~1e-7 s to rounding, which must not cost the last sample (and so a window).
    for n, windows in ((WINDOW, 1), (WINDOW + HOP, 2)):
        t = start + np.arange(n) / RATE
        x = recording(RATE)[1][:n]
        lines = [f"{ti:.6f},{a:.5f},{b:.5f},{c:.5f}" for ti, (a, b, c) in zip(t, x, strict=True)]
        rc, err = _bad_input(tmp_path, deployed, capsys, lines)
        assert rc == 0, err
        assert len(read_rows(tmp_path / "o.csv")) == windows


def test_bad_input_column_count(deployed: dict, tmp_path: Path, capsys):
    lines = _lines()
    lines[2] += ",0.1"
    rc, err = _bad_input(tmp_path, deployed, capsys, lines)
    assert rc == 2 and "line 3: expected 4 comma-separated columns" in err and "got 5" in err
    rc, err = _bad_input(tmp_path, deployed, capsys, [ln.rsplit(",", 1)[0] for ln in _lines()])
    assert rc == 2 and "line 1: expected 4" in err and "got 3" in err


def test_bad_input_other(deployed: dict, tmp_path: Path, capsys):
    lines = _lines()
    lines[6] = lines[6].split(",")[0] + ",a,b,c"
    rc, err = _bad_input(tmp_path, deployed, capsys, lines)
    assert rc == 2 and "line 7: non-numeric value 'a'" in err
    lines = _lines()
    lines[3] = "yesterday," + lines[3].split(",", 1)[1]
    rc, err = _bad_input(tmp_path, deployed, capsys, lines)
    assert rc == 2 and "line 4: bad timestamp 'yesterday'" in err
    lines = [f"{ln.split(',')[0]},3,3,3" for ln in _lines()]  # |a| = 5.2: g or m/s^2?
    rc, err = _bad_input(tmp_path, deployed, capsys, lines)
    assert rc == 2 and "cannot tell the acceleration units" in err
    rc, err = _bad_input(tmp_path, deployed, capsys, lines, "--units", "m/s2")
    assert rc == 0
    lines = [f"{float(ln.split(',')[0]) * 1000:.1f},{ln.split(',', 1)[1]}" for ln in _lines()]
    rc, err = _bad_input(tmp_path, deployed, capsys, lines)  # milliseconds
    assert rc == 2 and "timestamps must be in seconds (are they milliseconds?)" in err
    # ... also where --max-gap is raised to bridge what look like gaps
    rc, err = _bad_input(tmp_path, deployed, capsys, lines, "--max-gap", "30")
    assert rc == 2 and "timestamps must be in seconds (are they milliseconds?)" in err
    lines = [f"{ti:.4f},{a:.4f},{b:.4f},{c:.4f}" for ti, (a, b, c) in zip(
        *recording(5.0, seconds_each=20.0), strict=True)]  # 5 Hz for a 50 Hz model
    rc, err = _bad_input(tmp_path, deployed, capsys, lines, "--max-gap", "0.5")
    assert rc == 0 and "warning: the recording's 5 Hz is well below the model's 50 Hz" in err
    rc = main(["--model", str(tmp_path / "none.onnx"), "--input", "x.csv", "--out", "o.csv"])
    assert rc == 2 and "ONNX model file not found" in capsys.readouterr().err


def test_predict_acc_gyro_model(tmp_path: Path, capsys):
    """A 6-channel (acc + gyro) model reads timestamp, x, y, z, gx, gy, gz: the acc columns
    are converted to g, the gyro columns (deg/s) pass through, and every window's
    probabilities are the PyTorch model's on the same samples."""
    torch.manual_seed(0)
    rng = np.random.default_rng(5)
    model = build_model("temporal_cnn", in_channels=6, num_classes=3, channels=[8, 16],
                        embedding_dim=8)
    model.set_input_stats([0.0, 0.0, 1.0, 0.0, 0.0, 0.0], [0.5, 0.5, 0.5, 40.0, 40.0, 40.0])
    model.eval()
    meta = {**META, "channels": ["acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"],
            "units": "g, deg/s"}
    fp32 = export_onnx(model, torch.zeros(1, 6, WINDOW), tmp_path / "six.onnx", metadata=meta)
    n = int(6 * RATE)  # 6 s at the model's own rate: resampling is the identity
    t = np.arange(n) / RATE
    acc = np.array([0.0, 0.1, 1.0]) + 0.3 * rng.normal(size=(n, 3))  # g
    gyro = 50.0 * rng.normal(size=(n, 3))  # deg/s
    src = tmp_path / "six.csv"
    src.write_text("".join(f"{ti:.6f}," + ",".join(f"{v:.6f}" for v in (*a * 9.80665, *g))
                           + "\n" for ti, a, g in zip(t, acc, gyro, strict=True)))
    out = tmp_path / "six_out.csv"
    assert main(["--model", str(fp32), "--input", str(src), "--out", str(out)]) == 0
    assert "units detected as m/s2" in capsys.readouterr().err
    rows = read_rows(out)
    samples = np.round(np.concatenate([acc * 9.80665, gyro], axis=1), 6)
    samples[:, :3] /= 9.80665
    starts = np.arange(0, n - WINDOW + 1, HOP)
    assert len(rows) == len(starts)
    windows = np.stack([samples[s:s + WINDOW].T for s in starts]).astype(np.float32)
    with torch.no_grad():
        expected = torch.softmax(model(torch.from_numpy(windows)).logits, 1).numpy()
    got = np.array([[float(r[f"p_{c}"]) for c in CLASSES] for r in rows])
    np.testing.assert_allclose(got, expected, atol=1e-4)
    # An accelerometer-only CSV for this model: the column count is named.
    four = write_csv(tmp_path / "four.csv", t, acc)
    assert main(["--model", str(fp32), "--input", str(four), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "expected 7 comma-separated columns (timestamp, x, y, z, gx, gy, gz)" in err


def test_predict_to_an_unwritable_output_is_a_clear_error(deployed: dict, tmp_path: Path,
                                                          capsys):
    src = write_csv(tmp_path / "rec.csv", *recording(50.0))
    folder = tmp_path / "out"
    folder.mkdir()
    assert main(["--model", str(deployed["fp32"]), "--input", str(src), "--out",
                 str(folder)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {folder}: is a folder; --out needs a file name\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "rec.csv"]


def test_predict_never_overwrites_its_input_or_one_output_with_another(deployed: dict,
                                                                        tmp_path: Path, capsys):
    src = write_csv(tmp_path / "rec.csv", *recording(50.0))
    before = src.read_bytes()
    out = tmp_path / "o.csv"
    for extra, both in (([str(src)], "--input and --out"),
                        ([str(deployed["fp32"])], "--model and --out"),
                        ([str(out), "--timeline", str(out)], "--out and --timeline"),
                        ([str(out), "--report", str(tmp_path / "o_timeline.csv")],
                         "--timeline and --report")):
        assert main(["--model", str(deployed["fp32"]), "--input", str(src), "--out",
                     *extra]) == 2
        assert f"given as both {both}; it would be overwritten" in capsys.readouterr().err
    assert src.read_bytes() == before and deployed["fp32"].read_bytes()[:2] != b"wi"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.csv"]
