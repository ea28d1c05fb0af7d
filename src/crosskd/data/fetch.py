"""The fetch step: produce ``data/raw/<dataset>/`` from one of three sources.

- ``synthetic``: generate the built-in dataset in the dataset's official on-disk format.
- ``path``: a folder or an archive the user already has (verified against its
  MANIFEST.sha256 when it has one).
- ``url``: the official downloads (resumable, sha256-checked, safely extracted).

The output folder is written atomically, so an interrupted fetch leaves no half folder.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from crosskd.atomic import atomic_dir
from crosskd.config import choice, get, number, positive_int
from crosskd.data.archive import is_archive, safe_extract
from crosskd.data.datasets import DatasetSpec, get_dataset
from crosskd.data.download import cache_path, download
from crosskd.data.manifest import sha256_file, verify_manifest
from crosskd.errors import ChecksumError, ConfigError, DataError

log = logging.getLogger(__name__)

SOURCES = ("synthetic", "path", "url")


def _is_metadata(rel: Path) -> bool:
    """macOS Finder's ``__MACOSX`` side tree (``._<name>`` files): never the dataset."""
    return "__MACOSX" in rel.parts


def find_root(folder: Path, markers: tuple[str, ...]) -> Path:
    """The folder (``folder`` or one below it) that holds all the dataset's marker folders.

    The shallowest one wins; two at that depth is an error, not a guess.
    """
    below = (p for p in folder.rglob("*")
             if p.is_dir() and not _is_metadata(p.relative_to(folder)))
    found = [c for c in [folder, *below] if all((c / m).is_dir() for m in markers)]
    found = list({c.resolve(): c for c in found}.values())  # a symlinked alias is one copy
    if not found:
        raise DataError(folder, f"no folder below it holds {list(markers)}: not this dataset?")
    depth = min(len(c.parts) for c in found)
    top = sorted(c for c in found if len(c.parts) == depth)
    if len(top) > 1:
        names = [c.relative_to(folder).as_posix() for c in top]
        raise DataError(folder, f"{len(top)} folders hold {list(markers)}: {names}; "
                        "keep one copy of the dataset")
    return top[0]


def _merge_into(src: Path, dst: Path) -> None:
    """Move the dataset's content from an extraction folder into the output folder."""
    for item in src.iterdir():
        target = dst / item.name
        if target.is_dir() and item.is_dir():
            _merge_into(item, target)
        else:
            shutil.move(str(item), str(target))


def _named_by_archive(archive: Path, folders: dict[Path, Path], exc: DataError) -> DataError:
    """``exc`` about a file extracted into one of ``folders`` (folder -> its path inside the
    archive), reworded to name ``archive`` and the member, not a temporary path."""
    base = next((f for f in folders if exc.path and exc.path.is_relative_to(f)), None)
    member = folders[base] / exc.path.relative_to(base) if base is not None else None
    where = f"member {member.as_posix()}: " if member and member != Path(".") else ""
    return type(exc)(archive, f"{where}{exc.problem}")


def timeout_s(params: dict[str, Any]) -> float:
    """``fetch.timeout_s``: seconds a download may wait for the server (0 would fail at once)."""
    value = number(params, "fetch.timeout_s", 20)
    if value <= 0:
        raise ConfigError(f"params.yaml: fetch.timeout_s must be > 0, got {value!r}")
    return value


def fetch_path(spec: DatasetSpec, source: Path, out: Path) -> None:
    if not source.exists():
        raise DataError(source, "fetch.path does not exist")
    if source.is_dir():
        root = find_root(source, spec.root_markers)
        # Check the user's copy before copying it, so a corrupt file is named at its origin.
        n = verify_manifest(root)
        log.info("copying %s (%d files verified by manifest)", root, n)
        # copyfile, not copy2: a read-only source must not give a read-only output.
        shutil.copytree(root, out, dirs_exist_ok=True, copy_function=shutil.copyfile,
                        ignore_dangling_symlinks=True)
        for d in [out, *(p for p in out.rglob("*") if p.is_dir())]:
            d.chmod(0o755)
        verify_manifest(out)
        return
    if not is_archive(source):
        raise DataError(source, "fetch.path is a file but not a zip or tar archive")
    extracted = safe_extract(source, out.with_name(out.name + ".extract"))
    inside = Path()  # where the dataset's root sits in the archive
    try:
        root = find_root(extracted, spec.root_markers)
        inside = root.relative_to(extracted)
        _merge_into(root, out)
        verify_manifest(out)
    except DataError as exc:
        raise _named_by_archive(source, {extracted: Path(), out: inside}, exc) from None
    finally:
        shutil.rmtree(extracted, ignore_errors=True)


def fetch_url(spec: DatasetSpec, entries: list[dict[str, Any]], out: Path, downloads: Path,
              timeout: float) -> None:
    if not entries:
        entries = [{"url": u, "sha256": None} for u in spec.official_urls]
    for entry in entries:
        if not isinstance(entry, dict) or "url" not in entry:
            raise ConfigError(f"params.yaml: fetch.urls entries need a 'url' key, got {entry!r}")
        url = entry["url"]
        archive = download(url, cache_path(url, downloads), sha256=entry.get("sha256"),
                           timeout=timeout)
        extracted = safe_extract(archive, out.with_name(out.name + ".extract"))
        try:
            _merge_into(extracted, out)
        finally:
            shutil.rmtree(extracted, ignore_errors=True)
    # Archives may nest the dataset one level down; lift its root to the output folder.
    root = find_root(out, spec.root_markers)
    if root != out:
        tmp = out.with_name(out.name + ".lift")
        shutil.move(str(root), str(tmp))
        shutil.rmtree(out)
        shutil.move(str(tmp), str(out))
    verify_manifest(out)


def synthetic_kwargs(params: dict[str, Any]) -> dict[str, Any]:
    """The generator's arguments from params (``synthetic.*`` and ``data.actions``)."""
    spec = get_dataset(get(params, "data.dataset"))
    return {
        "actions": resolve_actions(spec, get(params, "data.actions")),
        "subjects": positive_int(params, "synthetic.subjects"),
        "trials": positive_int(params, "synthetic.trials"),
        "seed": positive_int(params, "synthetic.seed", low=0),
        **{k: number(params, f"synthetic.{k}", low=0)
           for k in ("acc_noise_g", "gyro_noise_dps", "skeleton_noise_m")},
    }


def resolve_actions(spec: DatasetSpec, actions: Any) -> list[int]:
    """``all``, ``default`` or a list of 1-based action numbers -> a sorted, validated list."""
    n = len(spec.class_names)
    if actions == "default":
        actions = list(spec.default_actions) if spec.default_actions else "all"
    if actions == "all":
        return list(range(1, n + 1))
    if not isinstance(actions, list) or not actions:
        raise ConfigError("params.yaml: data.actions must be 'default', 'all' or a list, "
                          f"got {actions!r}")
    bad = [a for a in actions if isinstance(a, bool) or not isinstance(a, int) or not 1 <= a <= n]
    if bad or len(set(actions)) != len(actions):
        raise ConfigError(
            f"params.yaml: data.actions must be distinct action numbers 1-{n} of {spec.name}, "
            f"got {actions!r}"
        )
    return sorted(actions)


POSE_MODEL = "pose_model/pose_landmarker_full.task"


def fetch_pose_model(params: dict[str, Any], out: Path, downloads: Path) -> Path:
    """The MediaPipe pose model, from a local path or the official URL (``skeletons.model``)."""
    source = choice(params, "skeletons.model.source", ("path", "url"))
    sha256 = get(params, "skeletons.model.sha256", None)
    sha256 = str(sha256).strip().lower() if sha256 else None  # as download() reads it
    target = out / POSE_MODEL
    target.parent.mkdir(parents=True, exist_ok=True)
    if source == "url":
        url = get(params, "skeletons.model.url")
        got = download(url, cache_path(url, downloads), sha256=sha256,
                       timeout=timeout_s(params))
    else:
        got = Path(get(params, "skeletons.model.path")).expanduser()
        if not got.is_file():
            raise DataError(got, "skeletons.model.path: pose model file is missing; point "
                            "it at a copy, or set skeletons.model.source: url to download it")
        if sha256 and sha256_file(got) != sha256:
            raise ChecksumError(got, f"sha256 mismatch: expected {sha256}, "
                                f"got {sha256_file(got)}")
    shutil.copyfile(got, target)
    return target


def fetch_dataset(params: dict[str, Any], out_root: str | Path = "data/raw",
                  downloads: str | Path = "data/downloads") -> Path:
    """Run the fetch step as params say; return ``<out_root>/<dataset>``."""
    spec = get_dataset(get(params, "data.dataset"))
    source = choice(params, "fetch.source", SOURCES)
    out = Path(out_root) / spec.name
    with atomic_dir(out) as tmp:
        if source == "synthetic":
            n = spec.generate(tmp, **synthetic_kwargs(params))
            log.info("generated %d synthetic %s clips", n, spec.name)
        elif source == "path":
            fetch_path(spec, Path(get(params, "fetch.path")).expanduser(), tmp)
        else:
            fetch_url(spec, get(params, "fetch.urls", []) or [], tmp, Path(downloads),
                      timeout_s(params))
        if spec.skeletons_from_video:
            fetch_pose_model(params, tmp, Path(downloads))
    return out
