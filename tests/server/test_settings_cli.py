"""Settings from MGQE_* environment variables, CLI flags over them, and clear errors for bad settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from mgqe.server.cli import build_parser, settings_from_args
from mgqe.server.settings import Settings


def test_env_prefix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MGQE_STORE", str(tmp_path))
    monkeypatch.setenv("MGQE_MAX_K", "77")
    monkeypatch.setenv("MGQE_ADMIN_TOKEN", "Zq9-secret")
    monkeypatch.setenv("MGQE_DATA_DIR", "/elsewhere")  # another component's variable: ignored, not an error
    s = Settings()
    assert s.store == tmp_path and s.max_k == 77 and s.admin_token is not None
    assert s.admin_token.get_secret_value() == "Zq9-secret" and "Zq9" not in repr(s)


def test_flags_override_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MGQE_STORE", str(tmp_path))
    monkeypatch.setenv("MGQE_MAX_K", "77")
    s = settings_from_args(["--max-k", "5", "--model", "a", "--model", "b"])
    assert s.max_k == 5 and s.models == ["a", "b"] and s.store == tmp_path


def test_needs_exactly_one_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MGQE_STORE", raising=False)
    monkeypatch.delenv("MGQE_ARTIFACT", raising=False)
    with pytest.raises(SystemExit, match="exactly one of store"):
        settings_from_args([])


def test_bad_value_named(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="max_k: Input should be greater than or equal to 1"):
        settings_from_args(["--store", str(tmp_path), "--max-k", "0"])


def test_every_flag_has_help() -> None:
    for action in build_parser()._actions:
        assert (action.help and action.help != "==SUPPRESS==") or action.dest == "help", action.dest


def test_openapi_states_the_request_limits(tmp_path: Path) -> None:
    """The served OpenAPI carries this server's limits, so a schema-valid request is one it accepts."""
    from mgqe.server.app import create_app

    s = Settings(artifact=tmp_path / "m.mgqe", max_k=7, max_batch=3, max_items=5)  # type: ignore[call-arg]
    spec = create_app(s).openapi()

    def props(endpoint: str) -> dict:
        op = spec["paths"][f"/v1/models/{{model}}/{endpoint}"]["post"]
        return op["requestBody"]["content"]["application/json"]["schema"]["properties"]

    rec = props("recommend")
    assert rec["k"]["maximum"] == s.max_k and rec["exclude"]["maxItems"] == s.max_items
    assert rec["users"]["anyOf"][0]["maxItems"] == s.max_batch
    assert rec["history"]["anyOf"][0]["maxItems"] == s.max_items
    assert rec["histories"]["anyOf"][0]["maxItems"] == s.max_batch
    assert rec["histories"]["anyOf"][0]["items"]["maxItems"] == s.max_items
    assert props("score")["items"]["maxItems"] == s.max_items
    assert props("similar")["items"]["anyOf"][0]["maxItems"] == s.max_batch
    assert props("relevance")["pairs"]["maxItems"] == s.max_batch
    assert props("embeddings")["ids"]["maxItems"] == s.max_batch
    assert spec["x-mgqe-limits"] == {"max_k": 7, "max_batch": 3, "max_items": 5}
