"""A real `mgqe-serve` on 127.0.0.1 in a subprocess, for the tests that need a socket and a process (pipeline,
reliability): free port, readiness wait, stop."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(pred: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll pred every 50 ms (HTTP errors count as False) until it holds; AssertionError after timeout s."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if pred():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def start_server(
    args: list[str], log: Path, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen, str]:
    """Start `mgqe-serve ARGS --host 127.0.0.1 --port P` logging to `log`; wait until /v1/health/ready is 200.

    env: added to this process's environment (OMP_NUM_THREADS=1, MGQE_ADMIN_TOKEN unset unless given).
    Returns (process, base URL). The caller stops it with stop_server."""
    port = free_port()
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    if env is None or "MGQE_ADMIN_TOKEN" not in env:
        full_env.pop("MGQE_ADMIN_TOKEN", None)
    out = log.open("w")  # a file, not a pipe: a full pipe would block the server
    proc = subprocess.Popen(
        [str(BIN / "mgqe-serve"), *args, "--host", "127.0.0.1", "--port", str(port)],
        stdout=out, stderr=subprocess.STDOUT, env=full_env,
    )
    out.close()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: httpx.get(f"{base}/v1/health/ready", timeout=2).status_code == 200, 60, "readiness")
    except AssertionError:
        stop_server(proc)
        raise AssertionError(f"mgqe-serve not ready; log:\n{log.read_text()[-3000:]}") from None
    return proc, base


def stop_server(proc: subprocess.Popen, timeout: float = 15.0) -> int:
    """SIGTERM, then SIGKILL after timeout s; returns the exit status."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return int(proc.returncode)
