"""Resumable, checksum-verified, atomic HTTP(S) downloads (stdlib ``urllib`` only).

Why not a plain ``urlretrieve``:

* **resume** - data sets are large and links are flaky; bytes land in ``<dest>.part`` and a
  later run asks for the rest with ``Range: bytes=k-`` instead of starting over;
* **checksum** - an expected sha256 is checked before the file is accepted, so a corrupt or
  substituted download never reaches the later stages;
* **atomic** - ``dest`` only appears via ``os.replace`` once the file is complete and
  verified, so an interrupted run never leaves a half-written ``dest`` that DVC would cache.

Without a network route the call fails fast (the ``timeout``, no retry loop) with a message
telling the user how to provide the file by hand.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from crosskd.data.manifest import sha256_file
from crosskd.errors import ChecksumError, DownloadError
from crosskd.progress import progress

log = logging.getLogger(__name__)

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)
_UNSATISFIED_RANGE = re.compile(r"bytes\s+\*/(\d+)", re.IGNORECASE)


def _network_error(url: str, reason: object, *, interrupted: bool = False) -> DownloadError:
    host = urllib.parse.urlsplit(url).hostname or url
    hint = (
        "download the file by hand and set `fetch.source: path` and "
        "`fetch.path: <folder or zip>` in params.yaml instead."
    )
    if interrupted:
        problem = f"the transfer from {host} was interrupted ({reason}); run again to resume, or"
    else:
        problem = f"no network route to the host {host} ({reason}); without network access,"
    return DownloadError(f"{url}: {problem} {hint}")


def _int_header(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _part_is_complete(part: Path, size: int | None, expected: str | None) -> bool:
    """After a 416: the part file counts as complete only if size and digest (if known) fit."""
    if size is not None and part.stat().st_size != size:
        return False
    return expected is None or sha256_file(part) == expected


def _finish(url: str, part: Path, dest: Path, expected: str | None) -> Path:
    """Verify the finished part file and move it over ``dest``."""
    if expected is not None:
        actual = sha256_file(part)
        if actual != expected:
            part.unlink(missing_ok=True)
            raise ChecksumError(
                dest, f"sha256 mismatch for {url}: expected {expected}, got {actual}"
            )
    os.replace(part, dest)
    log.info("downloaded %s -> %s", url, dest)
    return dest


def cache_path(url: str, folder: str | Path) -> Path:
    """Where ``url`` is kept in the download folder: ``<folder>/<url hash>/<file name>``.

    Keyed on the whole URL, not its file name: two mirrors' ``data.zip`` (or two
    ``uc?id=`` links) must not be served each other's file or resume each other's part.
    """
    name = Path(urllib.parse.urlparse(url).path).name or "download"
    return Path(folder) / hashlib.sha256(url.encode()).hexdigest()[:16] / name


def download(
    url: str,
    dest: str | Path,
    *,
    sha256: str | None = None,
    timeout: float = 20.0,
    chunk_size: int = 1 << 20,
) -> Path:
    """Download ``url`` to ``dest`` (resuming ``<dest>.part``), verify ``sha256``, return dest.

    Raises ``DownloadError`` for HTTP status and network errors (the partial file is kept
    so a later run resumes) and ``ChecksumError`` when the finished file's digest differs
    (the partial file is deleted).
    """
    dest = Path(dest)
    expected = sha256.strip().lower() if sha256 else None
    if dest.is_file() and (expected is None or sha256_file(dest) == expected):
        log.info("%s already present, not downloading", dest)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")

    # Two attempts at most: a resume that the server cannot honour falls back to one full GET.
    for _attempt in range(2):
        offset = part.stat().st_size if part.is_file() else 0
        request = urllib.request.Request(url, headers={"User-Agent": "crosskd"})
        if offset:
            request.add_header("Range", f"bytes={offset}-")
        try:
            response = urllib.request.urlopen(request, timeout=timeout)
        except urllib.error.HTTPError as exc:
            status, headers = exc.code, exc.headers
            exc.close()
            if status == 416 and offset:
                m = _UNSATISFIED_RANGE.search(headers.get("Content-Range", "") if headers else "")
                size = int(m.group(1)) if m else None
                if _part_is_complete(part, size, expected):
                    return _finish(url, part, dest, expected)
                part.unlink()  # stale or foreign part file: start over
                continue
            raise DownloadError(f"{url}: HTTP {status} {exc.reason}") from exc
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            raise _network_error(url, reason) from exc

        with response:
            status = getattr(response, "status", None) or 200
            length = _int_header(response.headers.get("Content-Length"))
            m = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if offset and status == 206 and m and int(m.group(1)) == offset:
                mode, start = "ab", offset  # server honoured the Range: append
                total = int(m.group(3)) if m.group(3) != "*" else None
                if total is None and length is not None:
                    total = offset + length
            elif status == 206:
                # A partial answer we did not ask for (or at the wrong offset): start over.
                part.unlink(missing_ok=True)
                continue
            else:
                mode, start, total = "wb", 0, length  # 200: Range ignored, restart from zero
            if offset and mode == "wb":
                log.info("%s ignored the Range request; downloading from the start", url)

            bar = progress(
                total=total,
                initial=start,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=dest.name,
            )
            with open(part, mode) as f, bar:
                while True:
                    try:
                        block = response.read(chunk_size)
                    except (OSError, http.client.HTTPException) as exc:
                        # Keep the part file: the next run resumes from here.
                        raise _network_error(url, repr(exc), interrupted=True) from exc
                    if not block:
                        break
                    f.write(block)
                    bar.update(len(block))

        received = part.stat().st_size
        if total is not None and received != total:
            reason = f"connection closed after {received} of {total} bytes"
            raise _network_error(url, reason, interrupted=True)
        return _finish(url, part, dest, expected)

    raise DownloadError(f"{url}: the server did not honour the resume of {part}")


__all__ = ["download"]
