"""Progress bars that show on a terminal and stay quiet in CI and logs."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress_enabled() -> bool:
    """Bars only for an interactive stderr, never when CI or CROSSKD_QUIET is set."""
    if os.environ.get("CI") or os.environ.get("CROSSKD_QUIET"):
        return False
    return sys.stderr.isatty()


def progress(iterable: Iterable[T] | None = None, **kwargs: Any) -> tqdm:
    """``tqdm`` with the project's on/off rule; pass ``disable=`` to override."""
    kwargs.setdefault("disable", not progress_enabled())
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, **kwargs)
