"""Access control of the admin routes (issue 8), beyond tests/server/test_reload.py's 401/403/404 basics:
every malformed Authorization form, the constant-time comparison, no token flag on the CLI (so it never
shows in `ps`), admin routes absent from the schema when disabled, and the store mounted read-only in the
server container."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from mgqe.server.app import create_app
from mgqe.server.cli import build_parser
from mgqe.server.routes import admin
from mgqe.server.settings import Settings

TOKEN = "s3cr3t-token"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def client(small_store: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(store=small_store, admin_token=TOKEN, log_level="WARNING"))) as c:  # type: ignore[arg-type]
        yield c


@pytest.mark.parametrize(
    ("header", "status"),
    [
        (None, 401),
        ("", 401),
        (f"Basic {TOKEN}", 401),
        ("Bearer", 401),
        ("Bearer ", 401),
        (TOKEN, 401),  # no scheme
        ("Bearer wrong", 403),
        (f"Bearer {TOKEN}x", 403),
        (f"Bearer {TOKEN[:-1]}", 403),
        (f"Bearer {TOKEN.upper()}", 403),
        (f"Bearer {TOKEN}", 200),
        (f"bearer {TOKEN}", 200),  # the scheme is case-insensitive (RFC 7235)
    ],
)
def test_authorization_forms(client: TestClient, header: str | None, status: int) -> None:
    headers = {} if header is None else {"Authorization": header}
    r = client.post("/v1/admin/reload", headers=headers)
    assert r.status_code == status, r.text
    if status == 401:
        assert r.headers["www-authenticate"] == "Bearer"
        assert r.json()["error"]["code"] == "unauthorized"
    elif status == 403:
        assert r.json()["error"]["code"] == "forbidden"
        assert TOKEN not in r.text  # the answer never echoes the token


def test_token_compared_in_constant_time(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(admin.hmac, "compare_digest", spy)
    assert client.post("/v1/admin/reload", headers={"Authorization": "Bearer nope"}).status_code == 403
    assert calls == [(b"nope", TOKEN.encode())]


def test_disabled_without_token(small_store: Path) -> None:
    with TestClient(create_app(Settings(store=small_store, log_level="WARNING"))) as c:  # type: ignore[arg-type]
        assert c.post("/v1/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404
        assert not [p for p in c.get("/openapi.json").json()["paths"] if p.startswith("/v1/admin")]


def test_no_token_flag_on_the_cli() -> None:
    opts = {o for a in build_parser()._actions for o in a.option_strings}
    assert not [o for o in opts if "token" in o], opts  # MGQE_ADMIN_TOKEN only: flags show up in `ps`
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--admin-token", "x"])


def test_compose_mounts_the_store_read_only() -> None:
    """Parsed from docker-compose.yml itself (tests/docker checks the same through `docker-compose config`
    where the binary exists)."""
    server = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["server"]
    store = [v for v in server["volumes"] if str(v).split(":")[1] == "/store"]
    assert store == ["store:/store:ro"]
    assert server["read_only"] is True  # the container's own filesystem too
    assert "MGQE_ADMIN_TOKEN" not in str(server.get("command", "")) + str(server.get("entrypoint", ""))
