"""Writing a run's metrics JSON and curve CSV (DVC metrics and plots), atomically."""

from __future__ import annotations

import csv
import io
import json
import resource
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from crosskd.atomic import write_text_atomic


def peak_memory_mb() -> float:
    """Peak resident memory of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def write_json(path: str | Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def write_csv(path: str | Path, rows: list[dict[str, Any]],
              columns: Sequence[str] = ()) -> None:
    """Rows as CSV; ``columns`` come first and always exist (empty cells where a row lacks
    them), every other key of any row follows in first-seen order."""
    fields: list[str] = list(columns)
    for row in rows:
        fields += [k for k in row if k not in fields]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    write_text_atomic(path, buf.getvalue())
