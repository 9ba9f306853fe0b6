"""Limits of a real `mgqe-serve` (issue 8), each set by its flag/env and checked just at and just above it:
body bytes (413), k, batch size and ids per list (422 naming the setting), and concurrent in-flight model
requests (503 + Retry-After while the slots are taken, served again once they are free)."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from serve_process import start_server, stop_server

IDS = [7 + 3 * i for i in range(10)]  # external ids of the factory's tables (vocab = permutation * 3 + 7)
FLAGS = ["--max-in-flight", "2", "--max-body-bytes", "2048", "--max-k", "5", "--max-batch", "3",
         "--max-items", "4"]


@pytest.fixture(scope="module")
def base(small_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("limits") / "serve.log"
    proc, url = start_server(["--store", str(small_store), *FLAGS], log, env={"MGQE_RETRY_AFTER_S": "3"})
    yield url
    stop_server(proc)


def _post(base: str, path: str, body: dict | bytes) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(f"{base}{path}", content=content, headers={"content-type": "application/json"},
                      timeout=10)


def _limit_error(r: httpx.Response, setting: str) -> None:
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "limit_exceeded" and setting in err["message"], err


@pytest.mark.parametrize(
    ("path", "at_limit", "over", "setting"),
    [
        ("/v1/models/gmf/recommend", {"user": IDS[0], "k": 5}, {"user": IDS[0], "k": 6}, "max_k"),
        ("/v1/models/gmf/recommend", {"users": IDS[:3], "k": 2}, {"users": IDS[:4], "k": 2}, "max_batch"),
        ("/v1/models/gmf/score", {"user": IDS[0], "items": IDS[:4]}, {"user": IDS[0], "items": IDS[:5]},
         "max_items"),
        ("/v1/models/relevance/relevance", {"pairs": [IDS[:2]] * 3}, {"pairs": [IDS[:2]] * 4}, "max_batch"),
        ("/v1/models/gmf/embeddings", {"ids": IDS[:3]}, {"ids": IDS[:4]}, "max_batch"),
        ("/v1/models/sasrec/recommend", {"history": IDS[:4], "k": 2}, {"history": IDS[:5], "k": 2},
         "max_items"),
    ],
)
def test_limit_at_and_over(base: str, path: str, at_limit: dict, over: dict, setting: str) -> None:
    assert _post(base, path, at_limit).status_code == 200
    _limit_error(_post(base, path, over), setting)


def _padded(body: dict, size: int) -> bytes:
    raw = json.dumps(body).encode()
    return raw + b" " * (size - len(raw))  # trailing whitespace: still valid JSON


def test_body_size_limit(base: str) -> None:
    body = {"user": IDS[0], "k": 3}
    assert _post(base, "/v1/models/gmf/recommend", _padded(body, 2048)).status_code == 200
    r = _post(base, "/v1/models/gmf/recommend", _padded(body, 2049))
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"
    assert "2048" in r.json()["error"]["message"]


def _half_sent(base: str, body: bytes) -> socket.socket:
    """A model request whose body is not complete: it holds an in-flight slot until the rest is sent."""
    host, port = base.removeprefix("http://").split(":")
    s = socket.create_connection((host, int(port)), timeout=10)
    s.sendall(
        f"POST /v1/models/gmf/recommend HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:3]
    )
    return s


def _finish(s: socket.socket, body: bytes) -> int:
    s.sendall(body[3:])
    head = s.recv(65536).split(b"\r\n", 1)[0]
    s.close()
    return int(head.split()[1])


def test_in_flight_limit_answers_503_with_retry_after(base: str) -> None:
    body = json.dumps({"user": IDS[0], "k": 3}).encode()
    held = [_half_sent(base, body) for _ in range(2)]  # both slots of --max-in-flight 2
    try:
        def overloaded() -> httpx.Response:
            return _post(base, "/v1/models/gmf/recommend", body)

        r = overloaded()
        for _ in range(50):  # the server may not have begun both held requests yet
            if r.status_code == 503:
                break
            r = overloaded()
        assert r.status_code == 503 and r.json()["error"]["code"] == "overloaded", r.text
        assert r.headers["retry-after"] == "3"  # MGQE_RETRY_AFTER_S
        assert httpx.get(f"{base}/v1/health/live", timeout=5).status_code == 200  # health is not gated
    finally:
        statuses = [_finish(s, body) for s in held]
    assert statuses == [200, 200]
    assert overloaded().status_code == 200  # slots free again
    metrics = httpx.get(f"{base}/metrics", timeout=5).text
    m = re.search(r'mgqe_rejected_total\{reason="overloaded"\} ([0-9.]+)', metrics)
    assert m and float(m.group(1)) >= 1
