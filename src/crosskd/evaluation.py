"""The evaluate step: a trained model on its protocol's test split, reported once."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from crosskd.atomic import atomic_path
from crosskd.config import positive_int
from crosskd.data.fused_h5 import FusedData
from crosskd.tracking import stage_run
from crosskd.training import paths
from crosskd.training.batches import PairedArrays
from crosskd.training.builders import load_checked_model, load_fused_for, load_modality
from crosskd.training.loop import predict_logits
from crosskd.training.metrics import full_report
from crosskd.training.outputs import write_csv, write_json
from crosskd.training.splits import split_from_params

log = logging.getLogger(__name__)


def plot_confusion(matrix: np.ndarray, class_names: list[str], title: str,
                   out: str | Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = len(class_names)
    fig, ax = plt.subplots(figsize=(2 + 0.35 * k, 1.5 + 0.35 * k), dpi=110)
    norm = matrix / np.maximum(matrix.sum(1, keepdims=True), 1)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(k), class_names, rotation=90, fontsize=7)
    ax.set_yticks(range(k), class_names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title(title, fontsize=9)
    for i in range(k):
        for j in range(k):
            if matrix[i, j]:
                ax.text(j, i, int(matrix[i, j]), ha="center", va="center", fontsize=6,
                        color="white" if norm[i, j] > 0.5 else "black")
    fig.tight_layout()
    with atomic_path(Path(out)) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def test_predictions(model: torch.nn.Module, modality: str, data: FusedData,
                     params: dict[str, Any], protocol: str, seed: int) -> tuple[np.ndarray,
                                                                           np.ndarray]:
    """(labels, predictions) on the protocol's test split: the one place test data is read."""
    # The same split the training run made; only its test part is used.
    split = split_from_params(params, data, protocol, seed)
    x = load_modality(modality, data, params)
    batches = PairedArrays({modality: x}, data.label, data.sample_id)
    pred = predict_logits(model, batches, split.test, modality).argmax(1).numpy()
    return data.label[split.test], pred


def evaluate_run(params: dict[str, Any], name: str, seed: int, stage: str) -> dict[str, Any]:
    """Test metrics of ``models/<name>/s<seed>``; writes metrics, confusion CSV and PNG."""
    torch.set_num_threads(positive_int(params, "train.threads"))
    data = load_fused_for(params)
    # Trained on this file's classes, for this dataset, protocol and seed, or a clear error.
    spec, model, record = load_checked_model(paths.model_file(name, seed), params, data, seed,
                                             hint=": re-run its training stage", name=name)
    protocol = record["protocol"]
    y, pred = test_predictions(model, spec.modality, data, params, protocol, seed)
    report = full_report(y, pred, data.class_names)
    run = paths.run_name(name, seed)
    metrics = {"accuracy": round(report["accuracy"], 6), "macro_f1": round(report["macro_f1"], 6),
               "test_clips": int(len(y)), "protocol": protocol,
               "selected_epoch": int(record["selected_epoch"])}
    write_json(paths.eval_metrics(name, seed), metrics)
    write_json(paths.eval_metrics(name, seed).with_suffix(".per_class.json"),
               {"per_class": report["per_class"], "confusion": report["confusion"],
                "class_names": data.class_names})
    write_csv(paths.confusion_csv(name, seed), [
        {"actual": data.class_names[a], "predicted": data.class_names[p]}
        for a, p in zip(y.tolist(), pred.tolist(), strict=True)])
    plot_confusion(np.array(report["confusion"]), data.class_names,
                   f"{run} ({protocol}): acc {report['accuracy']:.3f}, "
                   f"macro F1 {report['macro_f1']:.3f}", paths.confusion_png(name, seed))
    with stage_run(params, stage, log_params={"model": name, "seed": seed,
                                              "protocol": protocol}) as tracker:
        tracker.log_metrics({"test_accuracy": metrics["accuracy"],
                             "test_macro_f1": metrics["macro_f1"],
                             "test_clips": metrics["test_clips"]})
        tracker.log_artifact(paths.confusion_png(name, seed), "confusion")
        tracker.log_artifact(paths.eval_metrics(name, seed).with_suffix(".per_class.json"),
                             "report")
    log.info("%s: test accuracy %.4f, macro F1 %.4f (%d clips)", run, report["accuracy"],
             report["macro_f1"], len(y))
    return report
