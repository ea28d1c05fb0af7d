"""Train one model with cross-entropy (a teacher or the student baseline), end to end."""

from __future__ import annotations

import logging
from typing import Any

import torch

from crosskd.config import get, positive_int
from crosskd.data.fused_h5 import FusedData
from crosskd.tracking import stage_run
from crosskd.training import paths
from crosskd.training.batches import PairedArrays
from crosskd.training.builders import (
    ModelSpec,
    check_input,
    fit_config,
    input_files,
    label_smoothing,
    load_modality,
    optim_config,
    prepare_student,
    run_protocol,
    save_model,
    training_device,
)
from crosskd.training.loop import CURVE_COLUMNS, FitResult, SupervisedTask, discard_checkpoints, fit
from crosskd.training.outputs import peak_memory_mb, write_csv, write_json
from crosskd.training.seeding import seed_everything
from crosskd.training.splits import Split, split_from_params

log = logging.getLogger(__name__)


def split_for(params: dict[str, Any], data: FusedData, seed: int) -> Split:
    """The train/validation/test split of the protocol params select, for ``seed``."""
    return split_from_params(params, data, run_protocol(params, data), seed)


def train_supervised(params: dict[str, Any], data: FusedData, spec: ModelSpec, section: str,
                     seed: int, stage: str) -> FitResult:
    """Fit ``spec`` on its modality of ``data`` (``load_fused_for``); write model, metrics and
    curve; log to MLflow."""
    torch.set_num_threads(positive_int(params, "train.threads"))
    protocol = run_protocol(params, data)
    split = split_from_params(params, data, protocol, seed)
    x = load_modality(spec.modality, data, params)
    seed_everything(seed)
    model = spec.build()
    augment = prepare_student(model, spec.modality, x, split.train, params)
    check_input(spec, model, x, data.path)
    device = training_device(params)
    model.to(device)  # before the optimizer exists: it keeps these very parameters
    batches = PairedArrays({spec.modality: x}, data.label, data.sample_id, augment, device)
    cfg = fit_config(params, section, seed)
    task = SupervisedTask(spec.name, model, spec.modality, optim_config(params, section),
                          cfg.epochs, cfg.batch_size,
                          label_smoothing(params, section))
    run_params = {"model": spec.model, "kwargs": spec.kwargs, "modality": spec.modality,
                  "section": get(params, section), "protocol": protocol,
                  "validation": get(params, "train.validation"), "seed": seed,
                  "dataset": get(params, "data.dataset"),
                  "inputs": input_files([spec.modality], params)}
    with stage_run(params, stage, log_params=run_params) as tracker:
        tracker.log_params({"device": str(device)})  # not in run_params: a resume may move
        result = fit(task, batches, split, cfg, paths.checkpoint_dir(spec.name, seed),
                     num_classes=data.num_classes, run_config=run_params,
                     on_epoch=lambda e, row: tracker.log_metrics(row, step=e))
        meta = {"seed": seed, "protocol": protocol,
                "class_names": data.class_names, "selected_epoch": result.best_epoch,
                "val": result.best_val, "dataset": get(params, "data.dataset")}
        model_path = paths.model_file(spec.name, seed)
        save_model(model_path, spec, model, meta)
        summary = {
            "selected_epoch": result.best_epoch,
            **{k: round(v, 6) for k, v in result.best_val.items()},
            "epochs": cfg.epochs,
            "seconds_per_epoch": round(result.seconds_per_epoch, 3),
            "peak_memory_mb": round(peak_memory_mb(), 1),
            "parameters": sum(p.numel() for p in model.parameters()),
            "train_clips": len(split.train), "val_clips": len(split.val),
        }
        write_json(paths.train_metrics(spec.name, seed), summary)
        write_csv(paths.train_curve(spec.name, seed), result.history, CURVE_COLUMNS)
        tracker.log_metrics({f"selected_{k}": v for k, v in summary.items()
                             if isinstance(v, int | float)})
        tracker.log_model_file(model_path)
        tracker.log_artifact(paths.train_curve(spec.name, seed), "curves")
    discard_checkpoints(paths.checkpoint_dir(spec.name, seed))
    val = result.val_accuracy
    log.info("%s seed %d: kept epoch %d%s", spec.name, seed, result.best_epoch,
             "" if val is None else f", val accuracy {val:.4f}")
    return result
