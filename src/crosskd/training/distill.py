"""Distillation tasks for :func:`crosskd.training.loop.fit`: pretrained and progressive.

- ``pretrained``: the teachers were trained by the teacher stage; they are frozen (eval mode,
  no gradients) and the student distils from them every epoch.
- ``progressive`` (PSKD): the teachers start from scratch and train with the student. Every
  student epoch is preceded by ``k`` teacher epochs (the paper's PSKD(k)), so the student
  always learns from the teachers' *current* state rather than their final one.

Every batch carries all modalities of the same clips (:class:`PairedArrays`), so the
teachers' predictions the loss compares with are for exactly the student's clips. Those
predictions are always on the clips as stored: a progressive teacher's augmentation
(``teacher_augment``) is applied only in its own training epochs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from torch import nn

from crosskd.errors import ConfigError
from crosskd.losses import DistillLoss
from crosskd.models.output import ModelOutput
from crosskd.training.batches import Augment, PairedArrays
from crosskd.training.loop import SupervisedTask, check_finite, predict_logits
from crosskd.training.optim import OptimConfig, build_optimizer, build_scheduler, step
from crosskd.training.seeding import epoch_seed

SCHEDULES = ("pretrained", "progressive")


class DistillTask:
    """A student distilled from teachers; ``teacher_tasks`` given -> progressive schedule."""

    def __init__(self, name: str, student: nn.Module, student_modality: str,
                 teachers: Sequence[nn.Module], teacher_modalities: Sequence[str],
                 loss: DistillLoss, optim: OptimConfig, epochs: int, batch_size: int, *,
                 teacher_tasks: Sequence[SupervisedTask] | None = None, k: int = 1,
                 cache_teachers: bool = True,
                 teacher_augment: Mapping[str, Augment] | None = None) -> None:
        if len(teachers) != len(teacher_modalities):
            raise ValueError("one modality per teacher")
        if k < 1:
            raise ConfigError(f"params.yaml: distill.k must be >= 1, got {k}")
        self.name, self.student, self.modality = name, student, student_modality
        self.teachers, self.teacher_modalities = list(teachers), list(teacher_modalities)
        self.loss, self.batch_size, self.k = loss, batch_size, k
        self.teacher_tasks = list(teacher_tasks or [])
        self.teacher_augment = dict(teacher_augment or {})  # progressive teachers' epochs only
        self.optim = optim
        self.optimizer = build_optimizer([*student.parameters(), *loss.parameters()], optim)
        self.scheduler = build_scheduler(self.optimizer, optim, epochs)
        self.events: list[tuple[str, int]] = []  # ("teacher"|"student", epoch): order checks
        # Frozen teachers' outputs never change, so the pretrained schedule computes them once.
        self.cache_teachers = cache_teachers and not teacher_tasks
        self.teacher_cache: FrozenTeacherOutputs | None = None
        if not self.teacher_tasks:
            for t in self.teachers:
                t.eval()
                t.requires_grad_(False)

    @property
    def progressive(self) -> bool:
        return bool(self.teacher_tasks)

    def stateful(self) -> dict[str, Any]:
        state: dict[str, Any] = {"student": self.student, "loss": self.loss,
                                 "optimizer": self.optimizer, "scheduler": self.scheduler}
        for i, task in enumerate(self.teacher_tasks):
            state.update({f"teacher{i}.{k}": v for k, v in task.stateful().items()})
        return state

    def selected(self) -> dict[str, nn.Module]:
        return {"student": self.student, "loss": self.loss}

    def train_epoch(self, data: PairedArrays, indices: np.ndarray, epoch: int,
                    seed: int) -> dict[str, float]:
        metrics: dict[str, float] = {}
        for sub_epoch in range(self.k if self.progressive else 0):
            t_epoch = epoch * self.k + sub_epoch
            for i, task in enumerate(self.teacher_tasks):
                m = task.train_epoch(self._teacher_data(data, task.modality), indices, t_epoch,
                                     epoch_seed(seed, t_epoch, 2 + i))  # own order per epoch
                metrics[f"teacher{i}_loss"] = m["loss"]
                metrics[f"teacher{i}_train_accuracy"] = m["train_accuracy"]
            self.events.append(("teacher", t_epoch))
        metrics.update(self._student_epoch(data, indices, epoch, seed))
        self.events.append(("student", epoch))
        return metrics

    def _teacher_data(self, data: PairedArrays, modality: str) -> PairedArrays:
        """A progressive teacher's view of ``data``: its modality, its augmentation. The
        student epoch keeps ``data`` (the student's augmentation only), so the targets it
        distils from are the teachers' outputs on the stored clips."""
        fn = self.teacher_augment.get(modality)
        return replace(data, arrays={modality: data.arrays[modality]},
                       augment={modality: fn} if fn is not None else {})

    def _student_epoch(self, data: PairedArrays, indices: np.ndarray, epoch: int,
                       seed: int) -> dict[str, float]:
        self.student.train()
        self.loss.train()
        for t in self.teachers:
            t.eval()  # teachers predict; in progressive mode they train in their own epochs
        if self.cache_teachers and (self.teacher_cache is None
                                    or not self.teacher_cache.covers(indices)):
            self.teacher_cache = FrozenTeacherOutputs(
                self.teachers, self.teacher_modalities, data, indices,
                keep_maps=self.loss.uses_maps)
        sums: dict[str, float] = {}
        correct = seen = 0
        for i, batch in enumerate(data.batches(indices, self.batch_size, shuffle=True,
                                               seed=seed, train=True)):
            if self.teacher_cache is not None:
                t_out = self.teacher_cache.gather(batch["idx"])
            else:
                with torch.no_grad():
                    t_out = [t(batch[m]) for t, m in zip(self.teachers, self.teacher_modalities,
                                                         strict=True)]
            s_out = self.student(batch[self.modality])
            terms = self.loss(s_out, t_out, batch["y"])
            check_finite(terms["total"], f"{self.name} epoch {epoch + 1} batch {i + 1}")
            self.optimizer.zero_grad(set_to_none=True)
            terms["total"].backward()
            step(self.optimizer, self.optim)
            n = len(batch["y"])
            for key, value in terms.items():
                name = "loss" if key == "total" else f"loss_{key}"
                sums[name] = sums.get(name, 0.0) + float(value.detach()) * n
            correct += int((s_out.logits.argmax(1) == batch["y"]).sum())
            seen += n
        lr = self.optimizer.param_groups[0]["lr"]
        self.scheduler.step()
        out = {k: v / max(seen, 1) for k, v in sums.items()}
        return {**out, "train_accuracy": correct / max(seen, 1), "lr": lr}

    def predict(self, data: PairedArrays, indices: np.ndarray) -> torch.Tensor:
        return predict_logits(self.student, data, indices, self.modality)


class FrozenTeacherOutputs:
    """Every frozen teacher's output for a set of clips, computed once and gathered by index.

    A teacher in eval mode without gradients gives the same output for a clip every epoch
    (the targets are always on the stored clips), so recomputing it is waste: with the compact
    student a kd epoch took 3.07 s without the cache and 0.39 s with it (BENCHMARKS.md).
    Feature maps are kept only for losses that use them (``DistillLoss.uses_maps``), which
    bounds the memory to logits + embeddings.
    """

    def __init__(self, teachers: Sequence[nn.Module], modalities: Sequence[str],
                 data: PairedArrays, indices: np.ndarray, *, keep_maps: bool,
                 batch_size: int = 64) -> None:
        indices = np.asarray(indices)
        self.row = np.full(len(data.labels), -1, dtype=np.int64)  # sample index -> cache row
        self.row[indices] = np.arange(len(indices))
        self.outputs: list[ModelOutput] = []
        for teacher, modality in zip(teachers, modalities, strict=True):
            teacher.eval()
            parts: list[ModelOutput] = []
            with torch.no_grad():
                for batch in data.batches(indices, batch_size):
                    out = teacher(batch[modality])
                    parts.append(ModelOutput(out.logits, out.embedding,
                                             dict(out.maps) if keep_maps else {}))
            self.outputs.append(ModelOutput(
                torch.cat([p.logits for p in parts]), torch.cat([p.embedding for p in parts]),
                {k: torch.cat([p.maps[k] for p in parts]) for k in parts[0].maps}))

    def covers(self, indices: np.ndarray) -> bool:
        return bool((self.row[np.asarray(indices)] >= 0).all())

    def gather(self, idx: torch.Tensor) -> list[ModelOutput]:
        rows = torch.as_tensor(self.row[idx.numpy()])
        if bool((rows < 0).any()):
            raise KeyError("teacher outputs were not cached for some clips of this batch")
        return [ModelOutput(o.logits[rows], o.embedding[rows],
                            {k: v[rows] for k, v in o.maps.items()}) for o in self.outputs]
