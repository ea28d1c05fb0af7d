"""Atomic outputs: the old output or the new one, never half of one, nothing left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from crosskd.atomic import atomic_dir, atomic_path, write_text_atomic


def test_a_failed_write_keeps_the_old_output_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "metrics.json"
    write_text_atomic(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "old"
    folder = tmp_path / "raw"
    with atomic_dir(folder) as tmp:
        (tmp / "a.txt").write_text("1")
    with pytest.raises(RuntimeError), atomic_dir(folder) as tmp:
        (tmp / "b.txt").write_text("2")
        raise RuntimeError
    assert sorted(p.name for p in folder.iterdir()) == ["a.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json", "raw"]


def test_temporaries_of_a_killed_write_go_with_the_next_write(tmp_path: Path) -> None:
    (tmp_path / ".utd_mhad.k3x_9a1z.tmp").mkdir()  # what SIGKILL mid-fetch leaves
    (tmp_path / ".utd_mhad.k3x_9a1z.tmp" / "big.bin").write_bytes(b"x" * 100)
    (tmp_path / ".utd_mhad.old").mkdir()
    # ... and what writes nested in that temporary leave: a generator's own atomic_dir, an
    # extraction folder and its temporary, the moved-aside root of a nested archive.
    for nested in ("..utd_mhad.k3x_9a1z.tmp.qq8w2e0r.tmp", ".utd_mhad.k3x_9a1z.tmp.extract",
                   "..utd_mhad.k3x_9a1z.tmp.extract.a1b2c3d4.tmp", ".utd_mhad.k3x_9a1z.tmp.lift"):
        (tmp_path / nested).mkdir()
    (tmp_path / ".utd_mhad.h5.abcdefgh.tmp").write_text("another target's")
    (tmp_path / "utd_mhad.zip.part").write_text("a resumable download")
    (tmp_path / "..utd_mhad.live0001.tmp").write_text("the live temporary of '.utd_mhad'")
    with atomic_dir(tmp_path / "utd_mhad") as tmp:
        (tmp / "ok").write_text("1")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "..utd_mhad.live0001.tmp", ".utd_mhad.h5.abcdefgh.tmp", "utd_mhad", "utd_mhad.zip.part"]
    with atomic_path(tmp_path / "utd_mhad.h5") as tmp:
        tmp.write_text("fused")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "..utd_mhad.live0001.tmp", "utd_mhad", "utd_mhad.h5", "utd_mhad.zip.part"]


def test_sigterm_to_a_stage_unwinds_its_atomic_write(tmp_path: Path) -> None:
    script = tmp_path / "stage.py"
    script.write_text(textwrap.dedent("""
        import sys, time
        from pathlib import Path
        from crosskd.atomic import atomic_dir
        from crosskd.cli import run_stage, stage_parser

        def body(args, params):
            with atomic_dir("out") as tmp:
                (tmp / "part").write_bytes(b"x")
                Path("started").touch()
                time.sleep(60)

        sys.exit(run_stage(stage_parser("test stage"), body))
    """))
    (tmp_path / "params.yaml").write_text("a: 1\n")
    proc = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not (tmp_path / "started").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml", "stage.py", "started"]
