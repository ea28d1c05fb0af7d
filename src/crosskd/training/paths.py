"""Where each run's files go; dvc.yaml names the same paths."""

from __future__ import annotations

from pathlib import Path


def variant_name(method: str, schedule: str) -> str:
    """A distilled student's model name: the method, suffixed unless teachers were frozen."""
    return method if schedule == "pretrained" else f"{method}_{schedule}"


def run_name(model: str, seed: int) -> str:
    return f"{model}_s{seed}"


def model_file(model: str, seed: int, root: str | Path = "models") -> Path:
    return Path(root) / model / f"s{seed}" / "model.pt"


def checkpoint_dir(model: str, seed: int, root: str | Path = "checkpoints") -> Path:
    return Path(root) / run_name(model, seed)


def train_metrics(model: str, seed: int) -> Path:
    return Path("metrics/train") / f"{run_name(model, seed)}.json"


def train_curve(model: str, seed: int) -> Path:
    return Path("plots/train") / f"{run_name(model, seed)}.csv"


def eval_metrics(model: str, seed: int) -> Path:
    return Path("metrics/eval") / f"{run_name(model, seed)}.json"


def confusion_csv(model: str, seed: int) -> Path:
    return Path("plots/confusion") / f"{run_name(model, seed)}.csv"


def confusion_png(model: str, seed: int) -> Path:
    return Path("plots/confusion") / f"{run_name(model, seed)}.png"


def fused_file(dataset: str) -> Path:
    return Path("data/fused") / f"{dataset}.h5"


def gaf_file(dataset: str) -> Path:
    return Path("data/gaf") / f"{dataset}.h5"


def distill_metrics(variant: str, seed: int) -> Path:
    return Path("metrics/distill") / f"{run_name(variant, seed)}.json"


def distill_curve(variant: str, seed: int) -> Path:
    return Path("plots/distill") / f"{run_name(variant, seed)}.csv"
