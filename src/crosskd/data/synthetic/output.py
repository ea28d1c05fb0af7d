"""Where a synthetic generator writes: never over a folder that is not its own."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from crosskd.errors import ConfigError


def check_out_dir(out_dir: Path, own_files: Collection[str], what: str) -> None:
    """Refuse to replace a folder that holds anything but a previous generation of ``what``."""
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise ConfigError(f"{out_dir}: exists and is not a folder")
    foreign = sorted(p.name for p in out_dir.iterdir() if p.name not in own_files)
    if foreign:
        raise ConfigError(
            f"{out_dir}: holds {foreign[:5]}, not a synthetic {what} folder; "
            "refusing to replace it"
        )
