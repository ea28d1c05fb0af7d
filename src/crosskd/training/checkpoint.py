"""Checkpoints written atomically and read back with ``torch.load(weights_only=True)``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from crosskd.atomic import atomic_path
from crosskd.errors import CrossKDError


class CheckpointError(CrossKDError):
    pass


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path``; a crash mid-write leaves the previous checkpoint intact."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint is missing")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle, zip and unpickler errors all mean "not usable"
        raise CheckpointError(f"{path}: not a readable checkpoint ({_cause(exc)}); delete it "
                              "and re-run the stage that writes it") from exc


def _cause(exc: Exception) -> str:
    """The reason in torch's message, without its advice to load with weights_only=False
    (that would run the file's code) and without terminal colour codes."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in str(exc).splitlines()]
    lines = [line for line in lines if line]
    reason = next((line.split("error: ", 1)[1] for line in lines
                   if line.startswith("WeightsUnpickler error: ")), lines[0] if lines else "")
    return f"{type(exc).__name__}: {reason.split('. Please use')[0]}"
