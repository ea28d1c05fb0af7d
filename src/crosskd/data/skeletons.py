"""The skeletons step: skeletons for datasets whose release has none (MMAct: from RGB video).

Datasets that ship skeletons (UTD-MHAD, Berkeley-MHAD) pass through: the output folder then
only holds ``skeletons.json`` saying so, so the stage exists for every dataset and the DAG
stays one shape.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from crosskd.atomic import atomic_dir
from crosskd.config import get, positive_int
from crosskd.data.datasets import get_dataset
from crosskd.data.fetch import POSE_MODEL, resolve_actions
from crosskd.data.mmact import extract_skeletons

log = logging.getLogger(__name__)


def skeletons_stage(params: dict[str, Any], raw_root: str | Path, out_dir: str | Path,
                    cache_dir: str | Path = ".cache/pose") -> dict[str, Any]:
    spec = get_dataset(get(params, "data.dataset"))
    out_dir = Path(out_dir)
    if not spec.skeletons_from_video:
        with atomic_dir(out_dir) as tmp:
            (tmp / "skeletons.json").write_text(json.dumps(
                {"dataset": spec.name, "source": "release"}, indent=2) + "\n")
        return {"source": "release"}
    report = extract_skeletons(
        raw_root, out_dir, Path(raw_root) / POSE_MODEL,
        camera=get(params, "skeletons.camera"),
        frame_stride=positive_int(params, "skeletons.frame_stride"),
        cache_dir=cache_dir,
        actions=resolve_actions(spec, get(params, "data.actions")),
    )
    log.info("skeletons: %s", report)
    return {"source": "video"}
