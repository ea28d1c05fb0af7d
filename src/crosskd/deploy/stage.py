"""The export stage: one trained student (or seed ensemble) -> fp32 and int8 ONNX files and
metrics/deploy.json.

Which student: ``deploy.model`` (a run name under models/, e.g. ``student_baseline`` or
``distill_acs_progressive``) and ``deploy.seeds``: one seed exports that model; several
export their seed ensemble (:class:`crosskd.deploy.ensemble.SeedEnsemble`, mean logits) as
one file. The test split is the protocol's, and the int8 calibration windows come from
the members' training clips, never from test clips.

Checks that fail the stage (never a silently worse file): fp32 ONNX logits must equal
PyTorch's within ``deploy.fp32_logit_atol``, and the int8 file's test accuracy may be lower
than PyTorch's by at most ``deploy.int8_accuracy_tolerance``.

Streaming facts written into the raw-window files' metadata: every clip was resampled to
``window`` steps from its first to its last sample, so the model's sampling rate is
``(window - 1) / median clip span``; the predict CLI resamples recordings to that rate.
"""

from __future__ import annotations

import logging
import platform
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from crosskd.atomic import atomic_dir
from crosskd.config import boolean, get, number, positive_int
from crosskd.data.fused_h5 import INERTIAL_CHANNELS, FusedData, read_clip_spans
from crosskd.deploy.ensemble import SeedEnsemble
from crosskd.deploy.export import (
    count_macs,
    count_parameters,
    evaluate_onnx,
    export_onnx,
    profile,
    quantize_int8,
)
from crosskd.errors import ConfigError, DataError, ExportError
from crosskd.models.registry import model_names
from crosskd.tracking import stage_run
from crosskd.training import paths
from crosskd.training.batches import PairedArrays
from crosskd.training.builders import (
    ModelSpec,
    load_checked_model,
    load_fused_for,
    load_modality,
    run_protocol,
)
from crosskd.training.loop import predict_logits
from crosskd.training.outputs import write_json
from crosskd.training.splits import split_from_params

log = logging.getLogger(__name__)

DEPLOY_DIR = Path("models/deploy")
REPORT = Path("metrics/deploy.json")
CALIBRATIONS = ("minmax", "percentile", "entropy")


def stream_metadata(spec_modality: str, x: np.ndarray, clip_spans: np.ndarray,
                    class_names: list[str], hop: int) -> dict[str, Any]:
    """ONNX metadata: what the predict CLI needs to stream a raw recording through the file."""
    meta: dict[str, Any] = {"classes": class_names}
    if spec_modality != "inertial":  # GAF images: not a raw-window model
        return {**meta, "input": f"{spec_modality}_image", "image_size": int(x.shape[-1])}
    window = int(x.shape[-1])
    if hop < 1:
        raise ConfigError(f"params.yaml: deploy.hop must be >= 1, got {hop}")
    return {**meta, "input": "raw_window", "window": window, "hop": hop,
            # window steps span the clip from its first to its last sample
            "rate": round((window - 1) / float(np.median(clip_spans)), 4),
            "channels": list(INERTIAL_CHANNELS[: x.shape[1]]),
            "units": ["g"] * 3 + ["deg/s"] * (x.shape[1] - 3)}


def deploy_seeds(params: dict[str, Any]) -> list[int]:
    """``deploy.seeds``: a non-empty list of distinct seeds (one = a single model)."""
    seeds = get(params, "deploy.seeds")
    if (not isinstance(seeds, list) or not seeds
            or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)
            or len(set(seeds)) != len(seeds)):
        raise ConfigError(f"params.yaml: deploy.seeds must be a non-empty list of distinct "
                          f"integer seeds (one seed = one model, several = their seed "
                          f"ensemble), got {seeds!r}")
    return sorted(seeds)  # [1, 0] is the same ensemble as [0, 1]


def float_stem_for(params: dict[str, Any], architecture: str) -> bool:
    """``deploy.int8_float_stem`` for a student of ``architecture``: one boolean for every
    student, or a mapping with one per architecture (params.yaml's default: the temporal CNN's
    stem in float, the GAF ResNet18 whole in int8; BENCHMARKS.md)."""
    key = "deploy.int8_float_stem"
    value = get(params, key)
    if not isinstance(value, dict):
        return boolean(params, key)
    known = model_names()
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise ConfigError(f"params.yaml: {key} names unknown models {unknown}; known: {known}")
    if architecture not in value:
        raise ConfigError(f"params.yaml: {key} has no entry for {architecture!r}, the "
                          "architecture of the student being exported")
    return boolean(params, f"{key}.{architecture}")


def load_members(params: dict[str, Any], name: str, seeds: list[int], data: FusedData
                 ) -> tuple[ModelSpec, list[nn.Module]]:
    """The trained models ``name`` of ``seeds``, each checked against this pipeline, all of
    one architecture."""
    spec, members = None, []
    for seed in seeds:
        model_path = paths.model_file(name, seed)
        if not model_path.is_file():
            raise DataError(model_path, f"no trained model {name!r} seed {seed} (deploy.model "
                            "/ deploy.seeds name a run under models/)")
        member_spec, model, _ = load_checked_model(model_path, params, data, seed, name=name)
        if spec is None:
            spec = member_spec
        elif member_spec != spec:
            raise DataError(model_path, f"is a {member_spec.model} {member_spec.kwargs} on "
                            f"{member_spec.modality}, seed {seeds[0]} a {spec.model} "
                            f"{spec.kwargs} on {spec.modality}; an ensemble needs one "
                            "architecture")
        members.append(model)
    return spec, members


def export_run(params: dict[str, Any], stage: str = "export") -> dict[str, Any]:
    """Export ``deploy.model`` (``deploy.seeds``); write the files and metrics/deploy.json."""
    name = str(get(params, "deploy.model"))
    seeds = deploy_seeds(params)
    hop = positive_int(params, "deploy.hop")
    threads = positive_int(params, "deploy.threads")
    method = str(get(params, "deploy.calibration"))
    if method not in CALIBRATIONS:
        raise ConfigError(f"params.yaml: deploy.calibration {method!r}; known: "
                          f"{list(CALIBRATIONS)}")
    atol = number(params, "deploy.fp32_logit_atol")
    tolerance = number(params, "deploy.int8_accuracy_tolerance")
    torch.set_num_threads(positive_int(params, "train.threads"))

    data = load_fused_for(params)
    spec, members = load_members(params, name, seeds, data)
    float_stem = float_stem_for(params, spec.model)
    model = members[0] if len(members) == 1 else SeedEnsemble(members).eval()
    protocol = run_protocol(params, data)
    dataset = get(params, "data.dataset")

    x = load_modality(spec.modality, data, params).astype(np.float32)
    splits = [split_from_params(params, data, protocol, seed)  # the training runs' splits
              for seed in seeds]
    test = splits[0].test  # the protocol's, the same for every seed
    x_test, y_test = x[test], data.label[test]
    # Calibration: clips some member trained on (for one seed: its training clips). Never
    # test clips; a member's validation clips may calibrate, they are not scored here.
    train = np.unique(np.concatenate([s.train for s in splits]))
    rng = np.random.default_rng(seeds[0])
    n_cal = min(positive_int(params, "deploy.calibration_windows"), len(train))
    calibration = x[np.sort(rng.choice(train, n_cal, replace=False))]

    torch_logits = predict_logits(model, PairedArrays({spec.modality: x}, data.label,
                                                      data.sample_id), test, spec.modality)

    meta = stream_metadata(spec.modality, x, read_clip_spans(data.path), data.class_names, hop)
    meta.update({"model": name, "architecture": spec.model, "seeds": seeds,
                 "dataset": dataset, "protocol": protocol})
    torch_pred = torch_logits.argmax(1).numpy()
    torch_acc = float((torch_pred == y_test).mean())
    runs = positive_int(params, "deploy.latency_runs")
    # Files are made in a temporary folder that replaces models/deploy only once checked;
    # a refused or interrupted export leaves the old files and no temporary. Errors name
    # the files as they would have been written.
    with atomic_dir(DEPLOY_DIR) as staging:
        fp32_path = export_onnx(model, torch.as_tensor(x[:1]), staging / "student.onnx",
                                metadata=meta)
        int8_path = quantize_int8(fp32_path, staging / "student.int8.onnx", calibration,
                                  method=method, float_stem=float_stem)
        exported = (("fp32", fp32_path), ("int8", int8_path))
        final = {kind: DEPLOY_DIR / path.name for kind, path in exported}
        evals = {kind: evaluate_onnx(path, x_test, y_test) for kind, path in exported}
        max_diff = (float(np.abs(evals["fp32"]["logits"] - torch_logits.numpy()).max())
                    if len(x_test) else 0.0)
        if max_diff > atol:
            raise ExportError(f"{final['fp32']}: fp32 ONNX logits differ from PyTorch's by "
                              f"{max_diff:.2e} > deploy.fp32_logit_atol {atol:g}; not written")
        files = {}
        for kind, path in exported:
            ev = evals[kind]
            pred = np.asarray(ev["predictions"])
            files[kind] = {**profile(path, x_test if len(x_test) else calibration,
                                     threads=threads, runs=runs),
                           "accuracy": round(ev["accuracy"], 6),
                           "accuracy_drop": round(torch_acc - ev["accuracy"], 6),
                           "agreement_with_pytorch": round(float((pred == torch_pred).mean()), 6),
                           "file": str(final[kind])}
        files["fp32"]["max_abs_logit_diff"] = max_diff
        drop = files["int8"]["accuracy_drop"]
        if drop > tolerance:
            raise ExportError(
                f"{final['int8']}: int8 test accuracy {files['int8']['accuracy']:.4f} is "
                f"{drop:.4f} below PyTorch's {torch_acc:.4f} (> deploy.int8_accuracy_tolerance "
                f"{tolerance:g}), not written; try "
                + ("deploy.calibration" if float_stem else
                   f"deploy.int8_float_stem.{spec.model}: true or deploy.calibration"))
    report = {
        "model": name, "seeds": seeds, "ensemble": len(seeds) > 1,
        "architecture": spec.model, "modality": spec.modality,
        "dataset": dataset, "protocol": protocol, "test_clips": int(len(y_test)),
        "parameters": count_parameters(model), "macs": count_macs(model, torch.as_tensor(x[:2])),
        "pytorch_accuracy": round(torch_acc, 6), **files,
        "int8_to_fp32_size": round(files["int8"]["bytes"] / files["fp32"]["bytes"], 4),
        "tolerance": {"fp32_logit_atol": atol, "int8_accuracy_drop": tolerance},
        "calibration": {"method": method, "windows": n_cal, "from": "training clips"},
        "int8_float_stem": float_stem,
        "stream": {k: meta[k] for k in ("input", "window", "hop", "rate") if k in meta},
        "machine": {"cpu": platform.processor() or platform.machine(), "threads": threads},
    }
    write_json(REPORT, report)
    with stage_run(params, stage, log_params={"model": name, "seeds": seeds, "hop": hop,
                                              "calibration": method}) as tracker:
        tracker.log_metrics({"deploy_parameters": report["parameters"],
                             "deploy_macs": report["macs"],
                             **{f"deploy_{k}_{m}": files[k][m] for k in files
                                for m in ("bytes", "latency_ms_median", "accuracy")}})
        tracker.log_artifact(REPORT, "deploy")
    log.info("exported %s seeds %s: fp32 %.3f ms / int8 %.3f ms per window, accuracy torch %.4f "
             "fp32 %.4f int8 %.4f", name, seeds, files["fp32"]["latency_ms_median"],
             files["int8"]["latency_ms_median"], torch_acc, files["fp32"]["accuracy"],
             files["int8"]["accuracy"])
    return report
