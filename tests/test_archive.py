"""safe_extract(): unsafe members refused before anything is written; corrupt files named."""

from __future__ import annotations

import io
import os
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from crosskd.data.archive import is_archive, safe_extract
from crosskd.errors import DataError

FILES = {"a.txt": b"alpha\n", "sub/b.bin": bytes(range(256)) * 40}


def _make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _make_tar(path: Path, members: dict[str, bytes], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def _read_tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _leftovers(folder: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


def test_is_archive() -> None:
    for name in ("x.zip", "x.tar", "x.tar.gz", "X.TGZ"):
        assert is_archive(name)
    for name in ("x.txt", "x.gz", "folder"):
        assert not is_archive(name)


def test_zip_round_trip(tmp_path: Path) -> None:
    archive = _make_zip(tmp_path / "good.zip", FILES)
    dest = tmp_path / "out"
    assert safe_extract(archive, dest) == dest
    assert _read_tree(dest) == FILES
    assert _leftovers(tmp_path, {"good.zip", "out"}) == []


@pytest.mark.parametrize("mode,name", [("w", "good.tar"), ("w:gz", "good.tar.gz")])
def test_tar_round_trip(tmp_path: Path, mode: str, name: str) -> None:
    archive = _make_tar(tmp_path / name, FILES, mode)
    dest = tmp_path / "out"
    safe_extract(archive, dest)
    assert _read_tree(dest) == FILES
    # Extracting again replaces the folder atomically.
    (dest / "stale.txt").write_text("old")
    safe_extract(archive, dest)
    assert _read_tree(dest) == FILES


def test_zip_slip_refused(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    archive = _make_zip(work / "evil.zip", {"ok.txt": b"fine", "../evil.txt": b"pwned"})
    dest = work / "out"
    with pytest.raises(DataError, match=r"\.\./evil\.txt") as info:
        safe_extract(archive, dest)
    assert info.value.path == archive
    assert not dest.exists()
    assert not (tmp_path / "evil.txt").exists()
    assert _leftovers(work, {"evil.zip"}) == []  # no temporary folder left behind


@pytest.mark.parametrize("name", ["/etc/evil.txt", "C:/evil.txt", "\\evil.txt"])
def test_absolute_member_refused(tmp_path: Path, name: str) -> None:
    archive = tmp_path / "abs.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        # writestr() would strip a leading slash; set the raw name on a ZipInfo instead.
        info = zipfile.ZipInfo("placeholder")
        info.filename = name
        zf.writestr(info, b"pwned")
    dest = tmp_path / "out"
    with pytest.raises(DataError, match="absolute path|drive letter"):
        safe_extract(archive, dest)
    assert not dest.exists()


def test_tar_absolute_member_refused(tmp_path: Path) -> None:
    archive = _make_tar(tmp_path / "abs.tar", {"/tmp/evil.txt": b"pwned"}, "w")
    with pytest.raises(DataError, match="absolute path"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_tar_symlink_refused(tmp_path: Path) -> None:
    archive = tmp_path / "link.tar"
    with tarfile.open(archive, "w") as tf:
        info = tarfile.TarInfo("inside")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tf.addfile(info)
    dest = tmp_path / "out"
    with pytest.raises(DataError, match="symlink") as info_:
        safe_extract(archive, dest)
    assert "inside" in str(info_.value)
    assert not dest.exists()


def test_zip_symlink_refused(tmp_path: Path) -> None:
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("Inertial/inside")
        info.create_system = 3  # Unix; its mode in the high bits, as `zip --symlinks` stores
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
        zf.writestr("Inertial/ok.mat", b"x")
    dest = tmp_path / "out"
    with pytest.raises(DataError, match=r"link\.zip: member 'Inertial/inside' is a symlink"):
        safe_extract(archive, dest)
    assert not dest.exists()


def test_tar_device_refused(tmp_path: Path) -> None:
    archive = tmp_path / "dev.tar"
    with tarfile.open(archive, "w") as tf:
        info = tarfile.TarInfo("null")
        info.type = tarfile.CHRTYPE
        tf.addfile(info)
    with pytest.raises(DataError, match="device"):
        safe_extract(archive, tmp_path / "out")


def test_truncated_zip(tmp_path: Path) -> None:
    archive = _make_zip(tmp_path / "cut.zip", FILES)
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    dest = tmp_path / "out"
    with pytest.raises(DataError, match="corrupt or truncated") as info:
        safe_extract(archive, dest)
    assert str(archive) in str(info.value)
    assert not dest.exists()


def _patch_zip_headers(archive: Path, local_off: int, central_off: int, patch) -> None:
    """Rewrite one 16-bit field of every local and central header of ``archive``."""
    data = bytearray(archive.read_bytes())
    for sig, off in ((b"PK\x03\x04", local_off), (b"PK\x01\x02", central_off)):
        i = data.find(sig)
        while i >= 0:
            data[i + off:i + off + 2] = patch(int.from_bytes(data[i + off:i + off + 2],
                                                             "little")).to_bytes(2, "little")
            i = data.find(sig, i + 4)
    archive.write_bytes(bytes(data))


@pytest.mark.parametrize("field,patch,problem", [
    # Deflate64 (method 9), which Windows Explorer writes for large files.
    ((8, 10), lambda v: 9, r"member 'a\.txt': .*compression method.*re-pack"),
    ((6, 8), lambda v: v | 1, r"member 'a\.txt' is encrypted"),  # general flag bit 0
])
def test_zip_member_python_cannot_read_is_named(tmp_path: Path, field, patch, problem) -> None:
    archive = _make_zip(tmp_path / "odd.zip", FILES)
    _patch_zip_headers(archive, *field, patch)
    with pytest.raises(DataError, match=problem) as info:
        safe_extract(archive, tmp_path / "out")
    assert info.value.path == archive
    assert _leftovers(tmp_path, {"odd.zip"}) == []


def test_truncated_tar_gz(tmp_path: Path) -> None:
    archive = _make_tar(tmp_path / "cut.tar.gz", {"big.bin": os.urandom(200_000)})
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="corrupt or truncated"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_unknown_extension(tmp_path: Path) -> None:
    path = tmp_path / "data.rar"
    path.write_bytes(b"Rar!")
    with pytest.raises(DataError, match="unknown archive type") as info:
        safe_extract(path, tmp_path / "out")
    assert info.value.path == path
