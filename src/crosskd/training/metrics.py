"""Classification metrics (sklearn) shared by validation and the evaluate stage."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)


def summary(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> dict[str, float]:
    """Accuracy and macro F1. Macro F1 averages over the classes that occur in the labels or
    the predictions: a class absent from both (MMAct has one) would otherwise count as 0."""
    if not len(y_true):
        return {"accuracy": 0.0, "macro_f1": 0.0}
    labels = np.union1d(y_true, y_pred)
    assert labels.max() < num_classes, "prediction outside the class list"
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro",
                                   zero_division=0)),
    }


def full_report(y_true: np.ndarray, y_pred: np.ndarray, class_names: list[str]) -> dict[str, Any]:
    """Accuracy, macro F1, per-class precision/recall/F1/support and the confusion matrix."""
    labels = list(range(len(class_names)))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    report = summary(y_true, y_pred, len(class_names))
    report["per_class"] = {
        name: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
               "support": int(s[i])}
        for i, name in enumerate(class_names)
    }
    report["confusion"] = confusion_matrix(y_true, y_pred, labels=labels).tolist()
    return report
