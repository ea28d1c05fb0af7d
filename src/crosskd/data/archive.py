"""Safe, atomic extraction of zip and tar archives.

Every member is checked *before* anything is written: absolute paths, drive letters, ``..``
components (zip-slip / tar-slip), links and device files are refused with an error naming
the archive and the member. Extraction goes into a temporary sibling folder that replaces
``dest`` only on success, so a refused, corrupt or interrupted archive leaves nothing at
``dest``.
"""

from __future__ import annotations

import gzip
import logging
import re
import shutil
import stat
import tarfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from crosskd.atomic import atomic_dir
from crosskd.errors import DataError

log = logging.getLogger(__name__)

ZIP_SUFFIXES = (".zip",)
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")

# Errors the compression layers raise on damaged input.
_TAR_CORRUPT = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile)
_ZIP_CORRUPT = (zipfile.BadZipFile, EOFError, zlib.error)

_DRIVE = re.compile(r"^[A-Za-z]:")


def _kind(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(ZIP_SUFFIXES):
        return "zip"
    if name.endswith(TAR_SUFFIXES):
        return "tar"
    return None


def is_archive(path: str | Path) -> bool:
    """True if ``path`` has a zip or tar extension that :func:`safe_extract` handles."""
    return _kind(Path(path)) is not None


def _check_name(archive: Path, name: str) -> None:
    """Refuse member names that could land outside the extraction folder."""
    if not name:
        raise DataError(archive, "member with an empty name")
    if name.startswith(("/", "\\")):
        raise DataError(archive, f"member {name!r} has an absolute path")
    if _DRIVE.match(name):
        raise DataError(archive, f"member {name!r} has a drive letter")
    if ".." in re.split(r"[\\/]+", name):
        raise DataError(archive, f"member {name!r} has a '..' component (path traversal)")


def _check_tar_member(archive: Path, member: tarfile.TarInfo) -> None:
    _check_name(archive, member.name)
    if member.issym() or member.islnk():
        kind = "symlink" if member.issym() else "hardlink"
        raise DataError(
            archive,
            f"member {member.name!r} is a {kind} to {member.linkname!r}; "
            "links are not extracted (they could point outside the destination)",
        )
    if member.ischr() or member.isblk() or member.isfifo():
        raise DataError(archive, f"member {member.name!r} is a device file or FIFO")
    if not (member.isfile() or member.isdir()):
        raise DataError(archive, f"member {member.name!r} has an unsupported type")


def _target(archive: Path, root: Path, name: str) -> Path:
    """Destination of a checked member; checks (again) that it stays below ``root``."""
    rel = PurePosixPath(name.replace("\\", "/"))
    target = root.joinpath(*(p for p in rel.parts if p not in ("", ".")))
    if not target.resolve().is_relative_to(root.resolve()):
        raise DataError(archive, f"member {name!r} would be extracted outside {root}")
    return target


def _corrupt(archive: Path, exc: BaseException) -> DataError:
    return DataError(archive, f"archive is corrupt or truncated ({exc})")


def _extract_zip(archive: Path, dest: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            for info in infos:
                _check_name(archive, info.filename)
                # A Unix zip's mode is in the high 16 bits: a symlink (`zip --symlinks`)
                # is refused as in tar archives rather than written as a text file.
                if info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16):
                    raise DataError(archive, f"member {info.filename!r} is a symlink; links "
                                    "are not extracted (they could point outside the "
                                    "destination)")
            with atomic_dir(dest) as tmp:
                for info in infos:
                    target = _target(archive, tmp, info.filename)
                    if info.is_dir():
                        target.mkdir(parents=True, exist_ok=True)
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    try:
                        with zf.open(info) as src, open(target, "wb") as out:
                            shutil.copyfileobj(src, out)
                    # zipfile's words for a member it cannot read (e.g. Deflate64, which
                    # Windows writes for large files, or a password).
                    except NotImplementedError as exc:
                        raise DataError(archive, f"member {info.filename!r}: {exc}; "
                                        "re-pack the archive with plain deflate") from exc
                    except RuntimeError as exc:
                        if not info.flag_bits & 0x1:
                            raise
                        raise DataError(archive, f"member {info.filename!r} is encrypted; "
                                        "extract it by hand and fetch the folder") from exc
    except _ZIP_CORRUPT as exc:
        raise _corrupt(archive, exc) from exc


def _extract_tar(archive: Path, dest: Path) -> None:
    try:
        with tarfile.open(archive, "r:*") as tf:
            members = tf.getmembers()  # reads the whole index: truncation shows up here
            for member in members:
                _check_tar_member(archive, member)
            with atomic_dir(dest) as tmp:
                for member in members:
                    target = _target(archive, tmp, member.name)
                    if member.isdir():
                        target.mkdir(parents=True, exist_ok=True)
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    src = tf.extractfile(member)
                    if src is None:  # cannot happen for regular files; be explicit anyway
                        raise DataError(archive, f"member {member.name!r} has no data")
                    with src, open(target, "wb") as out:
                        shutil.copyfileobj(src, out)
    except _TAR_CORRUPT as exc:
        raise _corrupt(archive, exc) from exc


def safe_extract(archive: str | Path, dest: str | Path) -> Path:
    """Extract a zip or tar ``archive`` into the folder ``dest`` (replaced atomically).

    Raises ``DataError`` naming the archive for an unknown type, a corrupt or truncated
    file, or any unsafe member (absolute path, drive letter, ``..``, link, device file).
    """
    archive, dest = Path(archive), Path(dest)
    kind = _kind(archive)
    if kind is None:
        raise DataError(
            archive,
            f"unknown archive type; expected one of {', '.join(ZIP_SUFFIXES + TAR_SUFFIXES)}",
        )
    if not archive.is_file():
        raise DataError(archive, "archive not found")
    if kind == "zip":
        _extract_zip(archive, dest)
    else:
        _extract_tar(archive, dest)
    log.info("extracted %s -> %s", archive, dest)
    return dest


__all__ = ["is_archive", "safe_extract"]
