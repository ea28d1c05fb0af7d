"""download(): a real HTTP server on 127.0.0.1 with Range support, switchable failure modes."""

from __future__ import annotations

import hashlib
import http.server
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from crosskd.data.download import download
from crosskd.errors import ChecksumError, DownloadError

PAYLOAD = os.urandom(300_000)
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


@dataclass
class ServerState:
    payload: bytes = PAYLOAD
    ignore_range: bool = False
    status: int | None = None  # e.g. 404: answer every request with this error
    ranges: list[str | None] = field(default_factory=list)  # Range header of each request


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        state: ServerState = self.server.state  # type: ignore[attr-defined]
        rng = self.headers.get("Range")
        state.ranges.append(rng)
        if state.status is not None:
            self.send_error(state.status)
            return
        data, size = state.payload, len(state.payload)
        m = re.fullmatch(r"bytes=(\d+)-", rng or "")
        if m and not state.ignore_range:
            start = int(m.group(1))
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
            body = data[start:]
        else:
            self.send_response(200)
            body = data
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # quiet test output
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, ServerState]]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.state = ServerState()  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    host, port = httpd.server_address[:2]
    try:
        yield f"http://{host}:{port}/data.bin", httpd.state  # type: ignore[attr-defined]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def test_full_download_with_checksum(server, tmp_path: Path) -> None:
    url, state = server
    dest = tmp_path / "sub" / "data.bin"
    assert download(url, dest, sha256=PAYLOAD_SHA, chunk_size=64 * 1024) == dest
    assert dest.read_bytes() == PAYLOAD
    assert not dest.with_name("data.bin.part").exists()
    assert state.ranges == [None]


def test_resume_from_part_file(server, tmp_path: Path) -> None:
    url, state = server
    dest = tmp_path / "data.bin"
    half = len(PAYLOAD) // 2
    dest.with_name("data.bin.part").write_bytes(PAYLOAD[:half])
    download(url, dest, sha256=PAYLOAD_SHA)
    assert state.ranges == [f"bytes={half}-"]
    assert dest.read_bytes() == PAYLOAD
    assert not dest.with_name("data.bin.part").exists()


def test_server_ignoring_range_restarts(server, tmp_path: Path) -> None:
    url, state = server
    state.ignore_range = True
    dest = tmp_path / "data.bin"
    half = len(PAYLOAD) // 2
    dest.with_name("data.bin.part").write_bytes(PAYLOAD[:half])
    download(url, dest, sha256=PAYLOAD_SHA)
    assert state.ranges == [f"bytes={half}-"]
    assert dest.read_bytes() == PAYLOAD


def test_complete_part_file_and_416(server, tmp_path: Path) -> None:
    url, state = server
    dest = tmp_path / "data.bin"
    dest.with_name("data.bin.part").write_bytes(PAYLOAD)
    download(url, dest, sha256=PAYLOAD_SHA)
    assert state.ranges == [f"bytes={len(PAYLOAD)}-"]
    assert dest.read_bytes() == PAYLOAD


def test_416_with_wrong_part_restarts(server, tmp_path: Path) -> None:
    url, state = server
    dest = tmp_path / "data.bin"
    dest.with_name("data.bin.part").write_bytes(b"x" * len(PAYLOAD))  # right size, wrong bytes
    download(url, dest, sha256=PAYLOAD_SHA)
    assert state.ranges == [f"bytes={len(PAYLOAD)}-", None]
    assert dest.read_bytes() == PAYLOAD


def test_checksum_mismatch(server, tmp_path: Path) -> None:
    url, _ = server
    dest = tmp_path / "data.bin"
    wrong = "0" * 64
    with pytest.raises(ChecksumError) as info:
        download(url, dest, sha256=wrong)
    msg = str(info.value)
    assert url in msg and wrong in msg and PAYLOAD_SHA in msg
    assert not dest.exists()
    assert not dest.with_name("data.bin.part").exists()


def test_http_404(server, tmp_path: Path) -> None:
    url, state = server
    state.status = 404
    dest = tmp_path / "data.bin"
    with pytest.raises(DownloadError, match="404") as info:
        download(url, dest)
    assert url in str(info.value)
    assert not dest.exists()


def test_existing_dest_with_matching_sha_makes_no_request(server, tmp_path: Path) -> None:
    url, state = server
    dest = tmp_path / "data.bin"
    dest.write_bytes(PAYLOAD)
    assert download(url, dest, sha256=PAYLOAD_SHA) == dest
    assert state.ranges == []


def test_existing_dest_with_wrong_sha_is_replaced(server, tmp_path: Path) -> None:
    url, state = server
    dest = tmp_path / "data.bin"
    dest.write_bytes(b"stale")
    download(url, dest, sha256=PAYLOAD_SHA)
    assert state.ranges == [None]
    assert dest.read_bytes() == PAYLOAD


def test_connection_refused_fails_fast_with_hint(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dest = tmp_path / "data.bin"
    part = dest.with_name("data.bin.part")
    part.write_bytes(b"partial")
    start = time.monotonic()
    with pytest.raises(DownloadError) as info:
        download(f"http://127.0.0.1:{port}/data.bin", dest, timeout=5.0)
    assert time.monotonic() - start < 2.0
    msg = str(info.value)
    assert "fetch.source" in msg and "path" in msg and "no network route" in msg
    assert part.read_bytes() == b"partial"  # kept for a later resume
    assert not dest.exists()
