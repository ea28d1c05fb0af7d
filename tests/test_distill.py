"""Distillation: pairing, gradients, progressive order, an end-to-end run, the report."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from mlflow.tracking import MlflowClient
from torch import nn

from crosskd.config import apply_profile
from crosskd.data.fetch import fetch_dataset
from crosskd.data.fuse import fuse_dataset
from crosskd.data.gaf import gaf_dataset
from crosskd.errors import ConfigError, DataError
from crosskd.losses import FeatureDims, build_loss
from crosskd.models.output import ModelOutput
from crosskd.report import build_report, to_markdown
from crosskd.training.batches import PairedArrays
from crosskd.training.distill import DistillTask, FrozenTeacherOutputs
from crosskd.training.distill_run import distill_run
from crosskd.training.loop import SupervisedTask
from crosskd.training.optim import OptimConfig
from crosskd.training.supervised import train_supervised
from tests.conftest import base_params, module_dir

K = 3


class Recorder(nn.Module):
    """A tiny model whose input's first value is the sample index; it records them."""

    def __init__(self, dim: int = 4) -> None:
        super().__init__()
        self.fc0 = nn.Linear(dim, 8)
        self.fc = nn.Linear(8, K)
        self.embedding_dim, self.map_channels = 8, {"m": 4}
        self.seen: list[list[int]] = []

    def forward(self, x: torch.Tensor) -> ModelOutput:
        self.seen.append(x[:, 0].round().long().tolist())
        e = torch.relu(self.fc0(x))
        return ModelOutput(self.fc(e), e, {"m": x[:, :, None]})


def _data(n: int = 24) -> PairedArrays:
    idx = np.arange(n, dtype=np.float32)
    rng = np.random.default_rng(0)
    arrays = {m: np.concatenate([idx[:, None], rng.normal(size=(n, 3))], 1).astype(np.float32)
              for m in ("acc", "sk", "fu")}
    return PairedArrays(arrays, np.arange(n) % K, np.array([f"c{i}" for i in range(n)]))


def _task(progressive: bool, k: int = 1,
          cache: bool = False) -> tuple[DistillTask, Recorder, list[Recorder]]:
    torch.manual_seed(0)
    student, teachers = Recorder(), [Recorder(), Recorder()]
    loss = build_loss("acs", {"ce": 1, "kd": 1, "mk": 1, "semantic": 1},
                      student=FeatureDims.of_model(student),
                      teachers=[FeatureDims.of_model(t) for t in teachers])
    teacher_tasks = None
    if progressive:
        teacher_tasks = [SupervisedTask(f"t{i}", t, m, OptimConfig(lr=0.01), 4, 8)
                         for i, (t, m) in enumerate(zip(teachers, ("sk", "fu"), strict=True))]
    task = DistillTask("s", student, "acc", teachers, ["sk", "fu"], loss, OptimConfig(lr=0.01),
                       4, 8, teacher_tasks=teacher_tasks, k=k, cache_teachers=cache)
    return task, student, teachers


def test_teachers_see_exactly_the_students_clips() -> None:
    task, student, teachers = _task(progressive=False)
    data = _data()
    task.train_epoch(data, np.arange(24), epoch=0, seed=1)
    assert len(student.seen) == 3
    for t in teachers:
        assert t.seen == student.seen  # same clips, same order, every batch
    assert sorted(sum(student.seen, [])) == list(range(24))  # shuffled, each clip once


def test_cached_teacher_outputs_are_for_the_students_clips() -> None:
    task, student, teachers = _task(progressive=False, cache=True)
    data = _data()
    calls = []
    original = task.loss.forward
    task.loss.forward = lambda s_out, t_out, y: calls.append(t_out) or original(s_out, t_out, y)
    for epoch in range(2):
        task.train_epoch(data, np.arange(24), epoch=epoch, seed=epoch)
    for t in teachers:  # each clip went through each frozen teacher once, for both epochs
        assert sorted(sum(t.seen, [])) == list(range(24))
    assert len(calls) == len(student.seen) == 6
    for ids, t_outs in zip(student.seen, calls, strict=True):
        for t, m, out in zip(teachers, ("sk", "fu"), t_outs, strict=True):
            with torch.no_grad():
                direct = t(torch.as_tensor(data.arrays[m][ids]))
            torch.testing.assert_close(out.logits, direct.logits)
            torch.testing.assert_close(out.embedding, direct.embedding)
            assert out.maps == {}  # acs reads no maps, so the cache keeps none
    part = FrozenTeacherOutputs(teachers, ["sk", "fu"], data, np.arange(12), keep_maps=True)
    assert part.covers(np.arange(12)) and not part.covers(np.arange(24))
    assert list(part.gather(torch.tensor([3]))[0].maps) == ["m"]
    with pytest.raises(KeyError, match="not cached"):
        part.gather(torch.tensor([3, 20]))


def test_pretrained_teachers_are_frozen_and_get_no_gradient() -> None:
    task, student, teachers = _task(progressive=False)
    before = [{k: v.clone() for k, v in t.state_dict().items()} for t in teachers]
    s_before = student.fc.weight.clone()
    task.train_epoch(_data(), np.arange(24), epoch=0, seed=1)
    for t, b in zip(teachers, before, strict=True):
        assert all(p.grad is None and not p.requires_grad for p in t.parameters())
        for k, v in t.state_dict().items():
            torch.testing.assert_close(v, b[k], rtol=0, atol=0)
    assert not torch.equal(student.fc.weight, s_before)


@pytest.mark.parametrize("k", [1, 2])
def test_progressive_order_teacher_epochs_then_student(k: int) -> None:
    task, student, teachers = _task(progressive=True, k=k)
    data = _data()
    for epoch in range(2):
        task.train_epoch(data, np.arange(24), epoch=epoch, seed=epoch)
    expected = []
    for epoch in range(2):
        expected += [("teacher", epoch * k + s) for s in range(k)] + [("student", epoch)]
    assert task.events == expected
    # Each teacher trains k epochs (3 batches each) and predicts once per student epoch.
    assert len(teachers[0].seen) == 2 * (3 * k + 3)


def test_student_step_leaves_progressive_teachers_untouched() -> None:
    task, student, teachers = _task(progressive=True)
    data = _data()
    snapshot = {}

    def student_epoch_spy(*args, original=task._student_epoch, **kw):
        snapshot["before"] = [{k: v.clone() for k, v in t.state_dict().items()}
                              for t in teachers]
        for t in teachers:
            t.zero_grad(set_to_none=True)
        out = original(*args, **kw)
        snapshot["after"] = [t.state_dict() for t in teachers]
        return out

    task._student_epoch = student_epoch_spy
    task.train_epoch(data, np.arange(24), epoch=0, seed=0)
    for b, a, t in zip(snapshot["before"], snapshot["after"], teachers, strict=True):
        for k in b:
            torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)
        assert all(p.grad is None for p in t.parameters())


def test_progressive_teachers_train_augmented_but_predict_on_stored_clips() -> None:
    """teacher_augment acts in the teachers' own epochs only: the targets the student
    distils from are the teachers' outputs on the clips as stored, as with frozen teachers."""
    task, student, teachers = _task(progressive=True)

    def mark(x, rng):  # an "augmentation" the Recorder can see: sample index + 1000
        x = x.copy()
        x[:, 0] += 1000
        return x

    task.teacher_augment = {"sk": mark, "fu": mark}
    task.train_epoch(_data(), np.arange(24), epoch=0, seed=0)
    for t in teachers:  # 3 training batches, then 3 predicting batches for the student
        train_ids, target_ids = sum(t.seen[:3], []), t.seen[3:]
        assert sorted(train_ids) == list(range(1000, 1024))
        assert target_ids == student.seen  # stored clips, the student's batches


def test_k_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="distill.k"):
        student = Recorder()
        DistillTask("s", student, "acc", [], [], build_loss("ce", {"ce": 1}),
                    OptimConfig(), 1, 8, k=0)


@pytest.fixture(scope="module")
def tiny_project(request, tmp_path_factory) -> tuple[Path, dict]:
    """A tiny synthetic dataset fused and rendered, with fast settings, in a temp cwd."""
    root = module_dir(request, tmp_path_factory, "distill")
    params = base_params(data__actions=[1, 22, 27], synthetic__subjects=2)
    params = apply_profile(params)
    params["fuse"].update(skeleton_frames=16, inertial_steps=32)
    params["gaf"]["image_size"] = 16
    params["teacher"].update(channels=[8, 8], strides=[1, 1], epochs=2, batch_size=8)
    params["student"].update(epochs=2, batch_size=8)
    params["train"]["validation"]["fraction"] = 0.3
    params["mlflow"]["tracking_uri"] = f"sqlite:///{root / 'mlflow.db'}"
    params["mlflow"]["log_models"] = False  # six ResNet18 copies would take 260 MB
    cwd = Path.cwd()
    import os

    os.chdir(root)
    try:
        fetch_dataset(params, "data/raw")
        fuse_dataset(params, "data/raw/utd_mhad", "data/fused/utd_mhad.h5")
        gaf_dataset("data/fused/utd_mhad.h5", "data/gaf/utd_mhad.h5", image_size=16,
                    methods=["gasf"])
    finally:
        os.chdir(cwd)
    return root, params


def test_short_distillation_runs_end_to_end(tiny_project, monkeypatch) -> None:
    root, params = tiny_project
    monkeypatch.chdir(root)
    from crosskd.data.fused_h5 import read_fused
    from crosskd.training.builders import student_spec, teacher_spec

    data = read_fused("data/fused/utd_mhad.h5")
    for kind in ("sk", "fu"):
        train_supervised(params, data, teacher_spec(kind, params, data), "teacher", 0,
                         f"train_teacher@{kind}-0")
    train_supervised(params, data, student_spec(params, data), "student", 0, "train_student@0")
    params["teacher"]["epochs"] = 5  # train_teacher's setting; distillation must not use it
    for method, schedule in (("acs", "pretrained"), ("acs", "progressive"), ("fitnet",
                                                                              "pretrained")):
        m = distill_run(params, method, schedule, 0, f"d@{method}-{schedule}")
        assert 0.0 <= m["accuracy"] <= 1.0 and m["test_clips"] == 12
        curve = (root / f"plots/distill/{m['variant']}_s0.csv").read_text().splitlines()
        header = curve[0].split(",")
        assert len(curve) == 3  # header + 2 epochs
        assert ("loss_mk" in header) == (method == "acs")  # ACS's multi-teacher term
        assert ("loss_hint" in header) == (method == "fitnet")
        values = [float(v) for v in curve[-1].split(",")[1:]]
        assert np.isfinite(values).all()
    # Checkpoints are for crash recovery: gone once a run's outputs are written.
    assert not list((root / "checkpoints").glob("*"))
    client = MlflowClient(tracking_uri=params["mlflow"]["tracking_uri"])
    runs = client.search_runs([client.get_experiment_by_name("crosskd").experiment_id])
    stages = {r.data.tags.get("stage") for r in runs}
    assert {"d@acs-pretrained", "d@acs-progressive", "train_teacher@fu-0"} <= stages
    prog = next(r for r in runs if r.data.tags.get("stage") == "d@acs-progressive")
    assert "teacher0_loss" in prog.data.metrics and "test_accuracy" in prog.data.metrics
    # What `python -m crosskd.compare` shows beside the test figures: the selected epoch.
    selected = json.loads((root / "metrics/distill/acs_progressive_s0.json").read_text())
    assert prog.data.metrics["selected_val_accuracy"] == pytest.approx(selected["val_accuracy"],
                                                                   abs=1e-6)
    assert prog.data.metrics["selected_epoch"] == selected["selected_epoch"]
    # Progressive teachers train student epochs x k (train_teacher's 5 are not theirs).
    assert prog.data.params["teacher.epochs"] == str(
        params["student"]["epochs"] * params["distill"]["k"])
    # Curves are logged; the model files stay in models/ only (mlflow.log_models off).
    assert [a.path for a in client.list_artifacts(prog.info.run_id)] == ["curves"]
    with pytest.raises(ConfigError, match="unknown distillation method 'dkd'"):
        distill_run(params, "dkd", "pretrained", 0, "x")
    bad = copy.deepcopy(params)
    bad["distill"]["cache_teacher_outputs"] = "false"  # not silently on
    with pytest.raises(ConfigError, match="distill.cache_teacher_outputs must be true or false"):
        distill_run(bad, "kd", "pretrained", 0, "x")
    # A teacher trained for another protocol may have seen this run's test clips: refused.
    from crosskd.data.fused_h5 import read_protocol
    from crosskd.training.checkpoint import load_checkpoint, save_checkpoint

    path = root / "models/teacher_sk/s0/model.pt"
    record = load_checkpoint(path)
    assert record["protocol"] == read_protocol("data/fused/utd_mhad.h5", "default")
    save_checkpoint(path, {**record, "protocol": "trial_split"})
    with pytest.raises(DataError, match="teacher made for"):
        distill_run(params, "kd", "pretrained", 0, "y")


def test_report_mean_std_and_same_seed_gain(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    fused = tmp_path / "data/fused/utd_mhad.h5"  # the report reads only its protocols
    fused.parent.mkdir(parents=True)
    with h5py.File(fused, "w") as f:
        f.attrs["default_protocol"] = "cross_subject"
        for name in ("cross_subject", "trial_split"):
            f.create_dataset(f"splits/{name}/train", data=np.ones(2, bool))
    acc = {"teacher_sk": [0.9, 0.8], "teacher_fu": [0.95, 0.85],
           "student_baseline": [0.70, 0.80]}
    for model, values in acc.items():
        for seed, a in enumerate(values):
            p = tmp_path / f"metrics/eval/{model}_s{seed}.json"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(json.dumps({"accuracy": a, "macro_f1": a - 0.1,
                                     "protocol": "trial_split"}))
    for seed, a in enumerate([0.75, 0.81]):
        p = tmp_path / f"metrics/distill/acs_progressive_s{seed}.json"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps({"accuracy": a, "macro_f1": a, "seed": seed,
                                 "protocol": "trial_split", "wall_seconds": 10.0}))
    params = {"train": {"seeds": [0, 1], "protocol": "trial_split"},
              "data": {"dataset": "utd_mhad"}, "student": {"model": "temporal_cnn"},
              "distill": {"pretrained": [], "progressive": ["acs"]}}
    report = build_report(params)
    row = report["rows"]["acs_progressive"]
    assert row["accuracy_mean"] == pytest.approx(78.0)
    assert row["accuracy_std"] == pytest.approx(np.std([75, 81], ddof=1), abs=1e-3)
    assert row["gain_mean"] == pytest.approx(3.0)  # (+5, +1) over the same-seed baseline
    assert row["gain_std"] == pytest.approx(np.std([5, 1], ddof=1), abs=1e-3)
    assert row["paper_accuracy"] == 95.19
    assert report["rows"]["teacher_fu"]["accuracy_mean"] == pytest.approx(90.0)
    md = to_markdown(report)
    assert "| acs_progressive | distill (progressive) | 78.00 \u00b1 4.24 |" in md
    assert md.startswith("Ablation on utd_mhad (trial_split), student temporal_cnn, seeds [0, 1]")
    for protocol in ("cross_subject", "default"):  # default: the fused file's cross_subject
        params["train"]["protocol"] = protocol
        with pytest.raises(DataError, match="protocol 'trial_split' differs from train.protocol "
                           "'cross_subject'"):
            build_report(params)
    params["train"]["protocol"] = "trial_split"
    bad = tmp_path / "metrics/distill/acs_progressive_s1.json"
    for content, message in (('{"accuracy": 0.8', "not valid JSON"),
                             ("[0.8]", "expected a JSON object, got list"),
                             ('{"accuracy": "0.8", "macro_f1": 0.8}',
                              "accuracy must be a finite number, got '0.8'"),
                             ('{"accuracy": NaN, "macro_f1": 0.8}',
                              "accuracy must be a finite number, got nan")):
        bad.write_text(content)
        with pytest.raises(DataError, match=rf"acs_progressive_s1\.json: {message}"):
            build_report(params)


def test_watch_class_student_trains_and_distils(tiny_project, monkeypatch) -> None:
    """student.model = temporal_cnn: raw accelerometer windows, training-split statistics
    inside the model, augmentation on, every schedule works (1-D maps vs GCN maps)."""
    import copy

    from crosskd.data.fused_h5 import read_fused
    from crosskd.training.builders import load_model, student_spec, teacher_spec
    from crosskd.training.supervised import split_for

    root, base = tiny_project
    monkeypatch.chdir(root)
    params = copy.deepcopy(base)
    params["student"]["model"] = "temporal_cnn"
    params["student"]["temporal_cnn"].update(window=32, widths=[8, 16], channels="acc_gyro")
    data = read_fused("data/fused/utd_mhad.h5")
    for kind in ("sk", "fu"):  # fresh teachers: another test may have altered the files
        train_supervised(params, data, teacher_spec(kind, params, data), "teacher", 0, f"t{kind}")
    spec = student_spec(params, data)
    assert spec.modality == "inertial" and spec.kwargs["in_channels"] == 6
    train_supervised(params, data, spec, "student", 0, "train_student@0")
    _, model, _ = load_model(root / "models/student_baseline/s0/model.pt")
    split = split_for(params, data, 0)
    train_windows = data.inertial[split.train]  # (n, T_i, 6): the resampling keeps the mean
    np.testing.assert_allclose(model.input_mean.numpy()[:3],
                               train_windows[:, :, :3].mean(axis=(0, 1)), atol=2e-2)
    for method, schedule in (("fitnet", "pretrained"), ("acs", "progressive")):
        m = distill_run(params, method, schedule, 0, f"tcnn@{method}")
        assert 0.0 <= m["accuracy"] <= 1.0
    params["student"]["augment"] = {"scale": 0.1, "wobble": 1.0}
    with pytest.raises(ConfigError, match="wobble"):
        train_supervised(params, data, spec, "student", 0, "x")


def test_teacher_augmentation_where_teachers_train(tiny_project, monkeypatch) -> None:
    """teacher.augment reaches the teachers wherever they train (train_teacher, the
    progressive schedule), with the fused clip's IMU node kept apart from the body joints;
    frozen pretrained teachers are given the clips unaltered."""
    import copy

    from crosskd.data.fused_h5 import read_fused
    from crosskd.training import augment as augment_module
    from crosskd.training.builders import teacher_spec
    from crosskd.training.supervised import split_for

    root, base = tiny_project
    monkeypatch.chdir(root)
    params = copy.deepcopy(base)
    assert params["teacher"]["augment"]["rotate_deg"] > 0  # on by default (params.yaml)
    seen: list[tuple[int, int]] = []
    clips: list[int] = []
    real = augment_module.build_skeleton_augment

    def spy(cfg, body_joints, section="teacher.augment"):
        fn = real(cfg, body_joints, section)
        if fn is None:
            return None

        def wrapped(x, rng):
            seen.append((x.shape[3], body_joints))
            clips.append(len(x))
            return fn(x, rng)
        return wrapped

    monkeypatch.setattr(augment_module, "build_skeleton_augment", spy)
    data = read_fused("data/fused/utd_mhad.h5")
    joints = data.skeleton.shape[3]
    train_supervised(params, data, teacher_spec("fu", params, data), "teacher", 0, "aug@fu")
    assert seen and set(seen) == {(joints + 1, joints)}
    seen.clear()
    train_supervised(params, data, teacher_spec("sk", params, data), "teacher", 0, "aug@sk")
    assert seen and set(seen) == {(joints, joints)}
    seen.clear()
    distill_run(params, "kd", "pretrained", 0, "aug@kd")
    assert seen == []
    clips.clear()
    distill_run(params, "acs", "progressive", 0, "aug@acs")
    assert set(seen) == {(joints, joints), (joints + 1, joints)}
    # only in the teachers' own epochs: each teacher, each epoch, each training clip once
    # (none in the student's epochs, whose targets are on the stored clips)
    n_train, batch = len(split_for(params, data, 0).train), params["teacher"]["batch_size"]
    per_epoch = n_train - (1 if n_train % batch == 1 else 0)  # a lone last clip is skipped
    epochs = params["student"]["epochs"] * params["distill"]["k"]
    assert sum(clips) == 2 * epochs * per_epoch
    seen.clear()
    params["teacher"]["augment"] = {"scale": 0, "rotate_deg": 0, "time_warp": 0}
    train_supervised(params, data, teacher_spec("sk", params, data), "teacher", 0, "aug@off")
    assert seen == []
