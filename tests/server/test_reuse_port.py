"""Several `mgqe-serve` replicas on one TCP port (MGQE_REUSE_PORT / --reuse-port, SO_REUSEPORT), each also on
its own Unix socket (--uds), and the errors when a port or socket is taken."""

from __future__ import annotations

import os
import re
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from artifact_factory import write_model
from mgqe.server.cli import bind_tcp, bind_unix, settings_from_args
from serve_process import BIN, free_port, stop_server, wait_for

Replicas = tuple[int, list[Path], list[subprocess.Popen]]  # shared port, Unix sockets, processes

pytestmark = pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="needs SO_REUSEPORT (Linux, BSD)")


def _serve(args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    for k in ("MGQE_ADMIN_TOKEN", "MGQE_REUSE_PORT", "MGQE_UDS"):
        if k not in (env or {}):
            full_env.pop(k, None)
    with log.open("w") as out:  # a file, not a pipe: a full pipe would block the server
        return subprocess.Popen([str(BIN / "mgqe-serve"), *args], stdout=out, stderr=subprocess.STDOUT,
                                env=full_env)


def _uds_client(path: Path) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(uds=str(path)), base_url="http://replica", timeout=5)


def _served(metrics: str, route: str) -> int:
    """Sum of mgqe_requests_total over the status codes of `route` in a Prometheus text page."""
    pat = re.compile(r'^mgqe_requests_total\{([^}]*)\} ([0-9.e+]+)$', re.M)
    return int(sum(float(v) for labels, v in pat.findall(metrics) if f'route="{route}"' in labels))


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    """Two servers of one artifact on one port: one switched on by flag, one by environment variable (one
    pair for the module: each start costs seconds on the shared CPU)."""
    tmp_path = tmp_path_factory.mktemp("replicas")
    art = write_model(tmp_path / "m.mgqe", "gmf", n_users=200, n_items=300)
    port = free_port()
    socks = [tmp_path / "a.sock", tmp_path / "b.sock"]
    common = ["--artifact", str(art), "--host", "127.0.0.1", "--port", str(port), "--reload-interval", "0"]
    procs = [
        _serve([*common, "--reuse-port", "--uds", str(socks[0])], tmp_path / "a.log"),
        _serve(common, tmp_path / "b.log", {"MGQE_REUSE_PORT": "1", "MGQE_UDS": str(socks[1])}),
    ]
    try:
        for sock, proc, log in zip(socks, procs, ("a.log", "b.log"), strict=True):
            def ready(sock: Path = sock, proc: subprocess.Popen = proc, log: str = log) -> bool:
                assert proc.poll() is None, (tmp_path / log).read_text()[-3000:]
                with _uds_client(sock) as c:
                    return c.get("/v1/health/ready").status_code == 200
            wait_for(ready, 60, f"replica on {sock.name}")
        yield port, socks, procs
    finally:
        for proc in procs:
            stop_server(proc)


def test_two_replicas_share_a_port(replicas: Replicas) -> None:
    port, socks, _ = replicas
    n = 40
    for _ in range(n):  # a new connection each time: the kernel picks a replica per connection
        assert httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=5).status_code == 200
    served = []
    for sock in socks:
        with _uds_client(sock) as c:
            served.append(_served(c.get("/metrics").text, "/v1/models"))
    assert sum(served) == n
    assert min(served) > 0, f"one replica got every connection: {served}"  # p = 2 * 0.5**40 by chance


def test_taken_port_named_without_reuse_port(
    replicas: Replicas, tmp_path: Path
) -> None:
    port = replicas[0]
    art = write_model(tmp_path / "m.mgqe", "gmf", n_users=20, n_items=30)
    third = _serve(["--artifact", str(art), "--host", "127.0.0.1", "--port", str(port)], tmp_path / "c.log")
    assert third.wait(timeout=60) == 1
    err = (tmp_path / "c.log").read_text()
    assert f"cannot listen on 127.0.0.1:{port}" in err and "MGQE_REUSE_PORT=1" in err, err


def test_reuse_port_cannot_join_a_plain_listener() -> None:
    with socket.socket() as plain:
        plain.bind(("127.0.0.1", 0))
        plain.listen()
        port = plain.getsockname()[1]
        msg = rf"cannot listen on 127\.0\.0\.1:{port}: .*did not set SO_REUSEPORT"
        with pytest.raises(SystemExit, match=msg):
            bind_tcp("127.0.0.1", port, reuse_port=True)


def test_unresolvable_host_named() -> None:
    with pytest.raises(SystemExit, match=r"cannot listen on no-such-host\.invalid:8000: host not resolvable"):
        bind_tcp("no-such-host.invalid", 8000, reuse_port=False)


def test_unix_socket_live_stale_and_bad_path(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    live = bind_unix(path)
    live.listen()
    with pytest.raises(SystemExit, match=f"cannot listen on {path}: a running server uses it"):
        bind_unix(path)
    live.close()  # the file stays behind, as after a killed server: it is replaced
    bind_unix(path).close()
    with pytest.raises(SystemExit, match=r"cannot listen on .*/missing/s\.sock: No such file or directory"):
        bind_unix(tmp_path / "missing" / "s.sock")


def test_settings_from_flag_and_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    s = settings_from_args(["--store", str(tmp_path)])
    assert s.reuse_port is False and s.uds is None
    monkeypatch.setenv("MGQE_REUSE_PORT", "1")
    monkeypatch.setenv("MGQE_UDS", str(tmp_path / "x.sock"))
    s = settings_from_args(["--store", str(tmp_path)])
    assert s.reuse_port is True and s.uds == tmp_path / "x.sock"
    monkeypatch.delenv("MGQE_REUSE_PORT")
    assert settings_from_args(["--store", str(tmp_path), "--reuse-port"]).reuse_port is True


def test_reuse_port_listens_only_once_ready(tmp_path: Path) -> None:
    """A replica whose model cannot load stays off the shared port (the kernel would hand it connections it
    can only refuse with 503) but still stops on SIGTERM; without reuse_port the port answers 503 loading."""
    bad = tmp_path / "bad.mgqe"
    bad.write_bytes(b"not an artifact")
    port = free_port()
    args = ["--artifact", str(bad), "--host", "127.0.0.1", "--port", str(port), "--reload-interval", "0"]
    shared = _serve([*args, "--reuse-port", "--uds", str(tmp_path / "s.sock")], tmp_path / "shared.log")
    try:
        wait_for(lambda: "model_load_failed" in (tmp_path / "shared.log").read_text(), 60, "the failed load")
        assert shared.poll() is None
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/v1/health/live", timeout=2)
    finally:
        assert stop_server(shared, timeout=10) == 0, (tmp_path / "shared.log").read_text()[-3000:]
    plain = _serve(args, tmp_path / "plain.log")
    try:
        def loading() -> bool:
            r = httpx.get(f"http://127.0.0.1:{port}/v1/health/ready", timeout=2)
            return r.status_code == 503 and r.json()["status"] == "loading"
        wait_for(loading, 60, "503 loading on the plain port")
    finally:
        stop_server(plain)
