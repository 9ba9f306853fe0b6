"""The deployment on a real Docker engine (opt-in: `pytest -m docker`, or `make test-docker`).

Builds both images, brings up docker-compose.yml, and checks what a user relies on: the trainer publishes v1
into the named volume, the server (waiting for it) becomes healthy and answers a recommend request; running
the trainer again publishes v2 and the server swaps it in; a second server replica on the same read-only
volume serves too; `mgqe-artifact rollback` (from the trainer image) moves every server back to v1. Everything
is torn down at the end (containers, network, volume). Timings go to results/docker-compose-test.{json,md}.

Needs: a Docker engine at $DOCKER_HOST and docker-compose (v1). On a machine without a bridge network or
registry (CI here) run `eval "$(docker/dev-engine.sh)"` first: it starts dockerd per
../shared/notes/containers.md and exports MGQE_BASE_IMAGE=local/debian-py:bookworm (a debootstrap image,
since python:3.11-slim cannot be pulled). Containers use the host network (tests/docker/compose.host.yml).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import yaml

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
MODEL = "gmf-mgqe-synthetic"  # configs/synthetic.toml: no MovieLens inside the test containers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _sh(cmd: list[str], env: dict[str, str], timeout: float = 600, check: bool = True
        ) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} -> {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


def _wait(pred, timeout: float, what: str) -> float:  # type: ignore[no-untyped-def]
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            if pred():
                return time.monotonic() - t0
        except (httpx.HTTPError, ValueError, KeyError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _recommend(port: int, user: int) -> dict:
    r = httpx.post(f"http://127.0.0.1:{port}/v1/models/{MODEL}/recommend", json={"user": user, "k": 10},
                   timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def _host_network_compose(env: dict[str, str], tmp: Path) -> Path:
    """docker-compose.yml + tests/docker/compose.host.yml, merged by docker-compose itself, minus the server's
    published ports (a host-network container cannot publish ports, and a v1 override cannot remove them)."""
    merged = _sh(["docker-compose", "-f", "docker-compose.yml", "-f", "tests/docker/compose.host.yml",
                  "config"], env).stdout
    cfg = yaml.safe_load(merged)
    assert cfg["services"]["server"].pop("ports")  # everything else is the compose file as users run it
    path = tmp / "docker-compose.host.yml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def test_compose_up_publish_swap_scale_rollback(tmp_path: Path) -> None:
    if shutil.which("docker") is None or shutil.which("docker-compose") is None:
        pytest.fail("docker and docker-compose are required (apt-get install -y docker.io docker-compose)")
    base_image = os.environ.get("MGQE_BASE_IMAGE", "python:3.11-slim")
    port, port2 = _free_port(), _free_port()
    project = f"mgqetest{os.getpid()}"
    env = {**os.environ, "DOCKER_BUILDKIT": "0", "MGQE_TAG": "citest", "MGQE_BASE_IMAGE": base_image,
           "MGQE_CONFIG": "configs/synthetic.toml", "MGQE_TEST_PORT": str(port),
           "MGQE_DATA_HOST_DIR": str(ROOT / "tests" / "docker")}  # any dir: synthetic data needs none
    if _sh(["docker", "info"], env, check=False).returncode != 0:
        pytest.fail("no Docker engine at DOCKER_HOST; on CI here run: eval \"$(docker/dev-engine.sh)\"")
    compose = ["docker-compose", "-p", project, "-f", str(_host_network_compose(env, tmp_path)),
               "--project-directory", str(ROOT)]
    replica = f"{project}_replica2"
    times: dict[str, float] = {}
    t_all = time.monotonic()
    try:
        t = time.monotonic()
        if not list((ROOT / "wheels").glob("*.whl")):  # containers here cannot reach the package index
            _sh(["docker/wheelhouse.sh", "all"], env)
        times["wheelhouse_s"] = time.monotonic() - t
        for name in ("server", "trainer"):
            t = time.monotonic()
            _sh(["docker", "build", "--network=host", "--build-arg", f"BASE_IMAGE={base_image}",
                 "-f", f"docker/{name}.Dockerfile", "-t", f"mgqe-{name}:citest", "."], env, timeout=1200)
            times[f"build_{name}_s"] = time.monotonic() - t
        # the server image has no torch and runs as non-root
        probe = _sh(["docker", "run", "--rm", "--entrypoint", "sh", "mgqe-server:citest", "-c",
                     "id -u; python3 -c 'import torch' 2>&1 | tail -1"], env)
        assert probe.stdout.splitlines()[0] == "10001" and "No module named 'torch'" in probe.stdout

        t = time.monotonic()
        _sh([*compose, "up", "-d", "--no-build"], env)
        trainer_id = _sh([*compose, "ps", "-q", "trainer"], env).stdout.split()[0]

        def ready() -> bool:
            state = _sh(["docker", "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", trainer_id], env)
            if state.stdout.split() not in (["running", "0"], ["exited", "0"], ["created", "0"]):
                logs = _sh([*compose, "logs", "--no-color", "trainer"], env).stdout
                raise AssertionError(f"trainer failed ({state.stdout.strip()}):\n{logs[-3000:]}")
            return httpx.get(f"http://127.0.0.1:{port}/v1/health/ready", timeout=2).status_code == 200

        _wait(ready, 600, "the server to become ready (trainer publishes v1 first)")
        times["up_to_ready_s"] = time.monotonic() - t
        logs = _sh([*compose, "logs", "--no-color", "trainer"], env).stdout
        assert f"published {MODEL} v1" in logs, logs[-3000:]
        models = httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=5).json()
        assert [m["name"] for m in models["models"]] == [MODEL]
        user = _first_user(compose, env)
        body = _recommend(port, user)
        assert body["version"] == "v1" and len(body["results"][0]["items"]) == 10
        # the engine's own healthcheck (HEALTHCHECK / compose healthcheck) turns healthy
        cid = _sh([*compose, "ps", "-q", "server"], env).stdout.split()[0]
        times["healthy_after_ready_s"] = _wait(
            lambda: _sh(["docker", "inspect", "-f", "{{.State.Health.Status}}", cid], env).stdout.strip()
            == "healthy", 120, "docker healthcheck")

        t = time.monotonic()
        _sh([*compose, "run", "--rm", "trainer"], env)  # second publish: v2
        _wait(lambda: _recommend(port, user)["version"] == "v2", 120, "the server to swap to v2")
        times["retrain_and_swap_s"] = time.monotonic() - t

        # A second replica on the same read-only volume. With a bridge network `docker compose up --scale
        # server=2` does this; on the host network here each replica needs its own port, and compose v1's
        # `run` adds links that the host network forbids, so the replica is started with plain docker.
        t = time.monotonic()
        _sh(["docker", "run", "-d", "--name", replica, "--network", "host", "--read-only", "--tmpfs", "/tmp",
             "-v", f"{project}_store:/store:ro", "-e", "MGQE_HOST=127.0.0.1", "-e", f"MGQE_PORT={port2}",
             "-e", "MGQE_RELOAD_INTERVAL_S=1", "mgqe-server:citest"], env)
        _wait(lambda: _recommend(port2, user)["version"] == "v2", 120, "the second replica")
        times["replica_ready_s"] = time.monotonic() - t
        write = _sh([*compose, "exec", "-T", "server", "sh", "-c", "touch /store/x"], env, check=False)
        assert write.returncode != 0  # read-only store in the server

        _sh([*compose, "run", "--rm", "--entrypoint", "mgqe-artifact", "trainer", "rollback", MODEL,
             "--store", "/store"], env)
        for p in (port, port2):
            _wait(lambda p=p: _recommend(p, user)["version"] == "v1", 60, f"rollback on :{p}")
    finally:
        _sh(["docker", "rm", "-f", replica], env, check=False)
        down = _sh([*compose, "down", "-v", "--remove-orphans"], env, check=False)
        times["total_s"] = time.monotonic() - t_all
        _record(times, base_image, down.returncode == 0)
    assert down.returncode == 0, down.stderr
    left = _sh(["docker", "volume", "ls", "-q", "--filter", f"name={project}"], env).stdout.strip()
    assert left == "", f"volumes left behind: {left}"


def _first_user(compose: list[str], env: dict[str, str]) -> int:
    """An external user id of the current artifact, read inside the trainer image (no host torch needed)."""
    code = ("from mgqe.proto import store as s; from mgqe.proto.artifact import read_artifact; "
            f"print(int(read_artifact(s.resolve_current('/store', '{MODEL}')).arrays['vocab.user'][0]))")
    r = _sh([*compose, "run", "--rm", "--no-deps", "--entrypoint", "python3", "trainer", "-c", code], env)
    return int(r.stdout.strip().splitlines()[-1])


def _record(times: dict[str, float], base_image: str, torn_down: bool) -> None:
    out = ROOT / "results"
    out.mkdir(exist_ok=True)
    rec = {
        "command": 'eval "$(docker/dev-engine.sh)" && '
        ".venv/bin/pytest -m docker tests/docker/test_compose_real.py",
        "base_image": base_image,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared VM), {platform.platform()}",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "torn_down": torn_down,
        "seconds": {k: round(v, 1) for k, v in times.items()},
    }
    (out / "docker-compose-test.json").write_text(json.dumps(rec, indent=1) + "\n")
    rows = "\n".join(f"| {k} | {v:.1f} |" for k, v in rec["seconds"].items())
    (out / "docker-compose-test.md").write_text(
        f"# docker-compose test timings\n\n`{rec['command']}` on {rec['machine']}, base image "
        f"`{base_image}`, {rec['when']}.\n\n| phase | seconds |\n|---|---|\n{rows}\n")
