"""End to end without containers: pipeline publishes v1 -> a real `mgqe-serve` process answers -> pipeline
publishes v2 -> the server swaps to v2 while a concurrent request loop sees no failed request.

Everything runs as users run it: `mgqe-train pipeline` and `mgqe-serve` console scripts in subprocesses, HTTP
over a real socket. Small synthetic data keeps it to seconds of training.
"""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest
from pipeline_helpers import run_cli, write_config

from mgqe.proto import store as st
from mgqe.proto.artifact import read_artifact
from serve_process import start_server, stop_server, wait_for


@pytest.fixture
def published_v1(tmp_path: Path) -> tuple[Path, Path]:
    store = tmp_path / "store"
    gate = 'min = { "test.hr@10" = 0.0 }\ncompare = { "valid.hr@10" = "higher" }\nmax_drop = 100.0'
    cfg = write_config(tmp_path / "p.toml", store, gate, model="e2e")
    r = run_cli("--config", str(cfg), cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert st.current_version(store, "e2e") == "v1"
    return store, cfg


def test_publish_serve_swap_without_failed_requests(tmp_path: Path, published_v1: tuple[Path, Path]) -> None:
    store, cfg = published_v1
    art = read_artifact(st.resolve_current(store, "e2e"))
    users = [int(u) for u in art.arrays["vocab.user"][:20]]  # external ids, as clients send them
    # the server logs every request (to a file: a pipe would fill); a short reload interval catches v2 quickly
    log_path = tmp_path / "serve.log"
    server, base = start_server(["--store", str(store)], log_path, env={"MGQE_RELOAD_INTERVAL_S": "0.2"})
    stop = threading.Event()
    seen: list[list[str]] = [[], []]
    failures: list[str] = []

    def loop(k: int) -> None:
        with httpx.Client(base_url=base, timeout=10) as c:
            i = 0
            while not stop.is_set():
                try:
                    r = c.post("/v1/models/e2e/recommend", json={"user": users[i % len(users)], "k": 5})
                    if r.status_code != 200:
                        failures.append(f"{r.status_code} {r.text[:200]}")
                    else:
                        body = r.json()
                        assert len(body["results"][0]["items"]) == 5
                        seen[k].append(body["version"])
                except (httpx.HTTPError, AssertionError, KeyError) as e:
                    failures.append(repr(e))
                i += 1

    threads = [threading.Thread(target=loop, args=(k,), daemon=True) for k in range(2)]
    try:
        for t in threads:
            t.start()
        wait_for(lambda: all(len(s) >= 5 for s in seen), 30, "requests answered by v1")

        r = run_cli("--config", str(cfg), "--seed", "1", cwd=tmp_path)  # a different model: v2
        assert r.returncode == 0, r.stdout + r.stderr
        assert st.current_version(store, "e2e") == "v2"
        wait_for(lambda: all(s and s[-1] == "v2" for s in seen), 30, "the server to swap to v2")
        n_at_swap = [len(s) for s in seen]
        wait_for(lambda: all(len(s) >= n + 5 for s, n in zip(seen, n_at_swap, strict=True)), 30, "more v2")
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=15)
        stop_server(server)
    out = log_path.read_text()

    assert failures == [], (failures[:5], out[-2000:])
    for s in seen:
        assert s[0] == "v1" and s[-1] == "v2"
        # per client, versions only move forward: once v2 answered, v1 never answers again
        first_v2 = s.index("v2")
        assert set(s[first_v2:]) == {"v2"}, s
    total = sum(len(s) for s in seen)
    assert total >= 20
    assert st.check_store(store) == []
