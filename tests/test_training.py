"""The training loop: learning, resume, validation-only selection, errors, checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from crosskd.data.fused_h5 import FusedData
from crosskd.errors import ConfigError, DataError
from crosskd.models import build_model
from crosskd.models.output import ModelOutput
from crosskd.training.batches import PairedArrays
from crosskd.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from crosskd.training.loop import (
    FitConfig,
    SupervisedTask,
    TrainingError,
    fit,
    predict_logits,
)
from crosskd.training.metrics import full_report
from crosskd.training.optim import OptimConfig
from crosskd.training.splits import Split, make_split, split_from_params, subject_folds

K = 3


def toy_data(n_per_class: int = 40, seed: int = 0) -> PairedArrays:
    """Skeleton clips whose class is a constant offset of one joint: separable."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(K), n_per_class)
    x = rng.normal(scale=0.3, size=(len(labels), 3, 8, 20)).astype(np.float32)
    for c in range(K):
        x[labels == c, c, :, 11] += 2.0  # right_wrist moves along axis c
    ids = np.array([f"clip{i}" for i in range(len(labels))])
    return PairedArrays({"skeleton": x}, labels, ids)


def toy_split(n: int) -> Split:
    idx = np.arange(n)
    return Split(train=idx[idx % 4 < 2], val=idx[idx % 4 == 2], test=idx[idx % 4 == 3])


def tiny_task(epochs: int, lr: float = 0.05) -> SupervisedTask:
    torch.manual_seed(0)
    model = build_model("agcn", num_classes=K, layout="kinect_v1", channels=[16, 16],
                        strides=[1, 1], dropout=0.2)
    return SupervisedTask("toy", model, "skeleton", OptimConfig(lr=lr), epochs, 8)


def test_short_training_beats_chance(tmp_path) -> None:
    data = toy_data()
    split = toy_split(len(data.labels))
    result = fit(tiny_task(3), data, split, FitConfig(epochs=3, batch_size=8, seed=0),
                 tmp_path, num_classes=K)
    assert result.best_val["val_accuracy"] > 0.8  # chance is 1/3
    assert [h["epoch"] for h in result.history] == [1, 2, 3]
    assert (tmp_path / "last.pt").is_file() and (tmp_path / "best.pt").is_file()


def test_interrupted_then_resumed_equals_uninterrupted(tmp_path) -> None:
    data = toy_data()
    split = toy_split(len(data.labels))
    cfg = FitConfig(epochs=4, batch_size=8, seed=3)
    full_task = tiny_task(4)
    full = fit(full_task, data, split, cfg, tmp_path / "full", num_classes=K)

    def interrupt(epoch: int, row: dict) -> None:
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(tiny_task(4), data, split, cfg, tmp_path / "cut", num_classes=K, on_epoch=interrupt)
    assert load_checkpoint(tmp_path / "cut" / "last.pt")["epoch"] == 2
    resumed_task = tiny_task(4)  # a fresh process: new model, same seed
    logged: list[tuple[int, float]] = []  # what the new run's MLflow record gets
    resumed = fit(resumed_task, data, split, cfg, tmp_path / "cut", num_classes=K,
                  on_epoch=lambda e, row: logged.append((e, row["val_loss"])))
    assert resumed.resumed_from == 2
    assert logged == [(h["epoch"], h["val_loss"]) for h in full.history]  # all 4 epochs
    assert [h["val_loss"] for h in resumed.history] == [h["val_loss"] for h in full.history]
    assert resumed.best_epoch == full.best_epoch
    for a, b in zip(full_task.model.state_dict().values(),
                    resumed_task.model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_selection_never_reads_test_indices(tmp_path) -> None:
    data = toy_data()
    split = toy_split(len(data.labels))
    seen: set[int] = set()
    original = data.batches

    def spy(indices, *args, **kwargs):
        seen.update(np.asarray(indices).tolist())
        return original(indices, *args, **kwargs)

    data.batches = spy  # type: ignore[method-assign]
    fit(tiny_task(2), data, split, FitConfig(epochs=2, batch_size=8, seed=0), tmp_path,
        num_classes=K)
    assert seen == set(split.train.tolist()) | set(split.val.tolist())
    assert not seen & set(split.test.tolist())


def test_nan_loss_is_a_clear_error_and_keeps_checkpoint(tmp_path) -> None:
    data = toy_data()
    split = toy_split(len(data.labels))
    cfg = FitConfig(epochs=2, batch_size=8, seed=0)
    fit(tiny_task(1), data, split, FitConfig(epochs=1, batch_size=8, seed=0), tmp_path,
        num_classes=K)
    before = (tmp_path / "last.pt").read_bytes()
    data.arrays["skeleton"][split.train[0]] = np.nan
    with pytest.raises(TrainingError, match=r"toy epoch 1 batch \d+: loss is nan"):
        fit(tiny_task(2), data, split, cfg, tmp_path, num_classes=K)
    assert (tmp_path / "last.pt").read_bytes() == before


def test_resume_modes_and_bad_checkpoints(tmp_path) -> None:
    data = toy_data()
    split = toy_split(len(data.labels))
    with pytest.raises(CheckpointError, match="last.pt: checkpoint is missing"):
        fit(tiny_task(1), data, split, FitConfig(epochs=1, batch_size=8, seed=0,
                                                 resume="require"), tmp_path, num_classes=K)
    with pytest.raises(ConfigError, match="resume"):
        FitConfig(epochs=1, batch_size=8, seed=0, resume="maybe")
    (tmp_path / "last.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        fit(tiny_task(1), data, split, FitConfig(epochs=1, batch_size=8, seed=0), tmp_path,
            num_classes=K)
    # A checkpoint made with other parameters is not resumed from under "auto".
    save_checkpoint(tmp_path / "last.pt", {"fingerprint": "other", "epoch": 1})
    result = fit(tiny_task(1), data, split, FitConfig(epochs=1, batch_size=8, seed=0),
                 tmp_path, num_classes=K)
    assert result.resumed_from == 0


def test_checkpoint_loading_is_weights_only(tmp_path) -> None:
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(tmp_path / "evil.pt")
    # torch's reason, not its advice to load the file's code anyway, nor its colour codes
    assert str(err.value) == (f"{tmp_path / 'evil.pt'}: not a readable checkpoint "
                              "(UnpicklingError: Unsupported global: GLOBAL print was not an "
                              "allowed global by default); delete it and re-run the stage that "
                              "writes it")


def _fused(subjects, trials, labels) -> FusedData:
    n = len(labels)
    return FusedData(
        skeleton=np.zeros((n, 3, 4, 20), np.float32), inertial=np.zeros((n, 8, 6), np.float32),
        label=np.array(labels), action=np.array(labels) + 1, subject=np.array(subjects),
        trial=np.array(trials), sample_id=np.array([f"c{i}" for i in range(n)]),
        class_names=["a", "b"],
        splits={"cross_subject": np.array(subjects) % 2 == 1,
                "trial_split": np.isin(trials, [1, 2])},
        attrs={})


def test_a_protocol_side_with_no_clips_is_an_error_before_training() -> None:
    data = _fused([1, 3, 5, 7], [1, 1, 1, 1], [0, 1, 0, 1])  # odd subjects: all training
    data.path = Path("data/fused/utd_mhad.h5")  # as read_fused sets it: the error names it
    with pytest.raises(DataError, match=r"^data/fused/utd_mhad\.h5: the cross_subject split "
                       r"has no test clips \(of 4\)"):
        make_split(data, "cross_subject", val_fraction=0.25, val_group="clip", seed=0)
    data = _fused([2, 4], [3, 4], [0, 1])  # trials 3-4: all test
    with pytest.raises(DataError, match="trial_split split has no training clips"):
        make_split(data, "trial_split", val_fraction=0.0, val_group="clip", seed=0)


def test_validation_is_carved_from_training_side_only() -> None:
    subjects = np.repeat([1, 2, 3, 4, 5, 6, 7, 8], 8)
    trials = np.tile(np.repeat([1, 2, 3, 4], 2), 8)
    labels = np.tile([0, 1], 32)
    data = _fused(subjects, trials, labels)
    for protocol in ("cross_subject", "trial_split"):
        for group in ("clip", "subject"):
            s = make_split(data, protocol, val_fraction=0.25, val_group=group, seed=1)
            train_side = np.flatnonzero(data.splits[protocol])
            assert set(s.val) <= set(train_side) and set(s.train) <= set(train_side)
            assert set(s.test) == set(np.flatnonzero(~data.splits[protocol]))
            assert len(s.val) > 0 and set(s.train) | set(s.val) == set(train_side)
    s = make_split(data, "cross_subject", val_fraction=0.25, val_group="subject", seed=1)
    assert len(set(data.subject[s.val])) == 1
    assert not set(data.subject[s.val]) & set(data.subject[s.train])
    s = make_split(data, "trial_split", val_fraction=0.25, val_group="clip", seed=1)
    assert set(data.label[s.val]) == {0, 1}  # stratified
    with pytest.raises(ConfigError, match="protocol 'loso'"):
        make_split(data, "loso", val_fraction=0.2, val_group="clip", seed=0)


def test_subject_folds_hold_out_every_training_subject_once() -> None:
    subjects = np.repeat([1, 2, 3, 4, 5, 6, 7, 8], 8)
    trials = np.tile(np.repeat([1, 2, 3, 4], 2), 8)
    data = _fused(subjects, trials, np.tile([0, 1], 32))
    # cross_subject trains on 1, 3, 5, 7; fraction 0.25 -> one subject per fold, 4 folds
    assert subject_folds(data, "cross_subject", 0.25) == 4
    held = []
    for fold in range(4):
        s = make_split(data, "cross_subject", val_fraction=0.25, val_group="subject",
                       seed=fold + 10, fold=fold)
        held.append(sorted(set(data.subject[s.val].tolist())))
        assert not set(data.subject[s.val]) & set(data.subject[s.train])
        # the fold, not the seed, picks the subjects
        again = make_split(data, "cross_subject", val_fraction=0.25, val_group="subject",
                           seed=0, fold=fold)
        np.testing.assert_array_equal(again.val, s.val)
    assert held == [[1], [3], [5], [7]]
    # trial_split trains on all 8 subjects: blocks of 2
    assert subject_folds(data, "trial_split", 0.25) == 4
    s = make_split(data, "trial_split", val_fraction=0.25, val_group="subject", seed=0, fold=3)
    assert set(data.subject[s.val].tolist()) == {7, 8}
    with pytest.raises(ConfigError, match="fold 4 is out of range.*folds 0..3"):
        make_split(data, "cross_subject", val_fraction=0.25, val_group="subject", seed=0,
                   fold=4)
    with pytest.raises(ConfigError, match="fold needs train.validation.group: subject"):
        make_split(data, "trial_split", val_fraction=0.25, val_group="clip", seed=0, fold=0)
    params = {"train": {"validation": {"fraction": 0.25, "group": "subject", "fold": 2}}}
    np.testing.assert_array_equal(split_from_params(params, data, "cross_subject", 1).val,
                                  np.flatnonzero(data.subject == 5))
    params["train"]["validation"]["fold"] = "2"
    with pytest.raises(ConfigError, match="fold must be null or an integer, got '2'"):
        split_from_params(params, data, "cross_subject", 1)


def test_batches_pair_every_modality_by_index() -> None:
    n = 10
    ids = np.array([f"s{i}" for i in range(n)])
    data = PairedArrays({"a": np.arange(n, dtype=np.float32)[:, None],
                         "b": -np.arange(n, dtype=np.float32)[:, None]}, np.arange(n) % 2, ids)
    for batch in data.batches(np.arange(n), 4, shuffle=True, seed=5, train=True):
        idx = batch["idx"].numpy()
        np.testing.assert_array_equal(batch["a"][:, 0].numpy(), idx)
        np.testing.assert_array_equal(batch["b"][:, 0].numpy(), -idx)
        np.testing.assert_array_equal(batch["y"].numpy(), idx % 2)


def test_require_resumes_a_run_started_with_auto(tmp_path) -> None:
    data = toy_data()
    split = toy_split(len(data.labels))

    def interrupt(epoch: int, row: dict) -> None:
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(tiny_task(2), data, split, FitConfig(epochs=2, batch_size=8, seed=0), tmp_path,
            num_classes=K, on_epoch=interrupt)
    result = fit(tiny_task(2), data, split, FitConfig(epochs=2, batch_size=8, seed=0,
                                                      resume="require"), tmp_path, num_classes=K)
    assert result.resumed_from == 1


def test_a_real_change_of_params_or_inputs_voids_the_checkpoint(tmp_path) -> None:
    # run_config is what the stages pass: their params and the sha256 of their input files.
    data = toy_data()
    split = toy_split(len(data.labels))
    run = {"student": {"lr": 0.05}, "inputs": {"data/fused/x.h5": "ab12"}}

    def interrupt(epoch: int, row: dict) -> None:
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(tiny_task(2), data, split, FitConfig(epochs=2, batch_size=8, seed=0), tmp_path,
            num_classes=K, run_config=run, on_epoch=interrupt)
    require = FitConfig(epochs=2, batch_size=8, seed=0, resume="require")
    for changed in ({**run, "student": {"lr": 0.1}}, {**run, "inputs": {"data/fused/x.h5": "cd"}}):
        with pytest.raises(CheckpointError, match="made with other parameters"):
            fit(tiny_task(2), data, split, require, tmp_path, num_classes=K, run_config=changed)
    same = {"inputs": {"data/fused/x.h5": "ab12"}, "student": {"lr": 0.05}}  # other key order
    assert fit(tiny_task(2), data, split, require, tmp_path, num_classes=K,
               run_config=same).resumed_from == 1


def test_label_smoothing_is_applied_to_the_supervised_loss() -> None:
    # Same weights (lr 0), batches and dropout masks: the smoothed loss is the mix
    # (1 - s) * CE + s * (cross-entropy against uniform targets), which is the s = 1 loss.
    data = toy_data()
    idx = np.arange(len(data.labels))
    losses = {}
    for smoothing in (0.0, 0.3, 1.0):
        task = tiny_task(1, lr=0.0)
        task.label_smoothing = smoothing
        torch.manual_seed(1)
        losses[smoothing] = task.train_epoch(data, idx, 0, seed=0)["loss"]
    assert losses[1.0] != pytest.approx(losses[0.0], abs=1e-3)
    assert losses[0.3] == pytest.approx(0.7 * losses[0.0] + 0.3 * losses[1.0], rel=1e-5)


def test_empty_validation_is_an_error(tmp_path) -> None:
    data = toy_data()
    idx = np.arange(len(data.labels))
    split = Split(train=idx[::2], val=np.array([], dtype=int), test=idx[1::2])
    with pytest.raises(ConfigError, match="validation split is empty.*select: last"):
        fit(tiny_task(1), data, split, FitConfig(epochs=1, batch_size=8, seed=0), tmp_path,
            num_classes=K)
    with pytest.raises(ConfigError, match="leaves no validation clips"):
        make_split(_fused([1, 3, 2], [1, 1, 1], [0, 1, 0]), "cross_subject", val_fraction=0.1,
                   val_group="clip", seed=0)


def test_select_last_keeps_the_final_epoch_and_refits_without_validation(tmp_path) -> None:
    data = toy_data()
    split = toy_split(len(data.labels))
    # Validation labels that carry no signal: the best epoch is then an early one.
    data.labels[split.val] = np.random.default_rng(0).permutation(data.labels[split.val])
    best_task, last_task = tiny_task(4, lr=0.5), tiny_task(4, lr=0.5)
    best = fit(best_task, data, split, FitConfig(epochs=4, batch_size=8, seed=0),
               tmp_path / "best", num_classes=K)
    last = fit(last_task, data, split, FitConfig(epochs=4, batch_size=8, seed=0, select="last"),
               tmp_path / "last", num_classes=K)
    # Same training either way; only what is handed back differs.
    assert [h["val_loss"] for h in last.history] == [h["val_loss"] for h in best.history]
    assert last.best_epoch == 4
    assert last.best_val == {k: v for k, v in last.history[-1].items() if k.startswith("val_")}
    assert not (tmp_path / "last" / "best.pt").exists()
    final = load_checkpoint(tmp_path / "last" / "last.pt")["states"]["model"]
    for key, value in last_task.model.state_dict().items():
        torch.testing.assert_close(value, final[key], rtol=0, atol=0)
    assert best.best_epoch == 1  # so the default hands back other weights than the last
    assert any(not torch.equal(v, final[k]) for k, v in best_task.model.state_dict().items())

    # fraction 0: the whole training side trains, nothing is validated, the last epoch is kept
    fused = _fused(np.repeat([1, 2, 3, 4], 6), np.tile([1, 2, 3], 8), np.tile([0, 1], 12))
    for protocol in ("cross_subject", "trial_split"):
        s = make_split(fused, protocol, val_fraction=0.0, val_group="subject", seed=0)
        np.testing.assert_array_equal(s.train, np.flatnonzero(fused.splits[protocol]))
        np.testing.assert_array_equal(s.test, np.flatnonzero(~fused.splits[protocol]))
        assert len(s.val) == 0
    idx = np.arange(len(data.labels))
    refit_split = Split(train=idx[idx % 4 < 3], val=np.array([], dtype=int),
                        test=idx[idx % 4 == 3])
    refit = fit(tiny_task(2), data, refit_split,
                FitConfig(epochs=2, batch_size=8, seed=0, select="last"), tmp_path / "refit",
                num_classes=K)
    assert refit.best_epoch == 2 and refit.best_val == {}
    assert not any(k.startswith("val_") for h in refit.history for k in h)
    with pytest.raises(ConfigError, match="fold needs a validation split"):
        make_split(fused, "cross_subject", val_fraction=0.0, val_group="subject", seed=0,
                   fold=0)
    with pytest.raises(ConfigError, match=r"validation fraction must be in \[0, 1\)"):
        make_split(fused, "cross_subject", val_fraction=-0.1, val_group="clip", seed=0)
    with pytest.raises(ConfigError, match="train.validation.select must be one of"):
        FitConfig(epochs=1, batch_size=8, seed=0, select="median")


def test_macro_f1_ignores_classes_absent_from_labels_and_predictions() -> None:
    from crosskd.training.metrics import summary

    s = summary(np.array([0, 0, 1, 1]), np.array([0, 0, 1, 0]), num_classes=5)
    # Per class: F1(0) = 2*(2/3*1)/(2/3+1) = 0.8, F1(1) = 2*(1*0.5)/1.5 = 2/3; classes 2-4
    # never occur and are not averaged in as zeros.
    assert s["macro_f1"] == pytest.approx((0.8 + 2 / 3) / 2)
    assert s["accuracy"] == 0.75


def test_refit_resumes_and_a_finished_run_hands_back_its_last_epoch(tmp_path) -> None:
    data = toy_data()
    idx = np.arange(len(data.labels))
    split = Split(train=idx[idx % 4 < 3], val=np.array([], dtype=int), test=idx[idx % 4 == 3])
    cfg = FitConfig(epochs=3, batch_size=8, seed=2, select="last")
    full_task = tiny_task(3)
    fit(full_task, data, split, cfg, tmp_path / "full", num_classes=K)

    def interrupt(epoch: int, row: dict) -> None:
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(tiny_task(3), data, split, cfg, tmp_path / "cut", num_classes=K, on_epoch=interrupt)
    resumed_task = tiny_task(3)
    resumed = fit(resumed_task, data, split, cfg, tmp_path / "cut", num_classes=K)
    # A finished run called again trains nothing and still hands back the last epoch.
    again_task = tiny_task(3)
    again = fit(again_task, data, split, cfg, tmp_path / "cut", num_classes=K)
    assert (resumed.resumed_from, again.resumed_from, again.best_epoch) == (2, 3, 3)
    for task in (resumed_task, again_task):
        for a, b in zip(full_task.model.state_dict().values(),
                        task.model.state_dict().values(), strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
    params = {"train": {"validation": {"fraction": 0, "group": "clip", "select": "best"}}}
    with pytest.raises(ConfigError, match="fraction 0 leaves no validation split.*select: last"):
        split_from_params(params, _fused([1, 3], [1, 1], [0, 1]), "cross_subject", 0)


def test_full_report_rows_are_actual_classes_and_columns_predictions() -> None:
    # 3 x "a" (2 right, 1 called "b"), 2 x "b" (both right), 1 x "c" (called "a").
    y = np.array([0, 0, 0, 1, 1, 2])
    pred = np.array([0, 0, 1, 1, 1, 0])
    report = full_report(y, pred, ["a", "b", "c"])
    assert report["confusion"] == [[2, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert report["accuracy"] == pytest.approx(4 / 6)
    a, b, c = (report["per_class"][k] for k in "abc")
    assert (a["precision"], a["recall"], a["support"]) == (pytest.approx(2 / 3), 2 / 3, 3)
    assert (b["precision"], b["recall"], b["support"]) == (pytest.approx(2 / 3), 1.0, 2)
    assert (c["precision"], c["recall"], c["f1"], c["support"]) == (0.0, 0.0, 0.0, 1)
    assert b["f1"] == pytest.approx(2 * (2 / 3) * 1.0 / (2 / 3 + 1.0))
    assert report["macro_f1"] == pytest.approx((a["f1"] + b["f1"] + c["f1"]) / 3)


def test_batches_go_to_the_training_device_and_indices_stay_on_the_cpu() -> None:
    # "meta" stands in for a GPU on a CPU-only machine: a tensor's device is all it checks.
    data = toy_data(4)
    data.device = "meta"
    batch = next(data.batches(np.arange(6), 4, train=True))
    assert batch["skeleton"].device.type == "meta" and batch["y"].device.type == "meta"
    assert batch["idx"].device.type == "cpu"  # FrozenTeacherOutputs.gather reads it in numpy
    assert batch["idx"].tolist() == [0, 1, 2, 3]


def test_predict_logits_feeds_the_model_on_its_device() -> None:
    seen = []

    class Probe(torch.nn.Module):  # weights on "meta" (a stand-in GPU); records its input
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones((), device="meta"))

        def forward(self, x):
            seen.append(x.device.type)
            return ModelOutput(torch.zeros(len(x), K), torch.zeros(len(x), 2), {})

    logits = predict_logits(Probe(), toy_data(4), np.arange(12), "skeleton")
    assert seen == ["meta"] and logits.shape == (12, K) and logits.device.type == "cpu"


def test_training_device_from_params() -> None:
    from crosskd.errors import ConfigError
    from crosskd.training.builders import training_device

    gpu = torch.cuda.is_available()
    assert training_device({"train": {"device": "auto"}}).type == ("cuda" if gpu else "cpu")
    assert training_device({"train": {}}).type == ("cuda" if gpu else "cpu")  # older params
    assert training_device({"train": {"device": "cpu"}}).type == "cpu"
    if not gpu:
        with pytest.raises(ConfigError, match="train.device is cuda, but torch sees no CUDA"):
            training_device({"train": {"device": "cuda"}})
    with pytest.raises(ConfigError, match=r"train.device must be one of \['auto', 'cpu', "
                       r"'cuda'\], got 'gpu'"):
        training_device({"train": {"device": "gpu"}})
