"""The distill step end to end: one loss method, one schedule, one seed.

``pretrained`` distils from the frozen teachers of the teacher stage; ``progressive``
(PSKD) trains fresh teachers alongside the student. A run is named by its variant: the
method (``kd``, ``acs``, ...) with the suffix ``_progressive`` for the second schedule.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import torch

from crosskd.config import boolean, get, positive_int
from crosskd.data.manifest import sha256_file
from crosskd.errors import ConfigError
from crosskd.evaluation import test_predictions
from crosskd.losses import FeatureDims, build_loss, loss_names
from crosskd.tracking import stage_run
from crosskd.training import paths
from crosskd.training.batches import PairedArrays
from crosskd.training.builders import (
    check_input,
    fit_config,
    input_augment,
    input_files,
    label_smoothing,
    load_checked_model,
    load_fused_for,
    load_modality,
    optim_config,
    prepare_student,
    run_protocol,
    save_model,
    student_spec,
    teacher_spec,
    training_device,
)
from crosskd.training.distill import SCHEDULES, DistillTask
from crosskd.training.loop import CURVE_COLUMNS, SupervisedTask, discard_checkpoints, fit
from crosskd.training.metrics import summary
from crosskd.training.outputs import peak_memory_mb, write_csv, write_json
from crosskd.training.seeding import seed_everything
from crosskd.training.splits import split_from_params

log = logging.getLogger(__name__)

def distill_run(params: dict[str, Any], method: str, schedule: str, seed: int,
                stage: str) -> dict[str, Any]:
    """Train, select on validation, test once; write model, metrics and curve."""
    if method not in loss_names():
        raise ConfigError(f"params.yaml: unknown distillation method {method!r}; "
                          f"known: {loss_names()}")
    if schedule not in SCHEDULES:
        raise ConfigError(f"unknown schedule {schedule!r}; known: {list(SCHEDULES)}")
    variant = paths.variant_name(method, schedule)
    cache_teachers = boolean(params, "distill.cache_teacher_outputs", True)
    weights = get(params, f"distill.weights.{method}")
    options = get(params, f"distill.options.{method}")
    torch.set_num_threads(positive_int(params, "train.threads"))
    t_start = time.perf_counter()
    data = load_fused_for(params)
    protocol = run_protocol(params, data)
    split = split_from_params(params, data, protocol, seed)
    k = positive_int(params, "distill.k")
    kinds = list(get(params, "distill.teachers"))
    t_specs = [teacher_spec(k, params, data) for k in kinds]
    s_spec = student_spec(params, data, name=f"distill_{variant}")
    modalities = [s_spec.modality, *(s.modality for s in t_specs)]
    arrays = {m: load_modality(m, data, params) for m in dict.fromkeys(modalities)}

    seed_everything(seed)
    student = s_spec.build()
    augment = prepare_student(student, s_spec.modality, arrays[s_spec.modality], split.train,
                              params)
    check_input(s_spec, student, arrays[s_spec.modality], data.path)
    device = training_device(params)
    student.to(device)  # before the optimizer exists: it keeps these very parameters
    batches = PairedArrays(arrays, data.label, data.sample_id, augment, device)
    cfg = fit_config(params, "student", seed)
    teacher_tasks, teacher_augment = None, {}
    if schedule == "pretrained":
        teachers = []
        for spec in t_specs:
            _, model, _ = load_checked_model(paths.model_file(spec.name, seed), params, data,
                                             seed, role="teacher ", name=spec.name,
                                             hint=": re-run train_teacher")
            teachers.append(model.to(device))
    else:
        teachers = [s.build().to(device) for s in t_specs]
        t_cfg = fit_config(params, "teacher", seed)
        smoothing = label_smoothing(params, "teacher")
        teacher_tasks = [SupervisedTask(s.name, t, s.modality, optim_config(params, "teacher"),
                                        cfg.epochs * k,
                                        t_cfg.batch_size, smoothing)
                         for s, t in zip(t_specs, teachers, strict=True)]
        for spec in t_specs:  # as in train_teacher, in the teachers' own epochs only
            teacher_augment.update(input_augment(spec.modality, arrays[spec.modality], params))
    loss = build_loss(method, weights, options, student=FeatureDims.of_model(student),
                      teachers=[FeatureDims.of_model(t) for t in teachers],
                      label_smoothing=label_smoothing(params, "student")).to(device)
    task = DistillTask(s_spec.name, student, s_spec.modality, teachers,
                       [s.modality for s in t_specs], loss, optim_config(params, "student"),
                       cfg.epochs, cfg.batch_size, teacher_tasks=teacher_tasks,
                       k=k,
                       cache_teachers=cache_teachers,
                       teacher_augment=teacher_augment)
    run_params = {"variant": variant, "method": method, "schedule": schedule, "seed": seed,
                  "weights": weights, "options": options, "teachers": kinds,
                  "student": get(params, "student"), "protocol": protocol,
                  "validation": get(params, "train.validation"),
                  "inputs": input_files(modalities, params)}
    # What the teachers were: frozen files for pretrained, their settings for progressive
    # (MLflow would otherwise show k and teacher settings that a pretrained run never used).
    if schedule == "progressive":
        # teacher.epochs is train_teacher's: these train alongside the student, k per epoch.
        teacher = {key: v for key, v in get(params, "teacher").items() if key != "epochs"}
        run_params.update(k=k, teacher={**teacher, "epochs": cfg.epochs * k})
    else:
        run_params["teacher_files"] = {str(paths.model_file(s.name, seed)):
                                       sha256_file(paths.model_file(s.name, seed))
                                       for s in t_specs}
    with stage_run(params, stage, log_params=run_params) as tracker:
        tracker.log_params({"device": str(device)})  # not in run_params: a resume may move
        result = fit(task, batches, split, cfg, paths.checkpoint_dir(s_spec.name, seed),
                     num_classes=data.num_classes, run_config=run_params,
                     on_epoch=lambda e, row: tracker.log_metrics(row, step=e))
        y, pred = test_predictions(student, s_spec.modality, data, params, protocol, seed)
        test = summary(y, pred, data.num_classes)
        meta = {"seed": seed, "protocol": protocol, "class_names": data.class_names,
                "selected_epoch": result.best_epoch, "val": result.best_val,
                "dataset": get(params, "data.dataset"), "variant": variant}
        save_model(paths.model_file(s_spec.name, seed), s_spec, student, meta)
        metrics = {
            "variant": variant, "method": method, "schedule": schedule, "seed": seed,
            "protocol": protocol, "accuracy": round(test["accuracy"], 6),
            "macro_f1": round(test["macro_f1"], 6), "test_clips": int(len(y)),
            "selected_epoch": result.best_epoch,
            "val_accuracy": result.val_accuracy,
            "wall_seconds": round(time.perf_counter() - t_start, 1),
            "seconds_per_epoch": round(result.seconds_per_epoch, 3),
            "peak_memory_mb": round(peak_memory_mb(), 1),
        }
        write_json(paths.distill_metrics(variant, seed), metrics)
        write_csv(paths.distill_curve(variant, seed), result.history, CURVE_COLUMNS)
        tracker.log_metrics({"test_accuracy": test["accuracy"],
                             "test_macro_f1": test["macro_f1"], "test_clips": len(y),
                             "selected_epoch": result.best_epoch,
                             **{f"selected_{k}": v for k, v in result.best_val.items()}})
        tracker.log_artifact(paths.distill_curve(variant, seed), "curves")
        tracker.log_model_file(paths.model_file(s_spec.name, seed))
    discard_checkpoints(paths.checkpoint_dir(s_spec.name, seed))
    log.info("%s seed %d: test accuracy %.4f, macro F1 %.4f (selected epoch %d)", variant,
             seed, test["accuracy"], test["macro_f1"], result.best_epoch)
    return metrics
