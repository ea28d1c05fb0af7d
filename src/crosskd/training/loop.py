"""One training loop for teachers, students and distillation.

A *task* owns the models, optimisers and the per-epoch update; :func:`fit` owns the rest:
per-epoch seeding, validation-based model selection (or the last epoch, for a refit on the
whole training side with settings chosen beforehand), atomic checkpoints every epoch,
automatic resume, NaN detection, progress and per-epoch callbacks (MLflow, curves).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from crosskd.errors import ConfigError, CrossKDError
from crosskd.progress import progress
from crosskd.training.batches import PairedArrays
from crosskd.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from crosskd.training.metrics import summary
from crosskd.training.optim import OptimConfig, build_optimizer, build_scheduler, step
from crosskd.training.seeding import epoch_seed, seed_everything
from crosskd.training.splits import Split

log = logging.getLogger(__name__)

RESUME_MODES = ("auto", "never", "require")
SELECT_MODES = ("best", "last")  # best: best validation epoch; last: the final epoch


class TrainingError(CrossKDError):
    """Training cannot go on (non-finite loss, ...)."""


class Task(Protocol):
    name: str

    def stateful(self) -> dict[str, Any]:
        """Everything with state_dict()/load_state_dict() that a checkpoint must hold."""

    def selected(self) -> dict[str, nn.Module]:
        """The model(s) whose weights model selection keeps."""

    def train_epoch(self, data: PairedArrays, indices: np.ndarray, epoch: int,
                    seed: int) -> dict[str, float]: ...

    def predict(self, data: PairedArrays, indices: np.ndarray) -> torch.Tensor:
        """Logits (n, K) of the selected model, in ``indices`` order."""


@dataclass(frozen=True)
class FitConfig:
    epochs: int
    batch_size: int
    seed: int
    resume: str = "auto"
    eval_batch_size: int = 256
    select: str = "best"

    def __post_init__(self) -> None:
        if self.resume not in RESUME_MODES:
            raise ConfigError(f"params.yaml: resume must be one of {RESUME_MODES}, "
                              f"got {self.resume!r}")
        if self.select not in SELECT_MODES:
            raise ConfigError(f"params.yaml: train.validation.select must be one of "
                              f"{SELECT_MODES}, got {self.select!r}")
        if self.epochs < 1 or self.batch_size < 2:
            raise ConfigError("params.yaml: epochs must be >= 1 and batch_size >= 2")


@dataclass
class FitResult:
    best_epoch: int
    best_val: dict[str, float]
    history: list[dict[str, float]]
    seconds_per_epoch: float
    resumed_from: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def val_accuracy(self) -> float | None:
        """The kept epoch's validation accuracy (6 decimals, as the metrics files hold it);
        None without a validation split (a refit on the whole training side)."""
        value = self.best_val.get("val_accuracy")
        return None if value is None else round(value, 6)


def discard_checkpoints(ckpt_dir: str | Path) -> None:
    """Checkpoints exist for crash recovery only: once a run's outputs are written they go,
    so a later run (new code, new teachers) can never mistake them for its own."""
    import shutil

    shutil.rmtree(ckpt_dir, ignore_errors=True)


def check_finite(loss: torch.Tensor, where: str) -> None:
    if not torch.isfinite(loss).all():
        raise TrainingError(f"{where}: loss is {loss.item()} (non-finite); the last checkpoint "
                            "is kept. Lower the learning rate or check the inputs for NaNs.")


# What validate() reports, in this order.
VAL_METRICS = ("val_loss", "val_accuracy", "val_macro_f1")
# Columns every per-epoch curve CSV has, so `dvc plots` finds its fields in every run: a
# refit (no validation split) leaves the val_* cells empty instead of dropping the columns,
# which would make dvc fail the whole plot, the other runs' curves included.
CURVE_COLUMNS = ("epoch", "loss", "train_accuracy", *VAL_METRICS)


def _score(val: dict[str, float]) -> tuple[float, float, float]:
    # Selection: validation accuracy, then macro F1, then lower validation loss.
    return (val["val_accuracy"], val["val_macro_f1"], -val["val_loss"])


def validate(task: Task, data: PairedArrays, indices: np.ndarray, num_classes: int,
             batch_size: int) -> dict[str, float]:
    logits = task.predict(data, indices)
    y = torch.as_tensor(data.labels[indices])
    s = summary(y.numpy(), logits.argmax(1).numpy(), num_classes)
    values = (float(F.cross_entropy(logits, y)), s["accuracy"], s["macro_f1"])
    return dict(zip(VAL_METRICS, values, strict=True))


def config_hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def code_hash() -> str:
    """sha256 of the crosskd sources: a checkpoint made by other code is not resumed from."""
    h = hashlib.sha256()
    for path in sorted(Path(__file__).resolve().parents[1].rglob("*.py")):
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def fit(
    task: Task,
    data: PairedArrays,
    split: Split,
    cfg: FitConfig,
    ckpt_dir: str | Path,
    *,
    num_classes: int,
    run_config: dict[str, Any] | None = None,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
) -> FitResult:
    """Train ``task`` for ``cfg.epochs``; keep the best epoch on validation (never test), or
    with ``cfg.select == "last"`` the last epoch (validation, if any, is then only reported).

    ``ckpt_dir`` gets ``last.pt`` (resume state) and, with ``select == "best"``, ``best.pt``
    (selected weights) after every epoch. A checkpoint made with another ``run_config`` is not
    resumed from.
    """
    has_val = len(split.val) > 0
    if not has_val and cfg.select == "best":
        raise ConfigError("the validation split is empty: raise train.validation.fraction, "
                          "or set train.validation.select: last to keep the last epoch")
    ckpt_dir = Path(ckpt_dir)
    last, best_path = ckpt_dir / "last.pt", ckpt_dir / "best.pt"
    # What makes two runs the same: params and inputs (run_config), the loop's own settings
    # and the code. Not `resume` itself, nor threads: switching those must not void a resume.
    fit_key = {k: v for k, v in asdict(cfg).items()
               if k in ("epochs", "batch_size", "seed", "select")}
    fingerprint = config_hash({"run": run_config or {}, "fit": fit_key, "code": code_hash()})
    start, history, best_epoch, best_val = 0, [], -1, None
    if cfg.resume != "never" and last.exists():
        state = load_checkpoint(last)
        if state.get("fingerprint") != fingerprint:
            if cfg.resume == "require":
                raise CheckpointError(f"{last}: made with other parameters; cannot resume")
            log.warning("%s: checkpoint made with other parameters; starting afresh", last)
        else:
            for key, obj in task.stateful().items():
                obj.load_state_dict(state["states"][key])
            start, history = state["epoch"], state["history"]
            best_epoch, best_val = state["best_epoch"], state["best_val"]
            log.info("%s: resuming after epoch %d of %d", task.name, start, cfg.epochs)
            if on_epoch is not None:  # this run's record must hold the whole curve
                for row in history:
                    on_epoch(int(row["epoch"]), row)
    elif cfg.resume == "require":
        raise CheckpointError(f"{last}: checkpoint is missing; cannot resume (resume=require)")
    resumed_from = start

    bar = progress(range(start, cfg.epochs), desc=task.name, unit="epoch", initial=start,
                   total=cfg.epochs)
    for epoch in bar:
        t0 = time.perf_counter()
        seed_everything(epoch_seed(cfg.seed, epoch))
        train_metrics = task.train_epoch(data, split.train, epoch, epoch_seed(cfg.seed, epoch, 1))
        val = (validate(task, data, split.val, num_classes, cfg.eval_batch_size)
               if has_val else {})
        row = {"epoch": epoch + 1, **train_metrics, **val,
               "seconds": time.perf_counter() - t0}
        history.append(row)
        if cfg.select == "last":
            best_epoch, best_val = epoch + 1, val
        elif best_val is None or _score(val) > _score(best_val):
            best_epoch, best_val = epoch + 1, val
            save_checkpoint(best_path, {
                "epoch": epoch + 1, "val": val,
                "states": {k: m.state_dict() for k, m in task.selected().items()},
            })
        save_checkpoint(last, {
            "fingerprint": fingerprint, "epoch": epoch + 1, "history": history,
            "best_epoch": best_epoch, "best_val": best_val,
            "states": {k: obj.state_dict() for k, obj in task.stateful().items()},
        })
        bar.set_postfix(loss=f"{train_metrics.get('loss', float('nan')):.3f}",
                        val_acc=f"{val.get('val_accuracy', float('nan')):.3f}")
        if on_epoch is not None:
            on_epoch(epoch + 1, row)

    if cfg.select == "best":  # hand back the selected weights, not the last epoch's
        best = load_checkpoint(best_path)
        for key, module in task.selected().items():
            module.load_state_dict(best["states"][key])
    secs = [h["seconds"] for h in history[resumed_from:]] or [h["seconds"] for h in history]
    return FitResult(best_epoch=best_epoch, best_val=best_val or {}, history=history,
                     seconds_per_epoch=float(np.mean(secs)), resumed_from=resumed_from)


def model_device(model: nn.Module) -> torch.device:
    """Where ``model``'s weights are (the CPU for a model without any)."""
    return next((p.device for p in model.parameters()), torch.device("cpu"))


@torch.no_grad()
def predict_logits(model: nn.Module, data: PairedArrays, indices: np.ndarray, modality: str,
                   batch_size: int = 256) -> torch.Tensor:
    """Logits (n, K) on the CPU, wherever the model runs."""
    model.eval()
    device = model_device(model)
    out = [model(b[modality].to(device)).logits.cpu()
           for b in data.batches(indices, batch_size)]
    return torch.cat(out) if out else torch.empty(0)


class SupervisedTask:
    """One model, cross-entropy on the ground truth: teachers and the student baseline."""

    def __init__(self, name: str, model: nn.Module, modality: str, optim: OptimConfig,
                 epochs: int, batch_size: int, label_smoothing: float = 0.0) -> None:
        self.name, self.model, self.modality = name, model, modality
        self.batch_size, self.label_smoothing = batch_size, label_smoothing
        self.optim = optim
        self.optimizer = build_optimizer(model.parameters(), optim)
        self.scheduler = build_scheduler(self.optimizer, optim, epochs)

    def stateful(self) -> dict[str, Any]:
        return {"model": self.model, "optimizer": self.optimizer, "scheduler": self.scheduler}

    def selected(self) -> dict[str, nn.Module]:
        return {"model": self.model}

    def train_epoch(self, data: PairedArrays, indices: np.ndarray, epoch: int,
                    seed: int) -> dict[str, float]:
        self.model.train()
        losses, correct, seen = [], 0, 0
        for i, batch in enumerate(data.batches(indices, self.batch_size, shuffle=True,
                                               seed=seed, train=True)):
            out = self.model(batch[self.modality])
            loss = F.cross_entropy(out.logits, batch["y"], label_smoothing=self.label_smoothing)
            check_finite(loss, f"{self.name} epoch {epoch + 1} batch {i + 1}")
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            step(self.optimizer, self.optim)
            losses.append(loss.item() * len(batch["y"]))
            correct += int((out.logits.argmax(1) == batch["y"]).sum())
            seen += len(batch["y"])
        lr = self.optimizer.param_groups[0]["lr"]
        self.scheduler.step()
        return {"loss": float(np.sum(losses) / max(seen, 1)),
                "train_accuracy": correct / max(seen, 1), "lr": lr}

    def predict(self, data: PairedArrays, indices: np.ndarray) -> torch.Tensor:
        return predict_logits(self.model, data, indices, self.modality)
