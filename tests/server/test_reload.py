"""Hot reload: store polling and POST /v1/admin/reload swap versions atomically; a broken version is logged,
counted and never replaces the serving one; admin routes need the bearer token and vanish without one."""

from __future__ import annotations

import io
import json
import logging
import shutil
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from artifact_factory import write_model
from mgqe.proto.store import publish, set_current, version_path
from mgqe.server.metrics import LOGGER_NAME, JsonFormatter

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def version_of(c: TestClient, model: str = "gmf") -> str:
    return c.get(f"/v1/models/{model}").json()["version"]


def wait_version(c: TestClient, version: str, timeout: float = 10.0) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if version_of(c) == version:
            return
        time.sleep(0.05)
    raise AssertionError(f"still serving {version_of(c)}, expected {version}")


@pytest.fixture
def store(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    publish(root, "gmf", write_model(tmp_path / "a.mgqe", "gmf", seed=1))
    return root


def test_poll_picks_up_new_version(store: Path, tmp_path: Path, make_client) -> None:  # type: ignore[no-untyped-def]
    c = make_client(store=store, reload_interval_s=0.05, log_level="WARNING")
    assert version_of(c) == "v1"
    user = c.post(
        "/v1/models/gmf/embeddings", json={"table": "user", "ids": [7], "items": None} | {}
    ).status_code
    assert user in (404, 422)  # id 7 is the vocab's offset: unknown or shape error, never served by accident
    publish(store, "gmf", write_model(tmp_path / "b.mgqe", "gmf", seed=2))
    wait_version(c, "v2")
    assert 'mgqe_model_version_info{model="gmf",version="v2"} 1.0' in c.get("/metrics").text
    assert 'version="v1"' not in c.get("/metrics").text.split("mgqe_model_version_info")[-1]


def test_broken_version_keeps_old_serving(store: Path, tmp_path: Path, make_client) -> None:  # type: ignore[no-untyped-def]
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(JsonFormatter())
    logging.getLogger(LOGGER_NAME).addHandler(handler)
    c = make_client(store=store, reload_interval_s=0.05, log_level="WARNING")
    v2 = publish(store, "gmf", write_model(tmp_path / "b.mgqe", "gmf", seed=2), make_current=False)
    # damage v2 in place before it becomes current (a bad disk, a bad copy): its checksum no longer matches
    path = version_path(store, "gmf", v2)
    raw = bytearray(path.read_bytes())
    raw[-10] ^= 0xFF
    path.chmod(0o644)
    path.write_bytes(bytes(raw))
    set_current(store, "gmf", v2)
    t0 = time.monotonic()
    while 'outcome="failed"' not in c.get("/metrics").text:
        assert time.monotonic() - t0 < 10, "the failed load was never counted"
        time.sleep(0.05)
    assert version_of(c) == "v1"
    user = int(c.app.state.registry.get("gmf").vocab["user"].ext[0])
    assert c.post("/v1/models/gmf/recommend", json={"user": user, "k": 2}).status_code == 200
    logging.getLogger(LOGGER_NAME).removeHandler(handler)
    failed = [json.loads(x) for x in lines.getvalue().splitlines() if "model_load_failed" in x]
    assert failed and failed[0]["version"] == "v2" and failed[0]["serving"] == "v1"
    assert "ChecksumError" in failed[0]["error"]
    # roll back to v1: nothing to load; publish v3: it loads
    set_current(store, "gmf", "v1")
    publish(store, "gmf", write_model(tmp_path / "c.mgqe", "gmf", seed=3))
    wait_version(c, "v3")


def test_admin_reload_endpoint(store: Path, tmp_path: Path, make_client) -> None:  # type: ignore[no-untyped-def]
    c = make_client(store=store, reload_interval_s=0, admin_token=TOKEN, log_level="WARNING")
    assert c.post("/v1/admin/reload", headers=AUTH).json()["results"]["gmf"] == {
        "status": "unchanged",
        "version": "v1",
        "error": None,
    }
    publish(store, "gmf", write_model(tmp_path / "b.mgqe", "gmf", seed=2))
    assert version_of(c) == "v1"  # polling is off: nothing happens until asked
    body = c.post("/v1/admin/reload", headers=AUTH).json()
    assert body["results"]["gmf"]["status"] == "loaded" and version_of(c) == "v2"


def test_admin_reload_reports_failure(store: Path, tmp_path: Path, make_client) -> None:  # type: ignore[no-untyped-def]
    c = make_client(store=store, reload_interval_s=0, admin_token=TOKEN, log_level="CRITICAL")
    shutil.copytree(version_path(store, "gmf", "v1").parent, store / "gmf" / "v9")
    (store / "gmf" / "v9" / "model.mgqe").write_bytes(b"this is not an mgqe artifact file")
    set_current(store, "gmf", "v9")
    out = c.post("/v1/admin/reload", headers=AUTH).json()["results"]["gmf"]
    assert out["status"] == "failed" and out["version"] == "v1" and "BadMagicError" in out["error"]
    assert version_of(c) == "v1"


def test_admin_needs_token_401(store: Path, make_client) -> None:  # type: ignore[no-untyped-def]
    c = make_client(store=store, admin_token=TOKEN, log_level="WARNING")
    resp = c.post("/v1/admin/reload")
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "unauthorized"
    assert resp.headers["www-authenticate"] == "Bearer"


def test_admin_wrong_token_403(store: Path, make_client) -> None:  # type: ignore[no-untyped-def]
    c = make_client(store=store, admin_token=TOKEN, log_level="WARNING")
    resp = c.post("/v1/admin/reload", headers={"Authorization": "Bearer wrong"})
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "forbidden"


def test_admin_disabled_without_token_404(store: Path, make_client) -> None:  # type: ignore[no-untyped-def]
    c = make_client(store=store, log_level="WARNING")
    assert c.post("/v1/admin/reload", headers=AUTH).status_code == 404


def test_in_flight_request_finishes_on_old_version(store: Path, tmp_path: Path, make_client) -> None:  # type: ignore[no-untyped-def]
    """A request holds the LoadedModel it looked up; a swap in the middle does not change its answer."""
    c = make_client(store=store, reload_interval_s=0, admin_token=TOKEN, log_level="WARNING")
    reg = c.app.state.registry
    old = reg.get("gmf")
    publish(store, "gmf", write_model(tmp_path / "b.mgqe", "gmf", seed=2))
    c.post("/v1/admin/reload", headers=AUTH)
    assert reg.get("gmf").version == "v2" and old.version == "v1"
    user = int(old.vocab["user"].ext[0])
    before = old.recommend("user", [user], 3, [], False)  # the old object still answers, unchanged
    assert before[0][0].size == 3
