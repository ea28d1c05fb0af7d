"""The fetch step's three sources, manifests and its errors."""

from __future__ import annotations

import http.server
import shutil
import threading
import zipfile
from pathlib import Path

import pytest

from crosskd.data.download import cache_path
from crosskd.data.fetch import fetch_dataset
from crosskd.data.manifest import write_manifest
from crosskd.data.utd_mhad import read_utd_mhad
from crosskd.errors import ChecksumError, ConfigError, DataError, DownloadError
from tests.conftest import base_params


def test_path_folder_verified_and_copied(mini_utd: Path, tmp_path: Path) -> None:
    write_manifest(mini_utd)
    out = fetch_dataset(base_params(fetch__source="path", fetch__path=str(mini_utd)),
                        tmp_path / "raw")
    assert out == tmp_path / "raw" / "utd_mhad"
    assert len(list(read_utd_mhad(out))) == 8
    assert (out / "MANIFEST.sha256").is_file()


def test_path_folder_checksum_mismatch_names_file(mini_utd: Path, tmp_path: Path) -> None:
    write_manifest(mini_utd)
    victim = mini_utd / "Inertial" / "a1_s1_t1_inertial.mat"
    victim.write_bytes(victim.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(ChecksumError, match="a1_s1_t1_inertial.mat: sha256 mismatch"):
        fetch_dataset(base_params(fetch__source="path", fetch__path=str(mini_utd)),
                      tmp_path / "raw")
    assert not (tmp_path / "raw" / "utd_mhad").exists()
    assert not [p for p in (tmp_path / "raw").iterdir()]  # no temporary leftovers


def test_path_zip_with_nested_root(mini_utd: Path, tmp_path: Path) -> None:
    archive = tmp_path / "UTD.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for p in mini_utd.rglob("*.mat"):
            z.write(p, f"release/UTD-MHAD/{p.relative_to(mini_utd)}")
    out = fetch_dataset(base_params(fetch__source="path", fetch__path=str(archive)),
                        tmp_path / "raw")
    assert len(list(read_utd_mhad(out))) == 8


def test_path_zip_from_macos_finder_skips_its_metadata(mini_utd: Path, tmp_path: Path) -> None:
    # Finder's "Compress" adds __MACOSX/<tree>/._<file> for every file; "__MACOSX" sorts
    # before a lower-case root, so a first-match search took the metadata for the data.
    archive = tmp_path / "utd.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for p in mini_utd.rglob("*.mat"):
            rel = p.relative_to(mini_utd)
            z.write(p, f"utd/{rel}")
            z.writestr(f"__MACOSX/utd/{rel.parent}/._{p.name}", b"\x00\x05\x16\x07" * 20)
    out = fetch_dataset(base_params(fetch__source="path", fetch__path=str(archive)),
                        tmp_path / "raw")
    assert len(list(read_utd_mhad(out))) == 8
    assert not list(out.rglob("._*"))
    # Two copies side by side: refused by name, not one picked at random.
    with zipfile.ZipFile(archive, "a") as z:
        for p in mini_utd.rglob("*.mat"):
            z.write(p, f"copy/{p.relative_to(mini_utd)}")
    with pytest.raises(DataError, match=r"utd\.zip: 2 folders hold .*\['copy', 'utd'\]"):
        fetch_dataset(base_params(fetch__source="path", fetch__path=str(archive)),
                      tmp_path / "raw")


def test_find_root_takes_a_symlinked_alias_as_one_copy(tmp_path: Path) -> None:
    from crosskd.data.fetch import find_root

    for marker in ("Inertial", "Skeleton"):
        (tmp_path / "v1" / marker).mkdir(parents=True)
    (tmp_path / "current").symlink_to(tmp_path / "v1", target_is_directory=True)
    assert find_root(tmp_path, ("Inertial", "Skeleton")).resolve() == tmp_path / "v1"


def test_path_zip_errors_name_the_archive_and_member(mini_utd: Path, tmp_path: Path) -> None:
    write_manifest(mini_utd)
    victim = mini_utd / "Inertial" / "a1_s1_t1_inertial.mat"
    victim.write_bytes(victim.read_bytes()[:-8] + b"\0" * 8)
    archive = tmp_path / "UTD.zip"

    def zip_copy(leave_out: str = "") -> None:
        with zipfile.ZipFile(archive, "w") as z:
            for p in mini_utd.rglob("*"):
                if p.is_file() and p.name != leave_out:
                    z.write(p, f"UTD-MHAD/{p.relative_to(mini_utd)}")

    def fetch() -> None:
        fetch_dataset(base_params(fetch__source="path", fetch__path=str(archive)),
                      tmp_path / "raw")

    zip_copy()
    with pytest.raises(ChecksumError, match=r"UTD\.zip: member UTD-MHAD/Inertial/"
                       r"a1_s1_t1_inertial\.mat: sha256 mismatch"):
        fetch()
    zip_copy(leave_out=victim.name)  # the manifest lists a file the zip lacks
    with pytest.raises(DataError, match=r"UTD\.zip: member UTD-MHAD/Inertial/"
                       r"a1_s1_t1_inertial\.mat: listed in MANIFEST\.sha256 but missing"):
        fetch()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("README.txt", "not a dataset")
    with pytest.raises(DataError, match=r"UTD\.zip: no folder below it holds \['Inertial'"):
        fetch()
    assert not [p for p in (tmp_path / "raw").iterdir()]  # no temporary leftovers


def test_unknown_source_dataset_and_missing_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="fetch.source = 'ftp'"):
        fetch_dataset(base_params(fetch__source="ftp"), tmp_path)
    with pytest.raises(ConfigError, match="unknown dataset 'ntu'"):
        fetch_dataset(base_params(data__dataset="ntu"), tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        fetch_dataset(base_params(fetch__source="path", fetch__path=str(tmp_path / "no")),
                      tmp_path / "raw")
    for key, value, message in (("seed", "0", "synthetic.seed must be an integer >= 0"),
                                ("subjects", 2.5, "synthetic.subjects must be a positive "
                                 "integer"),
                                ("acc_noise_g", "0.02", "synthetic.acc_noise_g must be a number"),
                                ("skeleton_noise_m", -1, "synthetic.skeleton_noise_m must be "
                                 ">= 0")):
        with pytest.raises(ConfigError, match=message):
            fetch_dataset(base_params(**{f"synthetic__{key}": value}), tmp_path / "raw")
    for timeout, message in ((0, "must be > 0, got 0"), ("soon", "must be a number")):
        with pytest.raises(ConfigError, match=f"fetch.timeout_s {message}"):
            fetch_dataset(base_params(fetch__source="url", fetch__timeout_s=timeout),
                          tmp_path / "raw")


@pytest.fixture
def zip_server(mini_utd: Path, tmp_path: Path):
    """Serve Inertial.zip and Skeleton.zip (the official archive layout) on 127.0.0.1."""
    site = tmp_path / "site"
    site.mkdir()
    for part in ("Inertial", "Skeleton"):
        shutil.make_archive(str(site / part), "zip", mini_utd, part)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(site), **kw)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", site
    server.shutdown()


def test_url_source_downloads_and_extracts(zip_server, tmp_path: Path) -> None:
    base, site = zip_server
    from crosskd.data.manifest import sha256_file

    urls = [{"url": f"{base}/Inertial.zip", "sha256": sha256_file(site / "Inertial.zip")},
            {"url": f"{base}/Skeleton.zip"}]
    out = fetch_dataset(base_params(fetch__source="url", fetch__urls=urls), tmp_path / "raw",
                        tmp_path / "dl")
    assert len(list(read_utd_mhad(out))) == 8
    kept = cache_path(f"{base}/Inertial.zip", tmp_path / "dl")
    assert kept.name == "Inertial.zip" and kept.is_file()  # kept: a re-run downloads nothing


def test_url_cache_is_per_url_not_per_file_name(zip_server, tmp_path: Path) -> None:
    from crosskd.data.fetch import fetch_pose_model

    base, site = zip_server
    params = base_params()
    got = []
    for mirror in ("a", "b"):  # one file name, two URLs, one download folder
        (site / mirror).mkdir()
        (site / mirror / "pose.task").write_bytes(f"mirror {mirror}".encode())
        params["skeletons"]["model"].update(source="url", url=f"{base}/{mirror}/pose.task")
        got.append(fetch_pose_model(params, tmp_path / f"raw_{mirror}", tmp_path / "dl"))
    assert [g.read_bytes() for g in got] == [b"mirror a", b"mirror b"]


def test_url_source_checksum_mismatch(zip_server, tmp_path: Path) -> None:
    base, _ = zip_server
    urls = [{"url": f"{base}/Inertial.zip", "sha256": "0" * 64}]
    with pytest.raises(ChecksumError, match="sha256"):
        fetch_dataset(base_params(fetch__source="url", fetch__urls=urls), tmp_path / "raw",
                      tmp_path / "dl")
    assert not (tmp_path / "raw" / "utd_mhad").exists()


def test_url_source_without_network_says_use_path(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    urls = [{"url": f"http://127.0.0.1:{port}/Inertial.zip"}]
    with pytest.raises(DownloadError, match="fetch.source"):
        fetch_dataset(base_params(fetch__source="url", fetch__urls=urls, fetch__timeout_s=5),
                      tmp_path / "raw", tmp_path / "dl")


def test_pose_model_from_path_and_checksum(tmp_path: Path) -> None:
    from crosskd.data.fetch import POSE_MODEL, fetch_pose_model
    from crosskd.data.manifest import sha256_file

    model = tmp_path / "pose.task"
    model.write_bytes(b"not really a model, but bytes with a digest")
    params = base_params()
    params["skeletons"]["model"].update(source="path", path=str(model),
                                        sha256=sha256_file(model))
    out = fetch_pose_model(params, tmp_path / "raw", tmp_path / "dl")
    assert out == tmp_path / "raw" / POSE_MODEL and out.read_bytes() == model.read_bytes()
    params["skeletons"]["model"]["sha256"] = f" {sha256_file(model).upper()}"  # as pasted
    assert fetch_pose_model(params, tmp_path / "raw1", tmp_path / "dl").is_file()
    params["skeletons"]["model"]["sha256"] = "f" * 64
    with pytest.raises(ChecksumError, match="pose.task: sha256 mismatch"):
        fetch_pose_model(params, tmp_path / "raw2", tmp_path / "dl")
    params["skeletons"]["model"]["path"] = str(tmp_path / "absent.task")
    with pytest.raises(DataError, match="absent.task: skeletons.model.path"):
        fetch_pose_model(params, tmp_path / "raw3", tmp_path / "dl")


def test_pose_model_from_url_with_sha256(zip_server, tmp_path: Path) -> None:
    from crosskd.data.fetch import fetch_pose_model
    from crosskd.data.manifest import sha256_file

    base, site = zip_server
    (site / "pose_landmarker_full.task").write_bytes(b"model bytes" * 1000)
    params = base_params()
    params["skeletons"]["model"].update(
        source="url", url=f"{base}/pose_landmarker_full.task",
        sha256=sha256_file(site / "pose_landmarker_full.task"))
    out = fetch_pose_model(params, tmp_path / "raw", tmp_path / "dl")
    assert out.read_bytes() == b"model bytes" * 1000
    params["skeletons"]["model"]["sha256"] = "0" * 64
    cache_path(f"{base}/pose_landmarker_full.task", tmp_path / "dl").unlink()
    with pytest.raises(ChecksumError):
        fetch_pose_model(params, tmp_path / "raw2", tmp_path / "dl")


def test_mmact_fetch_brings_the_pose_model(tmp_path: Path, pose_model: Path) -> None:
    from crosskd.data.fetch import POSE_MODEL

    model = pose_model
    params = base_params(data__dataset="mmact", data__actions=[1], synthetic__subjects=2,
                         synthetic__trials=1)
    params["skeletons"]["model"]["path"] = str(model)
    out = fetch_dataset(params, tmp_path / "raw")
    assert (out / POSE_MODEL).stat().st_size == model.stat().st_size
    assert (out / "acc_watch_clip").is_dir() and (out / "RGB").is_dir()
