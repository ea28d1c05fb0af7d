"""Reading the pipeline's own HDF5 files (fused, GAF): open-or-DataError, string decoding."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np

from crosskd.errors import DataError


@contextmanager
def open_h5(path: Path, missing: str) -> Iterator[h5py.File]:
    """``path`` open for reading; missing (``missing`` says which stage makes it) or
    unreadable, also mid-read, -> a DataError naming the file."""
    if not path.is_file():
        raise DataError(path, missing)
    try:
        with h5py.File(path, "r") as f:
            yield f
    except OSError as exc:
        raise DataError(path, f"not a readable HDF5 file (corrupt or truncated?): {exc}") from None


def decode_strings(arr: np.ndarray) -> list[str]:
    """h5py string datasets come back as bytes or str depending on how they were written."""
    return [s.decode() if isinstance(s, bytes) else str(s) for s in arr]
