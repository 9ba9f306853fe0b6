"""Graceful shutdown of a real `mgqe-serve` process (issue 8): on SIGTERM readiness turns 503 "draining" while
requests are still served for --drain seconds, then the server stops accepting, lets an in-flight request
finish and exits 0; a request that never finishes is cut off after --shutdown-grace seconds.

The in-flight request is a POST whose body the client sends in two parts over a raw socket, so the test
decides exactly when it ends.
"""

from __future__ import annotations

import json
import signal
import socket
import time
from pathlib import Path

import httpx

from serve_process import start_server, stop_server, wait_for

USER = 7  # an external user id of the factory's tables (vocab = permutation(n) * 3 + 7)


def _open_request(base: str, body: bytes, sent: int) -> socket.socket:
    """A POST /v1/models/gmf/recommend whose first `sent` body bytes are on the wire, the rest not yet."""
    host, port = base.removeprefix("http://").split(":")
    s = socket.create_connection((host, int(port)), timeout=10)
    head = (
        "POST /v1/models/gmf/recommend HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    s.sendall(head.encode() + body[:sent])
    return s


def _read_response(s: socket.socket) -> tuple[int, bytes]:
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), payload


def test_sigterm_drains_then_finishes_in_flight_request(small_store: Path, tmp_path: Path) -> None:
    drain, grace = 1.0, 5.0
    proc, base = start_server(
        ["--store", str(small_store), "--drain", str(drain), "--shutdown-grace", str(grace)],
        tmp_path / "serve.log",
    )
    try:
        body = json.dumps({"user": USER, "k": 5}).encode()
        s = _open_request(base, body, sent=4)
        time.sleep(0.3)  # the server has parsed the head and waits for the body: the request is in flight
        proc.send_signal(signal.SIGTERM)
        t_term = time.monotonic()

        r = httpx.get(f"{base}/v1/health/ready", timeout=2)
        assert (r.status_code, r.json()["status"]) == (503, "draining")
        assert httpx.get(f"{base}/v1/health/live", timeout=2).status_code == 200
        served = httpx.post(f"{base}/v1/models/gmf/recommend", json={"user": USER, "k": 3}, timeout=2)
        assert served.status_code == 200  # still serving during the drain
        assert time.monotonic() - t_term < drain  # (the checks above ran inside the drain window)

        def refused() -> bool:
            try:
                httpx.get(f"{base}/v1/health/live", timeout=1)
            except httpx.ConnectError:
                return True
            return False

        wait_for(refused, drain + 3, "the listener to close after the drain")
        assert proc.poll() is None, "the server exited with a request in flight"

        s.sendall(body[4:])
        status, payload = _read_response(s)
        s.close()
        assert status == 200, payload
        assert len(json.loads(payload)["results"][0]["items"]) == 5
        rc = proc.wait(timeout=grace)
        assert rc == 0
        assert time.monotonic() - t_term < drain + grace
    finally:
        stop_server(proc)


def test_stuck_request_is_cut_off_after_the_grace(small_store: Path, tmp_path: Path) -> None:
    grace = 1.0
    proc, base = start_server(
        ["--store", str(small_store), "--drain", "0", "--shutdown-grace", str(grace)], tmp_path / "serve.log"
    )
    try:
        s = _open_request(base, json.dumps({"user": USER, "k": 5}).encode(), sent=4)  # never completed
        time.sleep(0.3)
        t_term = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=grace + 10)
        took = time.monotonic() - t_term
        s.close()
        assert rc == 0
        assert grace * 0.9 <= took < grace + 3.0, took  # waited for the request, then gave up on time
    finally:
        stop_server(proc)


def test_sigterm_without_traffic_exits_at_once(small_store: Path, tmp_path: Path) -> None:
    proc, _ = start_server(["--store", str(small_store), "--shutdown-grace", "30"], tmp_path / "serve.log")
    t_term = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert time.monotonic() - t_term < 3.0  # the grace is an upper bound, not a wait
