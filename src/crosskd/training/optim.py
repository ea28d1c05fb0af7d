"""Optimiser and learning-rate schedule from params (stepped once per epoch)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch

from crosskd.errors import ConfigError


@dataclass(frozen=True)
class OptimConfig:
    name: str = "sgd"  # sgd | adam | adamw
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "cosine"  # cosine | step | constant
    step_size: int = 30
    gamma: float = 0.1
    clip_grad_norm: float = 0.0  # > 0: clip the global gradient norm (keeps KD terms stable)


def step(optimizer: torch.optim.Optimizer, cfg: OptimConfig) -> None:
    """Clip (if configured) and take one optimiser step."""
    if cfg.clip_grad_norm > 0:
        params = [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        torch.nn.utils.clip_grad_norm_(params, cfg.clip_grad_norm)
    optimizer.step()


def build_optimizer(
    params: Iterable[torch.nn.Parameter], cfg: OptimConfig
) -> torch.optim.Optimizer:
    if cfg.name == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=True,
                               weight_decay=cfg.weight_decay)
    if cfg.name == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.name == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    raise ConfigError(f"params.yaml: unknown optimizer {cfg.name!r}; known: sgd, adam, adamw")


def build_scheduler(opt: torch.optim.Optimizer, cfg: OptimConfig,
                    epochs: int) -> torch.optim.lr_scheduler.LRScheduler:
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs))
    if cfg.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.step_size, gamma=cfg.gamma)
    if cfg.schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    raise ConfigError(f"params.yaml: unknown schedule {cfg.schedule!r}; "
                      "known: cosine, step, constant")
