"""`mgqe-artifact rollback` and `mgqe-artifact versions` (proto/store_cli.py through proto/cli.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mgqe.proto import store as st
from mgqe.proto.cli import main


def _store(tmp_path: Path, n: int = 3) -> Path:
    store = tmp_path / "store"
    for i in range(n):
        src = tmp_path / f"a{i}.bin"
        src.write_bytes(bytes([i]) * 100)
        st.publish(store, "m", src, validate=None)
    return store


def test_rollback_default_and_explicit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = _store(tmp_path)
    assert main(["rollback", "m", "--store", str(store)]) == 0
    assert "m: CURRENT v3 -> v2" in capsys.readouterr().out
    assert st.current_version(store, "m") == "v2"
    assert main(["rollback", "m", "v3", "--store", str(store)]) == 0
    assert st.current_version(store, "m") == "v3"


def test_rollback_uses_env_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = _store(tmp_path)
    monkeypatch.setenv("MGQE_STORE", str(store))
    assert main(["rollback", "m", "v1"]) == 0
    assert st.current_version(store, "m") == "v1"


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["rollback", "nope"], "ModelNotFoundError: no model 'nope'"),
        (["rollback", "m", "v9"], "VersionNotFoundError"),
        (["rollback", "m", "latest"], "InvalidNameError: invalid version name 'latest'"),
        (["versions", "nope"], "ModelNotFoundError"),
    ],
)
def test_store_errors_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                             error: str) -> None:
    store = _store(tmp_path)
    assert main([*argv, "--store", str(store)]) == 1
    assert error in capsys.readouterr().err
    assert st.current_version(store, "m") == "v3"


def test_nothing_to_roll_back(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = _store(tmp_path, n=1)
    assert main(["rollback", "m", "--store", str(store)]) == 1
    assert "NothingToRollBackError" in capsys.readouterr().err


def test_versions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = _store(tmp_path)
    st.rollback(store, "m", "v2")
    assert main(["versions", "m", "--store", str(store), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["version"], r["current"], r["bytes"]) for r in rows] == [
        ("v1", False, 100), ("v2", True, 100), ("v3", False, 100)]
    assert main(["versions", "m", "--store", str(store)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and lines[1].startswith("*     v2")


def test_console_script_help() -> None:
    r = subprocess.run([sys.executable, "-m", "mgqe.proto.cli", "rollback", "--help"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0
    for flag in ("--store", "VERSION", "MODEL"):
        assert flag in r.stdout
