"""Serving benchmark: the scoring engine vs faiss IndexPQ vs float32 brute force, and HTTP load with uvicorn.

Part 1 (engine): one synthetic 1M-item MGQE table (d = 64, D = 16 subspaces, head 10% K = 256, tail
K = 64, shared centroids), written as a real artifact. Memory: each engine is built alone in its own
subprocess (RSS after building minus RSS before, after gc). Latency: all engines in one single-threaded
process (OMP/OpenBLAS = 1, faiss omp 1), queries interleaved across engines so load from other work hits all
alike. Per-query latency of an exact top-10 inner-product search over all items.
    ours     server load_model (codes unpacked once, pair codes) + ADC scan + sampled-threshold top-k
    faiss    faiss.IndexPQ(64, 16, 8 bits, inner product) holding the same codes and centroids
    brute    the decoded (n, 64) float32 table, X @ q + np.argpartition (and + our top-k, for reference)
Part 2 (HTTP): `mgqe-serve`-equivalent uvicorn (1 worker) serving a GMF model with 10k users and 10k items
(same table layout); wrk drives POST /recommend (random users, k = 10) and GET /v1/health/live (the trivial
endpoint of the same app: the framework's ceiling) with the same connections and duration.

Writes docs/bench_serving.json and docs/bench_serving.md. Run (takes ~3 minutes):
    nice -n 10 .venv/bin/python bench/bench_serving.py
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import os
import platform
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any

import numpy as np

from machine import cpu_name

ROOT = Path(__file__).resolve().parents[1]
D_MODEL, SUBSPACES, K_HEAD, K_TAIL, HEAD_FRAC = 64, 16, 256, 64, 0.1
THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def write_model(path: Path, model_type: str, n_items: int, n_users: int, seed: int = 0) -> None:
    """A random-weight artifact whose tables use the benchmark's MGQE layout."""
    from mgqe.proto.artifact import write_artifact
    from mgqe.proto.config import EmbeddingConfig, ModelSpec

    rng = np.random.default_rng(seed)
    sizes = {"item": n_items} if model_type == "relevance" else {"user": n_users, "item": n_items}
    tables, arrays = {}, {}
    for t, n in sizes.items():
        cfg = EmbeddingConfig.mgqe(
            n, D_MODEL, bounds=[int(n * HEAD_FRAC), n], D=SUBSPACES, K=[K_HEAD, K_TAIL]
        )
        tables[t] = cfg
        for i, g in enumerate(cfg.groups):
            arrays[f"{t}.codes.g{i}"] = rng.integers(0, g.K, (g.size, g.D), dtype=np.uint8)
        arrays[f"{t}.centroids"] = rng.normal(0, 0.1, (SUBSPACES, K_HEAD, D_MODEL // SUBSPACES)).astype(
            np.float32
        )
        arrays[f"vocab.{t}"] = (rng.permutation(n) * 7 + 1).astype(np.int64)
    arrays["dense.out.weight"] = rng.normal(1, 0.1, (1, D_MODEL)).astype(np.float32)
    arrays["dense.out.bias"] = np.zeros(1, np.float32)
    spec = ModelSpec(model_type=model_type, d=D_MODEL, tables=tables)  # type: ignore[arg-type]
    write_artifact(path, spec, arrays, provenance={"source": "bench/bench_serving.py synthetic"})


# ---- part 1: engines ------------------------------------------------------------------------------------
def build_engine(engine: str, artifact: Path) -> tuple[Callable[[np.ndarray], np.ndarray], dict]:
    """(search(q) -> top-10 row ids, info) for one engine over the artifact's item table."""
    from mgqe.proto.artifact import read_artifact
    from mgqe.server.models import load_model
    from mgqe.server.scoring import topk

    if engine == "ours":
        model = load_model("bench", "v1", artifact)
        table = model.tables["item"]
        info = {"engine_bytes": table.nbytes, "model_resident_bytes": model.resident_bytes}
        return lambda q: topk(table.inner(q[None])[0], 10)[0], info
    art = read_artifact(artifact)
    cfg = art.spec.tables["item"]
    C = np.array(art.arrays["item.centroids"])
    codes = np.concatenate([art.arrays[f"item.codes.g{i}"] for i in range(len(cfg.groups))])
    del art
    if engine == "faiss":
        import faiss

        faiss.omp_set_num_threads(1)
        index = faiss.IndexPQ(D_MODEL, SUBSPACES, 8, faiss.METRIC_INNER_PRODUCT)
        faiss.copy_array_to_vector(C.ravel(), index.pq.centroids)
        index.is_trained = True
        faiss.copy_array_to_vector(np.ascontiguousarray(codes).ravel(), index.codes)
        index.ntotal = codes.shape[0]
        return lambda q: index.search(q[None], 10)[1][0], {"engine_bytes": int(index.codes.size() + C.nbytes)}
    X = np.concatenate([C[j][codes[:, j]] for j in range(SUBSPACES)], axis=1)  # (n, 64) float32
    del codes, C
    if engine == "brute":
        return lambda q: np.argpartition(-(X @ q), 10)[:10], {"engine_bytes": int(X.nbytes)}
    return lambda q: topk(X @ q, 10)[0], {"engine_bytes": int(X.nbytes)}  # brute_ourtopk


def _settle() -> None:
    """gc, then hand freed heap pages back to the OS (glibc keeps them otherwise), so RSS shows live data."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def engine_memory(engine: str, artifact: Path) -> dict:
    """Subprocess mode: RSS growth from building one engine alone (modules imported first), plus one query."""
    import mgqe.proto.artifact
    import mgqe.server.models  # noqa: F401

    if engine == "faiss":
        import faiss  # noqa: F401
    _settle()
    base = rss_bytes()
    search, info = build_engine(engine, artifact)
    _settle()
    info["rss_delta_bytes"] = rss_bytes() - base
    search(np.ones(D_MODEL, np.float32))
    return info


def engine_latency(artifact: Path, n_queries: int) -> dict[str, dict]:
    """All engines in one process, queries interleaved (q1 on every engine, then q2, ...), so machine load
    that comes and goes hits every engine alike."""
    engines = {e: build_engine(e, artifact)[0] for e in ENGINES}
    Q = np.random.default_rng(123).normal(size=(n_queries + 3, D_MODEL)).astype(np.float32)
    times: dict[str, list[float]] = {e: [] for e in ENGINES}
    results: dict[str, list[list[int]]] = {e: [] for e in ENGINES}
    for i, q in enumerate(Q):
        for e, search in engines.items():
            t0 = time.perf_counter()
            ids = search(q)
            dt = time.perf_counter() - t0
            if i >= 3:  # warm-up
                times[e].append(dt)
                results[e].append(sorted(int(x) for x in ids))
    out = {}
    for e in ENGINES:
        t = np.array(times[e]) * 1e3
        agree = np.mean([a == b for a, b in zip(results[e], results["brute"], strict=True)])
        out[e] = {
            "p50_ms": float(np.median(t)),
            "mean_ms": float(t.mean()),
            "p90_ms": float(np.percentile(t, 90)),
            "top10_agree_with_brute": float(agree),
        }
    return out


ENGINES = ("ours", "faiss", "brute", "brute_ourtopk")


def engine_part(tmp: Path, n_items: int, n_queries: int) -> dict:
    artifact = tmp / "item1m.mgqe"
    write_model(artifact, "relevance", n_items, 0)
    rows: dict[str, dict] = {}
    for engine in ENGINES:
        cmd = [sys.executable, __file__, "--engine", engine, "--artifact", str(artifact)]
        res = subprocess.run(cmd, capture_output=True, text=True, env=os.environ | THREAD_ENV, check=False)
        if res.returncode != 0:
            raise SystemExit(f"engine {engine} failed:\n{res.stderr}")
        rows[engine] = json.loads(res.stdout.strip().splitlines()[-1])
    cmd = [sys.executable, __file__, "--latency", "--artifact", str(artifact), "--queries", str(n_queries)]
    res = subprocess.run(cmd, capture_output=True, text=True, env=os.environ | THREAD_ENV, check=False)
    if res.returncode != 0:
        raise SystemExit(f"latency run failed:\n{res.stderr}")
    for e, lat in json.loads(res.stdout.strip().splitlines()[-1]).items():
        rows[e] |= lat
    return {
        "n_items": n_items,
        "artifact_bytes": artifact.stat().st_size,
        "queries": n_queries,
        "engines": rows,
    }


# ---- part 2: HTTP under load -----------------------------------------------------------------------------
WRK_LUA = """
-- every request is formatted once in init(): per request wrk only hands out a prebuilt string, so the load
-- generator costs the same CPU for both endpoints (it shares the machine with the server)
local users = {%s}
local path = "%s"
local reqs = {}
local i = 0
function init(args)
  math.randomseed(7)
  for j = 1, 2000 do
    if path == "" then
      reqs[j] = wrk.format("GET", "/v1/health/live")
    else
      local body = '{"user": ' .. users[math.random(#users)] .. ', "k": 10}'
      reqs[j] = wrk.format("POST", path, {["Content-Type"] = "application/json"}, body)
    end
  end
end
function request()
  i = i %% #reqs + 1
  return reqs[i]
end
function done(summary, latency, requests)
  io.write(string.format("RESULT %%d %%d %%d %%.1f %%.1f %%d\\n", summary.requests, summary.duration,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout, latency:percentile(50), latency:percentile(99), 0))
end
"""


def http_impl() -> str:
    """The HTTP/1.1 parser uvicorn's default (http="auto") picks: httptools when installed, else h11."""
    import importlib.util

    return "httptools" if importlib.util.find_spec("httptools") else "h11"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def asgi_breakdown(artifact: Path, iterations: int = 2000) -> dict:
    """Per-request cost without sockets: the app called directly as an ASGI callable (live vs recommend,
    alternating), and the model's recommend alone, to show where the time of a recommend request goes."""
    import asyncio

    from mgqe.server.app import create_app
    from mgqe.server.settings import Settings

    app = create_app(Settings(artifact=artifact, model_name="gmf", log_level="WARNING"))

    async def run() -> dict:
        await app.state.registry.refresh()
        model = app.state.registry.get("gmf")
        users = model.vocab["user"].ext[:100].tolist()
        bodies = [json.dumps({"user": u, "k": 10}).encode() for u in users]
        phases = model_phases(model, users, iterations)

        async def call(path: str, raw: bytes, method: str) -> None:
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
            scope = {
                "type": "http",
                "method": method,
                "path": path,
                "raw_path": path.encode(),
                "query_string": b"",
                "root_path": "",
                "headers": headers,
                "scheme": "http",
                "server": ("bench", 80),
                "client": ("bench", 1),
                "http_version": "1.1",
                "app": app,
            }

            async def receive() -> dict:
                return {"type": "http.request", "body": raw, "more_body": False}

            async def send(_: MutableMapping[str, Any]) -> None:
                return None

            await app(scope, receive, send)

        t = {"live": 0.0, "recommend": 0.0, "compute": 0.0}
        for i in range(iterations):
            t0 = time.perf_counter()
            await call("/v1/health/live", b"", "GET")
            t1 = time.perf_counter()
            await call("/v1/models/gmf/recommend", bodies[i % 100], "POST")
            t2 = time.perf_counter()
            model.recommend("user", [users[i % 100]], 10, [], False)
            t3 = time.perf_counter()
            t["live"] += t1 - t0
            t["recommend"] += t2 - t1
            t["compute"] += t3 - t2
        # The same recommend requests with the model's work replaced by a constant answer: the framework's
        # share of a recommend request alone (alternating with live, as above).
        cls, answer = type(model), model.recommend("user", users[:1], 10, [], False)
        real, t["live_vs_stub"], t["recommend_stub"] = cls.recommend, 0.0, 0.0
        cls.recommend = lambda *_: answer  # type: ignore[method-assign]
        try:
            for i in range(iterations):
                t0 = time.perf_counter()
                await call("/v1/health/live", b"", "GET")
                t1 = time.perf_counter()
                await call("/v1/models/gmf/recommend", bodies[i % 100], "POST")
                t2 = time.perf_counter()
                t["live_vs_stub"] += t1 - t0
                t["recommend_stub"] += t2 - t1
        finally:
            cls.recommend = real  # type: ignore[method-assign]
        return {f"{k}_ms": v / iterations * 1e3 for k, v in t.items()} | {"iterations": iterations} | phases

    return asyncio.run(run())


def model_phases(model: Any, users: list[int], iterations: int) -> dict[str, float]:
    """The model's recommend for one user split into the steps LoadedModel.recommend takes (same calls, timed
    one by one, users alternating): query (vocabulary lookup, user-row decode, output layer folded into the
    query), scan (per-query lookup tables + ADC over every item), top-k. ms per query."""
    from mgqe.server import nn
    from mgqe.server.scoring import topk

    item, none = model.tables["item"], np.empty(0, np.int64)
    t = {"query": 0.0, "scan": 0.0, "topk": 0.0}
    for i in range(iterations):
        t0 = time.perf_counter()
        Q, _ = nn.folded_query(
            model.tables["user"].decode(model.vocab["user"].rows([users[i % len(users)]])), model.dense
        )
        t1 = time.perf_counter()
        s = item.inner(Q)[0]
        t2 = time.perf_counter()
        topk(s, 10, none)
        t3 = time.perf_counter()
        t["query"] += t1 - t0
        t["scan"] += t2 - t1
        t["topk"] += t3 - t2
    return {f"phase_{k}_ms": v / iterations * 1e3 for k, v in t.items()}


def http_part(tmp: Path, duration: int, connections: int, rounds: int = 5) -> dict:
    from mgqe.proto.artifact import read_artifact
    from mgqe.proto.store import publish

    artifact = tmp / "gmf10k.mgqe"
    write_model(artifact, "gmf", 10_000, 10_000)
    store = tmp / "store"
    publish(store, "gmf", artifact)
    users = read_artifact(artifact).arrays["vocab.user"][:2000].tolist()
    port = free_port()
    env = os.environ | THREAD_ENV | {"MGQE_LOG_LEVEL": "WARNING"}
    server_cmd = [
        sys.executable,
        "-m",
        "mgqe.server.cli",
        "--store",
        str(store),
        "--port",
        str(port),
        "--max-in-flight",
        "1024",
    ]
    server = subprocess.Popen(server_cmd, env=env, stderr=subprocess.PIPE, text=True)
    try:
        import httpx

        for _ in range(300):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v1/health/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            raise SystemExit("server did not become ready")
        out: dict[str, Any] = {  # the JSON record
            "n_items": 10_000,
            "n_users": 10_000,
            "connections": connections,
            "duration_s": duration,
            "rounds": rounds,
            "wrk_threads": 1,
            "server": f"uvicorn, 1 worker, HTTP parser {http_impl()}, MGQE_LOG_LEVEL=WARNING",
        }
        # Alternate short runs of the two endpoints so load from other work on the machine hits both alike.
        endpoints = {"trivial_live": "", "recommend_k10": "/v1/models/gmf/recommend"}
        runs: dict[str, list[tuple[float, ...]]] = {k: [] for k in endpoints}
        cmds = {}
        for name, path in endpoints.items():
            lua = tmp / f"{name}.lua"
            lua.write_text(WRK_LUA % (",".join(map(str, users)), path))
            cmds[name] = [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{duration // rounds}s",
                "-s",
                str(lua),
                f"http://127.0.0.1:{port}",
            ]
        for _ in range(rounds):
            for name, cmd in cmds.items():
                res = subprocess.run(cmd, capture_output=True, text=True, check=True)
                m = re.search(r"RESULT (\d+) (\d+) (\d+) ([\d.]+) ([\d.]+)", res.stdout)
                if m is None:
                    raise SystemExit(f"cannot parse wrk output:\n{res.stdout}\n{res.stderr}")
                runs[name].append(tuple(float(x) for x in m.groups()))
        for name, rs in runs.items():
            n = sum(r[0] for r in rs)
            out[name] = {
                "requests": int(n),
                "errors": int(sum(r[2] for r in rs)),
                "rps": n / (sum(r[1] for r in rs) / 1e6),
                "p50_ms": float(np.median([r[3] for r in rs])) / 1e3,  # median over the rounds
                "p99_ms": float(np.median([r[4] for r in rs])) / 1e3,
                "command": shlex.join([*cmds[name][:-2], "<lua>", cmds[name][-1]]) + f"  (x{rounds})",
            }
        out["asgi"] = asgi_breakdown(artifact)
        out["recommend_over_trivial_rps"] = out["recommend_k10"]["rps"] / out["trivial_live"]["rps"]
        # each round's recommend rps over the trivial rps of the same round (run back to back)
        pairs = zip(runs["recommend_k10"], runs["trivial_live"], strict=True)
        out["round_ratios"] = [(r[0] / r[1]) / (t[0] / t[1]) for r, t in pairs]
        return out
    finally:
        server.terminate()
        server.wait(timeout=30)


# ---- report ----------------------------------------------------------------------------------------------
def markdown(res: dict) -> str:
    mb = 1 / 2**20
    lines = [
        "# Serving benchmark results (generated by bench/bench_serving.py; do not edit by hand)",
        "",
        f"Command: `{res['command']}`  ",
        f"Machine: {res['machine']}. Shared with other work while it ran, so compare the ratios of one run,",
        "not absolute times across runs. Every engine single-threaded.",
        "",
    ]
    if "engine" in res:
        if "command" in res["engine"]:  # kept from an earlier run by --http-only
            e = res["engine"]
            lines += [f"Engine part from an earlier run: `{e['command']}` on {e['machine']}.", ""]
        lines += engine_markdown(res["engine"], mb)
    lines += http_markdown(res.get("http"))
    return "\n".join(lines)


def engine_markdown(e: dict, mb: float) -> list[str]:
    rows = e["engines"]
    lines = [
        f"## Exact top-10 inner-product search over {e['n_items']:,} items "
        f"(d = {D_MODEL}, MGQE D = {SUBSPACES}, "
        f"K = {K_HEAD}/{K_TAIL}, head {HEAD_FRAC:.0%}), {e['queries']} queries",
        "",
        f"Artifact file: {e['artifact_bytes'] * mb:.1f} MiB.",
        "",
        "| engine | p50 ms | mean ms | p90 ms | engine bytes (MiB) | RSS delta (MiB) "
        "| top-10 = brute force |",
        "|---|---|---|---|---|---|---|",
    ]
    names = {
        "ours": "mgqe ADC (server engine)",
        "faiss": "faiss IndexPQ 16x8",
        "brute": "numpy float32 X@q + argpartition",
        "brute_ourtopk": "numpy float32 X@q + our top-k",
    }
    for k, r in rows.items():
        lines.append(
            f"| {names[k]} | {r['p50_ms']:.2f} | {r['mean_ms']:.2f} | {r['p90_ms']:.2f} | "
            f"{r['engine_bytes'] * mb:.1f} | {r['rss_delta_bytes'] * mb:.1f} "
            f"| {r['top10_agree_with_brute']:.0%} |"
        )
    o, f, b = rows["ours"], rows["faiss"], rows["brute"]
    lines += [
        "",
        f"Ratios (p50): ours / faiss = {o['p50_ms'] / f['p50_ms']:.2f} (target <= 1.5); "
        f"ours / brute = {o['p50_ms'] / b['p50_ms']:.2f} (target <= 1); "
        f"memory ours / brute (RSS) = {o['rss_delta_bytes'] / b['rss_delta_bytes']:.1%} "
        "(target <= 30%).",
        f"Whole served model incl. id vocabulary: {o['model_resident_bytes'] * mb:.1f} MiB resident "
        f"(engine {o['engine_bytes'] * mb:.1f} MiB + vocabulary), "
        f"artifact {e['artifact_bytes'] * mb:.1f} MiB.",
        "",
    ]
    return lines


def http_markdown(h: dict | None) -> list[str]:
    lines: list[str] = []
    if h:
        lines += [
            f"## HTTP: {h['server']}, GMF with {h['n_users']:,} users x {h['n_items']:,} items; wrk "
            f"{h['wrk_threads']} thread, {h['connections']} connections, {h['duration_s']} s per endpoint "
            f"in {h['rounds']} alternating rounds (p50/p99: median over rounds)",
            "",
            "| endpoint | requests/s | p50 ms | p99 ms | errors |",
            "|---|---|---|---|---|",
        ]
        for k, label in (
            ("trivial_live", "GET /v1/health/live (trivial)"),
            ("recommend_k10", "POST recommend k=10"),
        ):
            r = h[k]
            lines.append(
                f"| {label} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['errors']} |"
            )
        lines += [
            "",
            f"recommend / trivial throughput = {h['recommend_over_trivial_rps']:.1%} (target >= 50%).",
            *(
                [
                    "Per round (recommend / trivial of the same round): "
                    + ", ".join(f"{x:.1%}" for x in h["round_ratios"])
                    + "."
                ]
                if "round_ratios" in h
                else []
            ),
            f"wrk command: `{h['recommend_k10']['command']}`",
            "",
        ]
        a = h.get("asgi")
        if a:
            lines += [
                f"Without sockets (the app called as an ASGI callable, {a['iterations']} alternating calls, "
                "same machine): GET live "
                f"{a['live_ms']:.3f} ms, POST recommend {a['recommend_ms']:.3f} ms per request, of which the "
                f"model's recommend (vocabulary, decode, ADC scan, top-k) {a['compute_ms']:.3f} ms; the rest "
                "of the difference is the framework's per-request work for a POST with a JSON body.",
                "",
            ]
            if "recommend_stub_ms" in a:
                lines += [
                    "The same recommend requests with the model's work replaced by a constant answer (the "
                    f"framework's share alone): {a['recommend_stub_ms']:.3f} ms, against GET live "
                    f"{a['live_vs_stub_ms']:.3f} ms in the same loop.",
                    "",
                ]
            if "phase_scan_ms" in a:
                lines += [
                    "The model's steps, timed one by one: query (vocabulary, user decode, folded output "
                    f"layer) {a['phase_query_ms']:.3f} ms, scan (lookup tables + ADC over all items) "
                    f"{a['phase_scan_ms']:.3f} ms, top-k {a['phase_topk_ms']:.3f} ms.",
                    "",
                ]
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--items", type=int, default=1_000_000, help="items of the engine benchmark table")
    p.add_argument("--queries", type=int, default=50, help="timed queries per engine")
    p.add_argument("--duration", type=int, default=15, help="wrk seconds per HTTP endpoint")
    p.add_argument("--connections", type=int, default=16, help="wrk connections")
    p.add_argument("--skip-http", action="store_true", help="only the engine part")
    p.add_argument("--skip-engine", action="store_true", help="only the HTTP part")
    p.add_argument(
        "--http-only",
        action="store_true",
        help="rerun only the HTTP part and keep the engine part (with its command) of the existing "
        "bench_serving.json in --out",
    )
    p.add_argument("--out", type=Path, default=ROOT / "docs", help="directory for bench_serving.{json,md}")
    p.add_argument("--engine", help=argparse.SUPPRESS)
    p.add_argument("--latency", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--artifact", type=Path, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.engine:  # subprocess modes
        print(json.dumps(engine_memory(a.engine, a.artifact)))
        return
    if a.latency:
        print(json.dumps(engine_latency(a.artifact, a.queries)))
        return
    cpu = cpu_name()
    res: dict = {
        "command": shlex.join(
            [*(["nice", "-n", str(os.nice(0))] if os.nice(0) else []), ".venv/bin/python", *sys.argv]
        ),
        "machine": f"{os.cpu_count()}-core shared CPU VM ({cpu}), Python {platform.python_version()}, "
        f"numpy {np.__version__}",
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    old = a.out / "bench_serving.json"
    if a.http_only:
        prev = json.loads(old.read_text()) if old.exists() else {}
        if "engine" not in prev:
            p.error(f"--http-only: {old} has no engine part to keep; run without it")
        res["engine"] = prev["engine"] | {"command": prev["command"], "machine": prev["machine"]}
    with tempfile.TemporaryDirectory() as d:
        if not (a.skip_engine or a.http_only):
            res["engine"] = engine_part(Path(d), a.items, a.queries)
        if not a.skip_http:
            res["http"] = http_part(Path(d), a.duration, a.connections)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "bench_serving.json").write_text(json.dumps(res, indent=2) + "\n")
    (a.out / "bench_serving.md").write_text(markdown(res))
    print(markdown(res))


if __name__ == "__main__":
    main()
