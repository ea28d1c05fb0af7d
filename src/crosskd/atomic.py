"""Atomic outputs: write under a temporary name in the same folder, then rename.

An interrupted stage then leaves either the old output or none, never a half-written file
that DVC would cache. A temporary left by a process killed outright (SIGKILL, power loss) is
removed by the next write of the same target: DVC never runs two stages on one output.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def remove_stale_temporaries(target: Path) -> list[Path]:
    """Delete what an earlier, killed write of ``target`` left next to it; return those paths."""
    # mkstemp/mkdtemp names: "." + target name + "." + 8 random characters + ".tmp". A write
    # nested in that temporary (a generator or an extraction into it) leaves names built on
    # it: "." + it + ".<random>.tmp", it + ".extract", ... They go with it.
    # (A second leading dot only with such a suffix: "..out.<random>.tmp" is a live
    # temporary of the target ".out".)
    name, rand = re.escape(target.name), "[a-z0-9_]{8}"
    pattern = re.compile(rf"\.{name}\.{rand}\.tmp(?:\..+)?|\.\.{name}\.{rand}\.tmp\..+|"
                         rf"\.{name}\.old")
    stale = [p for p in target.parent.iterdir() if pattern.fullmatch(p.name)]
    for path in stale:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return stale


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary file path next to ``target``; rename it over ``target`` on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; outputs follow the umask
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(target: str | Path) -> Iterator[Path]:
    """Yield a temporary folder next to ``target``; it replaces ``target`` on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        if target.exists():
            # Move the old folder aside first so the swap is two renames, not a slow delete.
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_text_atomic(target: str | Path, text: str) -> None:
    """Write ``text`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text)
