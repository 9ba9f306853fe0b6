"""The deployment on a real Docker engine (opt-in: `pytest -m docker`, or `make test-docker`).

Builds both images, brings up docker-compose.yml with `--scale server=2`, and checks what a user relies on:
the trainer publishes v1 into the named volume; both server replicas (waiting for it) become healthy by the
engine's own healthcheck, and recommend requests on the shared port all succeed and reach both; running the
trainer again publishes v2 and each replica swaps it in (asked one by one over its own Unix socket, and its
own log says v1 -> v2); `mgqe-artifact rollback` (from the trainer image) moves both back to v1. Everything
is torn down at the end (containers, volume). Timings go to results/docker-compose-test.{json,md};
`python bench/compose_timings.py` then writes docs/deploy.md's "Measured" paragraph from them.

Needs: a Docker engine at $DOCKER_HOST and docker-compose (v1). On a machine without a bridge network or
registry (CI here) run `eval "$(docker/dev-engine.sh)"` first: it starts dockerd per
../shared/notes/containers.md and exports MGQE_BASE_IMAGE=local/debian-py:bookworm (a debootstrap image,
since python:3.11-slim cannot be pulled). Containers use the host network (tests/docker/compose.host.yml),
where the replicas share one port with MGQE_REUSE_PORT=1 (SO_REUSEPORT).
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


def _replica_get(cid: str, path: str, env: dict[str, str]) -> str:
    """GET path from one replica's own server, over the Unix socket in its /tmp (MGQE_UDS): on the shared
    port the kernel would pick any replica."""
    r = _sh(["docker", "exec", cid, "/opt/mgqe/bin/python", "/opt/mgqe/docker/healthcheck.py", path], env,
            timeout=30, check=False)
    if r.returncode != 0:
        raise ValueError(f"{cid[:12]} {path}: {r.stderr.strip()}")
    return r.stdout


def _replica_version(cid: str, env: dict[str, str]) -> str:
    models = json.loads(_replica_get(cid, "/v1/models", env))["models"]
    return str({m["name"]: m["version"] for m in models}[MODEL])


def _replica_recommends(cid: str, env: dict[str, str]) -> int:
    """Recommend requests this replica has answered (its mgqe_requests_total, every status)."""
    total = 0.0
    for line in _replica_get(cid, "/metrics", env).splitlines():
        if line.startswith("mgqe_requests_total{") and 'route="/v1/models/{model}/recommend"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


def _loaded_versions(cid: str, env: dict[str, str]) -> list[str]:
    """Versions of MODEL this container's server logged as loaded (its JSON `model_loaded` lines)."""
    logs = _sh(["docker", "logs", cid], env)
    out = []
    for line in (logs.stdout + logs.stderr).splitlines():
        if line.startswith("{") and '"model_loaded"' in line:
            rec = json.loads(line)
            if rec.get("event") == "model_loaded" and rec.get("model") == MODEL:
                out.append(str(rec["version"]))
    return out


def test_compose_up_scale_publish_swap_rollback(tmp_path: Path) -> None:
    if shutil.which("docker") is None or shutil.which("docker-compose") is None:
        pytest.fail("docker and docker-compose are required (apt-get install -y docker.io docker-compose)")
    base_image = os.environ.get("MGQE_BASE_IMAGE", "python:3.11-slim")
    port = _free_port()
    project = f"mgqetest{os.getpid()}"
    env = {**os.environ, "DOCKER_BUILDKIT": "0", "MGQE_TAG": "citest", "MGQE_BASE_IMAGE": base_image,
           "MGQE_CONFIG": "configs/synthetic.toml", "MGQE_TEST_PORT": str(port),
           "MGQE_DATA_HOST_DIR": str(ROOT / "tests" / "docker")}  # any dir: synthetic data needs none
    if _sh(["docker", "info"], env, check=False).returncode != 0:
        pytest.fail("no Docker engine at DOCKER_HOST; on CI here run: eval \"$(docker/dev-engine.sh)\"")
    compose = ["docker-compose", "-p", project, "-f", str(_host_network_compose(env, tmp_path)),
               "--project-directory", str(ROOT)]
    times: dict[str, float] = {}
    facts: dict[str, object] = {"server_replicas": 2}
    t_all = time.monotonic()
    try:
        t = time.monotonic()
        # containers here cannot reach the package index; refreshed every run (a few seconds) so that a
        # dependency added to pyproject.toml since the last run is in ./wheels too
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

        # Two server replicas from the compose file itself. On the host network they share one port through
        # MGQE_REUSE_PORT (compose.host.yml); on a bridge network each would publish its own.
        t = time.monotonic()
        _sh([*compose, "up", "-d", "--no-build", "--scale", "server=2"], env)
        trainer_id = _sh([*compose, "ps", "-q", "trainer"], env).stdout.split()[0]
        servers = _sh([*compose, "ps", "-q", "server"], env).stdout.split()
        assert len(servers) == 2, servers

        def ready() -> bool:
            state = _sh(["docker", "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", trainer_id], env)
            if state.stdout.split() not in (["running", "0"], ["exited", "0"], ["created", "0"]):
                logs = _sh([*compose, "logs", "--no-color", "trainer"], env).stdout
                raise AssertionError(f"trainer failed ({state.stdout.strip()}):\n{logs[-3000:]}")
            return httpx.get(f"http://127.0.0.1:{port}/v1/health/ready", timeout=2).status_code == 200

        _wait(ready, 600, "a server to become ready (trainer publishes v1 first)")
        times["up_to_ready_s"] = time.monotonic() - t
        logs = _sh([*compose, "logs", "--no-color", "trainer"], env).stdout
        assert f"published {MODEL} v1" in logs, logs[-3000:]

        # the engine's healthcheck of EACH replica turns healthy (it asks that replica over its own socket)
        def health(cid: str) -> str:
            return _sh(["docker", "inspect", "-f", "{{.State.Health.Status}}", cid], env).stdout.strip()

        t = time.monotonic()
        _wait(lambda: all(health(c) == "healthy" for c in servers), 120, "both replicas healthy")
        times["both_healthy_s"] = time.monotonic() - t
        assert [_replica_version(c, env) for c in servers] == ["v1", "v1"]

        user = _first_user(compose, env)
        n = 40
        for _ in range(n):  # one connection per request: the kernel picks a replica per connection
            body = _recommend(port, user)
            assert body["version"] == "v1" and len(body["results"][0]["items"]) == 10
        served = [_replica_recommends(c, env) for c in servers]
        facts["recommends_per_replica"] = served
        assert sum(served) == n and min(served) > 0, f"recommends per replica: {served}"
        write = _sh([*compose, "exec", "-T", "server", "sh", "-c", "touch /store/x"], env, check=False)
        assert write.returncode != 0  # read-only store in the server

        t = time.monotonic()
        _sh([*compose, "run", "--rm", "trainer"], env)  # second publish: v2
        _wait(lambda: [_replica_version(c, env) for c in servers] == ["v2", "v2"], 120, "both replicas on v2")
        times["retrain_and_swap_both_s"] = time.monotonic() - t
        loaded = [_loaded_versions(cid, env) for cid in servers]  # each replica's own log: v1, then v2
        facts["model_loaded_per_replica"] = loaded
        assert loaded == [["v1", "v2"], ["v1", "v2"]], loaded
        for _ in range(20):
            assert _recommend(port, user)["version"] == "v2"

        t = time.monotonic()
        _sh([*compose, "run", "--rm", "--entrypoint", "mgqe-artifact", "trainer", "rollback", MODEL,
             "--store", "/store"], env)
        _wait(lambda: [_replica_version(c, env) for c in servers] == ["v1", "v1"], 60, "rollback on both")
        times["rollback_both_s"] = time.monotonic() - t
        assert all(health(c) == "healthy" for c in servers)
    finally:
        down = _sh([*compose, "down", "-v", "--remove-orphans"], env, check=False)
        times["total_s"] = time.monotonic() - t_all
        _record(times, facts, base_image, down.returncode == 0)
    assert down.returncode == 0, down.stderr
    left = _sh(["docker", "volume", "ls", "-q", "--filter", f"name={project}"], env).stdout.strip()
    assert left == "", f"volumes left behind: {left}"


def _first_user(compose: list[str], env: dict[str, str]) -> int:
    """An external user id of the current artifact, read inside the trainer image (no host torch needed)."""
    code = ("from mgqe.proto import store as s; from mgqe.proto.artifact import read_artifact; "
            f"print(int(read_artifact(s.resolve_current('/store', '{MODEL}')).arrays['vocab.user'][0]))")
    r = _sh([*compose, "run", "--rm", "--no-deps", "--entrypoint", "python3", "trainer", "-c", code], env)
    return int(r.stdout.strip().splitlines()[-1])


def _record(times: dict[str, float], facts: dict[str, object], base_image: str, torn_down: bool) -> None:
    out = ROOT / "results"
    out.mkdir(exist_ok=True)
    seconds = {k: round(v, 1) for k, v in times.items()}
    rec = {
        "command": 'eval "$(docker/dev-engine.sh)" && '
        ".venv/bin/pytest -m docker tests/docker/test_compose_real.py",
        "base_image": base_image,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared VM), {platform.platform()}",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "torn_down": torn_down,
        "seconds": seconds,
        "checked": facts,
    }
    (out / "docker-compose-test.json").write_text(json.dumps(rec, indent=1) + "\n")
    rows = "\n".join(f"| {k} | {v:.1f} |" for k, v in seconds.items())
    (out / "docker-compose-test.md").write_text(
        f"# docker-compose test timings\n\n`{rec['command']}` on {rec['machine']}, base image "
        f"`{base_image}`, {rec['when']}.\n\n| phase | seconds |\n|---|---|\n{rows}\n\n"
        f"Checked: `{json.dumps(facts)}`\n")
