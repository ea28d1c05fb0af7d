"""From params to models and inputs: which model, which modality, which arrays.

Modalities (the names batches carry): ``skeleton`` (N, 3, T, V), ``fused`` (skeleton + IMU
nodes, N, 3, T, V + k), ``gasf`` / ``gadf`` (N, 3, S, S GAF images), ``inertial`` (N, C, L
raw accelerometer (+ gyroscope) windows for the watch-class student). All are indexed like
the fused file, so one index array pairs them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from crosskd.config import boolean, choice, get, number, positive_int
from crosskd.data.fused_h5 import FusedData, read_fused
from crosskd.data.fusion import fused_teacher_input, imu_node_count
from crosskd.data.gaf import read_gaf
from crosskd.data.resample import resample_time
from crosskd.errors import ConfigError, DataError
from crosskd.models import build_model
from crosskd.training import paths
from crosskd.training.checkpoint import load_checkpoint, save_checkpoint
from crosskd.training.loop import FitConfig
from crosskd.training.optim import OptimConfig

log = logging.getLogger(__name__)

TEACHERS = {"sk": "skeleton", "fu": "fused"}


@dataclass(frozen=True)
class ModelSpec:
    """A buildable model: registry name, constructor arguments and its input modality."""

    name: str  # run name stem, e.g. teacher_sk, student_baseline
    model: str  # registry name
    kwargs: dict[str, Any]
    modality: str

    def build(self, *, initial_weights: bool = True) -> nn.Module:
        """The model; ``initial_weights=False`` skips loading ``weights_path`` (a saved
        model's state_dict holds every weight, and the file may be gone since)."""
        kwargs = dict(self.kwargs)
        if not initial_weights and "weights_path" in kwargs:
            kwargs["weights_path"] = None
        return build_model(self.model, **kwargs)


def teacher_spec(kind: str, params: dict[str, Any], data: FusedData) -> ModelSpec:
    if kind not in TEACHERS:
        raise ConfigError(f"unknown teacher {kind!r}; known: {sorted(TEACHERS)}")
    imu = choice(params, "teacher.imu", ("acc", "acc_gyro"))
    return ModelSpec(
        name=f"teacher_{kind}",
        model="agcn",
        kwargs={
            "num_classes": data.num_classes,
            "layout": data.layout,
            "channels": list(get(params, "teacher.channels")),
            "strides": list(get(params, "teacher.strides")),
            "imu_nodes": imu_node_count(imu) if kind == "fu" else 0,
            "embedding_dim": get(params, "teacher.embedding_dim"),
            "dropout": number(params, "teacher.dropout", low=0, high=1),
        },
        modality=TEACHERS[kind],
    )


STUDENTS = ("gaf_resnet18", "temporal_cnn")


def student_spec(params: dict[str, Any], data: FusedData, name: str = "student_baseline"
                 ) -> ModelSpec:
    """The papers' GAF ResNet18, or the watch-class temporal CNN on the raw accelerometer."""
    model = get(params, "student.model")
    if model not in STUDENTS:
        raise ConfigError(f"params.yaml: student.model {model!r} is not known; "
                          f"known: {list(STUDENTS)}")
    if model == "temporal_cnn":
        tc = get(params, "student.temporal_cnn")
        return ModelSpec(
            name=name,
            model=model,
            kwargs={"num_classes": data.num_classes,
                    "in_channels": 3 if tc["channels"] == "acc" else 6,
                    "channels": list(tc["widths"]), "kernel_size": int(tc["kernel_size"]),
                    "embedding_dim": positive_int(params, "student.embedding_dim"),
                    "dropout": float(tc["dropout"]),
                    "separable": boolean(params, "student.temporal_cnn.separable"),
                    "convs_per_block": positive_int(params,
                                                    "student.temporal_cnn.convs_per_block"),
                    "residual": boolean(params, "student.temporal_cnn.residual")},
            modality="inertial",
        )
    return ModelSpec(
        name=name,
        model=model,
        kwargs={"num_classes": data.num_classes,
                "embedding_dim": positive_int(params, "student.embedding_dim"),
                "weights_path": get(params, "student.weights_path")},
        modality=choice(params, "student.gaf", ("gasf", "gadf")),
    )


def load_modality(modality: str, data: FusedData, params: dict[str, Any]) -> np.ndarray:
    """The (N, ...) float32 array of one modality, rows in the fused file's order."""
    if modality == "skeleton":
        return data.skeleton
    if modality == "fused":
        imu = get(params, "teacher.imu")
        if imu == "acc_gyro" and not data.attrs.get("has_gyro", True):
            raise ConfigError("params.yaml: teacher.imu is acc_gyro but "
                              f"{data.attrs.get('dataset')} has no gyroscope; use acc")
        return fused_teacher_input(data.skeleton, data.inertial, imu)
    if modality == "inertial":
        window = positive_int(params, "student.temporal_cnn.window")
        channels = choice(params, "student.temporal_cnn.channels", ("acc", "acc_gyro"))
        if channels == "acc_gyro" and not data.attrs.get("has_gyro", True):
            raise ConfigError("params.yaml: student.temporal_cnn.channels is acc_gyro but "
                              f"{data.attrs.get('dataset')} has no gyroscope; use acc")
        x = resample_time(data.inertial, window, axis=1)[:, :, : 3 if channels == "acc" else 6]
        return np.ascontiguousarray(x.transpose(0, 2, 1), dtype=np.float32)
    if modality in ("gasf", "gadf"):
        gaf_path = paths.gaf_file(get(params, "data.dataset"))
        images, ids = read_gaf(gaf_path, modality)
        if len(ids) != len(data) or not np.array_equal(ids, data.sample_id):
            raise DataError(gaf_path, "sample ids differ from the fused file's: re-run the gaf "
                            "stage (dvc repro gaf)")
        return images
    raise ConfigError(f"unknown modality {modality!r}")


def prepare_student(model: nn.Module, modality: str, x: np.ndarray, train_idx: np.ndarray,
                    params: dict[str, Any]) -> dict[str, Any]:
    """Input statistics from the *training* clips only (stored in the model, so exports take
    raw units), and the model's train-time augmentation (:func:`input_augment`)."""
    if hasattr(model, "set_input_stats"):
        from crosskd.models.temporal_cnn import input_stats

        model.set_input_stats(*input_stats(x[train_idx]))
    return input_augment(modality, x, params)


def input_augment(modality: str, x: np.ndarray, params: dict[str, Any]) -> dict[str, Any]:
    """``{modality: augment}`` for a modality that has one switched on, else ``{}``: the
    raw accelerometer (``student.augment``), the teachers' skeleton and fused clips
    (``teacher.augment``; the fused clip's IMU nodes are not body joints)."""
    from crosskd.training.augment import build_augment, build_skeleton_augment

    fn = None
    if modality == "inertial":
        fn = build_augment(get(params, "student.augment", None), "student.augment")
    elif modality in ("skeleton", "fused"):
        imu_nodes = imu_node_count(get(params, "teacher.imu")) if modality == "fused" else 0
        fn = build_skeleton_augment(get(params, "teacher.augment", None),
                                    x.shape[3] - imu_nodes)
    return {} if fn is None else {modality: fn}


def check_input(spec: ModelSpec, model: nn.Module, x: np.ndarray,
                source: str | Path | None) -> None:
    """Run two samples through the model so a shape mismatch is named before training."""
    model.eval()
    try:
        with torch.no_grad():
            model(torch.as_tensor(x[:2], dtype=torch.float32))
    except (ValueError, RuntimeError) as exc:
        raise DataError(source, f"{spec.modality} input of shape {tuple(x.shape[1:])} does not "
                        f"fit model {spec.model} ({spec.kwargs}): {exc}") from exc


def fit_config(params: dict[str, Any], section: str, seed: int) -> FitConfig:
    return FitConfig(epochs=positive_int(params, f"{section}.epochs"),
                     batch_size=positive_int(params, f"{section}.batch_size"),
                     seed=seed, resume=get(params, "train.resume"),
                     select=get(params, "train.validation.select", "best"))


DEVICES = ("auto", "cpu", "cuda")


def training_device(params: dict[str, Any]) -> torch.device:
    """``train.device``: ``auto`` takes a CUDA GPU when torch sees one, else the CPU."""
    name = get(params, "train.device", "auto")
    if name not in DEVICES:
        raise ConfigError(f"params.yaml: train.device must be one of {list(DEVICES)}, "
                          f"got {name!r}")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    elif name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("params.yaml: train.device is cuda, but torch sees no CUDA GPU "
                          f"(torch {torch.__version__}); use auto or cpu")
    if name == "cuda":
        # Same seed, same GPU, same result: no autotuned kernel choice between runs.
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    return torch.device(name)


def run_protocol(params: dict[str, Any], data: FusedData) -> str:
    """``train.protocol`` as the fused file resolves it (``default``: its standard one)."""
    return data.protocol(get(params, "train.protocol"))


def label_smoothing(params: dict[str, Any], section: str) -> float:
    """``<section>.label_smoothing`` (0 when absent), a fraction in [0, 1]."""
    return number(params, f"{section}.label_smoothing", 0.0, low=0, high=1)


def optim_config(params: dict[str, Any], section: str) -> OptimConfig:
    raw = dict(get(params, f"{section}.optim"))
    try:
        cfg = OptimConfig(**raw)
    except TypeError as exc:
        raise ConfigError(f"params.yaml: {section}.optim: {exc}") from None
    for field in fields(OptimConfig):  # types torch would otherwise trip over mid-run
        if field.name not in raw:
            continue
        key = f"{section}.optim.{field.name}"
        if field.type in (float, "float"):
            number(params, key)
        elif field.type in (int, "int"):
            positive_int(params, key)
        elif not isinstance(raw[field.name], str):
            raise ConfigError(f"params.yaml: {key} must be a string, got {raw[field.name]!r}")
    return cfg


def input_files(modalities: list[str], params: dict[str, Any]) -> dict[str, str]:
    """sha256 of every file the modalities are read from: a checkpoint made from other data
    must not be resumed from."""
    from crosskd.data.manifest import sha256_file

    dataset = get(params, "data.dataset")
    files = [paths.fused_file(dataset)]
    if any(m in ("gasf", "gadf") for m in modalities):
        files.append(paths.gaf_file(dataset))
        # The initial weights are an input too: other ones make another run.
        if get(params, "student.weights_path", None):
            files.append(Path(get(params, "student.weights_path")).expanduser())
    return {str(f): sha256_file(f) for f in files}


def load_fused_for(params: dict[str, Any]) -> FusedData:
    """The fused file of ``data.dataset`` (``.path`` names it in errors)."""
    return read_fused(paths.fused_file(get(params, "data.dataset")))


def save_model(path: str | Path, spec: ModelSpec, model: nn.Module, meta: dict[str, Any]) -> None:
    save_checkpoint(path, {"name": spec.name, "model": spec.model, "kwargs": spec.kwargs,
                           "modality": spec.modality, "state_dict": model.state_dict(), **meta})


def load_model(path: str | Path, name: str | None = None,
               hint: str = ": re-run its training stage"
               ) -> tuple[ModelSpec, nn.Module, dict[str, Any]]:
    """A model file written by ``save_model``: its spec, the model in eval mode, its record.
    With ``name``, the file must hold that run's model (not another's copied in its place)."""
    record = load_checkpoint(path)
    required = ("name", "model", "kwargs", "modality", "state_dict")
    missing = [k for k in required if k not in record] if isinstance(record, dict) else required
    if missing:
        raise DataError(path, f"not a model file of this pipeline (no {', '.join(missing)}); "
                        "re-run the stage that trains it")
    if name is not None and record["name"] != name:
        raise DataError(path, f"holds the model {record['name']!r}, expected {name!r}{hint}")
    spec = ModelSpec(record["name"], record["model"], record["kwargs"], record["modality"])
    model = spec.build(initial_weights=False)
    try:
        model.load_state_dict(record["state_dict"])
    except (RuntimeError, TypeError, AttributeError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise DataError(path, f"its weights do not fit its {spec.model} model ({first}); "
                        "re-run the stage that trains it") from None
    model.eval()
    return spec, model, record


def load_checked_model(path: str | Path, params: dict[str, Any], data: FusedData, seed: int,
                       *, role: str = "", hint: str = "", name: str | None = None
                       ) -> tuple[ModelSpec, nn.Module, dict[str, Any]]:
    """``load_model`` of a model this run may use: trained on the fused file's classes, for
    this dataset, protocol and seed (one of another protocol may have seen this run's test
    clips). ``role`` / ``hint`` word the error ("teacher ", ": re-run train_teacher")."""
    spec, model, record = load_model(path, name, hint)
    if list(record["class_names"]) != data.class_names:
        raise DataError(path, "trained on other classes than the fused file holds")
    expected = {"dataset": get(params, "data.dataset"), "protocol": run_protocol(params, data),
                "seed": seed}
    found = {k: record.get(k) for k in expected}
    if found != expected:
        raise DataError(path, f"{role}made for {found}, this run is {expected}{hint}")
    return spec, model, record
