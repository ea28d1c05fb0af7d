"""sha256 manifests in ``sha256sum`` format (``<hex>  ./relative/path``)."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from crosskd.errors import ChecksumError, DataError

log = logging.getLogger(__name__)

MANIFEST_NAME = "MANIFEST.sha256"


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def read_manifest(manifest: Path) -> dict[str, str]:
    """Map relative path -> expected hex digest; malformed lines are an error."""
    entries: dict[str, str] = {}
    for lineno, line in enumerate(manifest.read_text().splitlines(), 1):
        if not line.strip():
            continue
        digest, sep, name = line.partition("  ")
        digest = digest.strip().lower()
        if not sep or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise DataError(manifest, f"line {lineno} is not '<sha256>  <path>': {line!r}")
        name = name.strip().removeprefix("*").removeprefix("./")
        entries[name] = digest
    return entries


def verify_manifest(folder: str | Path, name: str = MANIFEST_NAME) -> int:
    """Check every file the folder's manifest lists; return how many were verified.

    Missing manifest: nothing to check (0). Missing file or digest mismatch: an error that
    names the file, so a corrupt copy never reaches the later stages.
    """
    folder = Path(folder)
    manifest = folder / name
    if not manifest.is_file():
        return 0
    entries = read_manifest(manifest)
    for rel, expected in entries.items():
        path = folder / rel
        if not path.is_file():
            raise DataError(path, f"listed in {name} but missing")
        actual = sha256_file(path)
        if actual != expected:
            raise ChecksumError(path, f"sha256 mismatch: expected {expected}, got {actual}")
    log.info("verified %d files against %s", len(entries), manifest)
    return len(entries)


def write_manifest(folder: str | Path, name: str = MANIFEST_NAME) -> Path:
    """Write a manifest of every file below ``folder`` (sorted, reproducible)."""
    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != name)
    lines = [f"{sha256_file(p)}  ./{p.relative_to(folder).as_posix()}" for p in files]
    out = folder / name
    out.write_text("\n".join(lines) + "\n")
    return out
