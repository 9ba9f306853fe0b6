"""Download + checksum + unpack against a local HTTP server (no real network)."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mgqe.trainer.cli import main
from mgqe.trainer.data import load_split
from mgqe.trainer.data.download import ARCHIVES, download_dataset
from mgqe.trainer.data.errors import ChecksumError, DataError, DataFormatError, UnknownDatasetError

# user, item, rating, timestamp: user 1 has 3 ratings, user 2 has 4 (the 100k format, tab separated)
U_DATA = ("1\t10\t5\t100\n1\t20\t3\t200\n2\t10\t4\t50\n1\t30\t4\t300\n"
          "2\t40\t1\t60\n2\t20\t2\t70\n2\t30\t5\t80\n")


def _zip(path: Path, members: dict[str, str]) -> str:
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """Serve tmp_path/www over HTTP on a free local port; yields (base URL, folder)."""
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", www
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_download_verify_unpack_then_load(server: tuple[str, Path], tmp_path: Path) -> None:
    base, www = server
    sha = _zip(www / "ml-100k.zip", {"ml-100k/u.data": U_DATA, "ml-100k/u.item": "10|A|x\n", "README": "x"})
    data = tmp_path / "data"
    written = download_dataset("movielens-100k", data, url=f"{base}/ml-100k.zip", sha256=sha)
    assert sorted(p.name for p in written) == ["u.data", "u.item"]  # only the dataset folder is unpacked
    assert (data / "ml-100k" / "u.data").read_text() == U_DATA
    assert not list(data.glob(".ml-100k-*"))  # temporary folder removed
    s = load_split("ml-100k", data)
    # user 1 by time: 10, 20, 30 -> train [10]; user 2 by time: 10 (t=50), 40, 20, 30 -> train [10, 40];
    # both: valid 20, test 30. Training counts 10: 2, 40: 1, 20: 0, 30: 0; user 2 has more training items
    assert s.user_vocab.tolist() == [2, 1]
    assert s.item_vocab.tolist() == [10, 40, 20, 30]
    assert s.valid.tolist() == [2, 2] and s.test.tolist() == [3, 3]


def test_checksum_mismatch_writes_nothing(server: tuple[str, Path], tmp_path: Path) -> None:
    base, www = server
    _zip(www / "ml-100k.zip", {"ml-100k/u.data": U_DATA})
    data = tmp_path / "data"
    with pytest.raises(ChecksumError, match="does not match"):
        download_dataset("movielens-100k", data, url=f"{base}/ml-100k.zip", sha256="0" * 64)
    assert list(data.iterdir()) == []


def test_official_checksum_is_the_default(server: tuple[str, Path], tmp_path: Path) -> None:
    base, www = server
    sha = _zip(www / "ml-100k.zip", {"ml-100k/u.data": U_DATA})
    assert sha != ARCHIVES["movielens-100k"].sha256
    with pytest.raises(ChecksumError, match=ARCHIVES["movielens-100k"].sha256):
        download_dataset("movielens-100k", tmp_path / "d", url=f"{base}/ml-100k.zip")


def test_http_error_names_url(server: tuple[str, Path], tmp_path: Path) -> None:
    base, _ = server
    with pytest.raises(DataError, match=r"missing\.zip failed"):
        download_dataset("movielens-1m", tmp_path / "d", url=f"{base}/missing.zip", sha256="0" * 64)


def test_bad_archives(server: tuple[str, Path], tmp_path: Path) -> None:
    base, www = server
    sha = _zip(www / "evil.zip", {"ml-100k/u.data": U_DATA, "ml-100k/../../escape.txt": "x"})
    with pytest.raises(DataFormatError, match="unsafe path"):
        download_dataset("movielens-100k", tmp_path / "d", url=f"{base}/evil.zip", sha256=sha)
    assert not (tmp_path / "escape.txt").exists()
    sha = _zip(www / "wrong.zip", {"ml-1m/movies.dat": "1::A::B\n"})
    with pytest.raises(DataFormatError, match=r"no ml-1m/ratings\.dat"):
        download_dataset("movielens-1m", tmp_path / "d", url=f"{base}/wrong.zip", sha256=sha)
    (www / "junk.zip").write_bytes(b"not a zip")
    sha = hashlib.sha256(b"not a zip").hexdigest()
    with pytest.raises(DataFormatError, match="not a zip"):
        download_dataset("movielens-100k", tmp_path / "d", url=f"{base}/junk.zip", sha256=sha)
    with pytest.raises(UnknownDatasetError, match="movielens-20m"):
        download_dataset("movielens-20m", tmp_path / "d")


def test_existing_files_need_force(server: tuple[str, Path], tmp_path: Path) -> None:
    base, www = server
    sha = _zip(www / "ml-100k.zip", {"ml-100k/u.data": U_DATA})
    data = tmp_path / "data"
    (data / "ml-100k").mkdir(parents=True)
    (data / "ml-100k" / "u.data").write_text("old")
    with pytest.raises(DataError, match="--force"):
        download_dataset("movielens-100k", data, url=f"{base}/ml-100k.zip", sha256=sha)
    assert (data / "ml-100k" / "u.data").read_text() == "old"
    download_dataset("movielens-100k", data, url=f"{base}/ml-100k.zip", sha256=sha, force=True)
    assert (data / "ml-100k" / "u.data").read_text() == U_DATA


def test_cli_download(server: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
                      monkeypatch: pytest.MonkeyPatch) -> None:
    base, www = server
    sha = _zip(www / "ml-100k.zip", {"ml-100k/u.data": U_DATA})
    data = tmp_path / "data"
    rc = main(["data", "download", "movielens-100k", "--data-dir", str(data), "--url", f"{base}/ml-100k.zip",
               "--sha256", sha])
    assert rc == 0 and "verified and unpacked 1 files" in capsys.readouterr().out
    rc = main(["data", "download", "movielens-100k", "--data-dir", str(data), "--url", f"{base}/ml-100k.zip",
               "--sha256", "f" * 64])
    assert rc == 2 and "does not match" in capsys.readouterr().err
    monkeypatch.delenv("MGQE_DATA_DIR", raising=False)
    assert main(["data", "download", "movielens-100k"]) == 2
    assert "--data-dir" in capsys.readouterr().err


def test_official_constants_are_well_formed() -> None:
    for name, arc in ARCHIVES.items():
        assert arc.url == f"https://files.grouplens.org/datasets/movielens/{arc.folder}.zip", name
        assert len(arc.sha256) == 64 and int(arc.sha256, 16) >= 0
        assert len(arc.md5) == 32 and int(arc.md5, 16) >= 0
