"""Serving benchmark: the scoring engine vs faiss IndexPQ vs float32 brute force, and HTTP load with uvicorn.

Part 1 (engine): one synthetic 1M-item MGQE table (d = 64, D = 16 subspaces, head 10% K = 256, tail
K = 64, shared centroids), written as a real artifact. Each engine runs in its own subprocess (single
thread: OMP/OpenBLAS = 1, faiss omp 1) so its resident memory is measured alone: RSS after building the
engine minus RSS before, after gc. Per-query latency of an exact top-10 inner-product search over all items.
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
from pathlib import Path

import numpy as np

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


# ---- part 1: one engine per subprocess ------------------------------------------------------------------
def run_engine(engine: str, artifact: Path, n_queries: int) -> dict:
    from mgqe.proto.artifact import read_artifact
    from mgqe.server.models import load_model
    from mgqe.server.scoring import topk

    rng = np.random.default_rng(123)
    Q = rng.normal(size=(n_queries + 3, D_MODEL)).astype(np.float32)
    gc.collect()
    base = rss_bytes()
    out: dict = {"engine": engine}
    if engine == "ours":
        model = load_model("bench", "v1", artifact)
        table = model.tables["item"]
        gc.collect()
        out["engine_bytes"] = table.nbytes
        out["model_resident_bytes"] = model.resident_bytes

        def search(q: np.ndarray) -> np.ndarray:
            return topk(table.inner(q[None])[0], 10)[0]
    else:
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
            out["engine_bytes"] = int(index.codes.size() + C.nbytes)
            del codes, C

            def search(q: np.ndarray) -> np.ndarray:
                return index.search(q[None], 10)[1][0]
        else:
            X = np.concatenate([C[j][codes[:, j]] for j in range(SUBSPACES)], axis=1)  # (n, 64) float32
            del codes, C
            out["engine_bytes"] = int(X.nbytes)
            if engine == "brute":

                def search(q: np.ndarray) -> np.ndarray:
                    s = X @ q
                    return np.argpartition(-s, 10)[:10]
            else:  # brute_ourtopk

                def search(q: np.ndarray) -> np.ndarray:
                    return topk(X @ q, 10)[0]

    gc.collect()
    out["rss_delta_bytes"] = rss_bytes() - base
    for q in Q[:3]:  # warm-up
        search(q)
    times, results = [], []
    for q in Q[3:]:
        t0 = time.perf_counter()
        ids = search(q)
        times.append(time.perf_counter() - t0)
        results.append(sorted(int(i) for i in ids))
    t = np.array(times) * 1e3
    out |= {
        "p50_ms": float(np.median(t)),
        "mean_ms": float(t.mean()),
        "p90_ms": float(np.percentile(t, 90)),
        "top10": results,
    }
    return out


def engine_part(tmp: Path, n_items: int, n_queries: int) -> dict:
    artifact = tmp / "item1m.mgqe"
    write_model(artifact, "relevance", n_items, 0)
    rows = {}
    for engine in ("ours", "faiss", "brute", "brute_ourtopk"):
        cmd = [
            sys.executable,
            __file__,
            "--engine",
            engine,
            "--artifact",
            str(artifact),
            "--queries",
            str(n_queries),
        ]
        res = subprocess.run(cmd, capture_output=True, text=True, env=os.environ | THREAD_ENV, check=False)
        if res.returncode != 0:
            raise SystemExit(f"engine {engine} failed:\n{res.stderr}")
        rows[engine] = json.loads(res.stdout.strip().splitlines()[-1])
    # every engine scores the same codes exactly: compare the returned top-10 sets with brute force
    ref = rows["brute"]["top10"]
    for r in rows.values():
        r["top10_agree_with_brute"] = float(np.mean([a == b for a, b in zip(r["top10"], ref, strict=True)]))
        del r["top10"]
    return {
        "n_items": n_items,
        "artifact_bytes": artifact.stat().st_size,
        "queries": n_queries,
        "engines": rows,
    }


# ---- part 2: HTTP under load -----------------------------------------------------------------------------
WRK_LUA = """
math.randomseed(7)
local users = {%s}
local path = "%s"
function request()
  if path == "" then return wrk.format("GET", "/v1/health/live") end
  local body = '{"user": ' .. users[math.random(#users)] .. ', "k": 10}'
  return wrk.format("POST", path, {["Content-Type"] = "application/json"}, body)
end
function done(summary, latency, requests)
  io.write(string.format("RESULT %%d %%d %%d %%.1f %%.1f %%d\\n", summary.requests, summary.duration,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout, latency:percentile(50), latency:percentile(99), 0))
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_part(tmp: Path, duration: int, connections: int) -> dict:
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
        out = {
            "n_items": 10_000,
            "n_users": 10_000,
            "connections": connections,
            "duration_s": duration,
            "wrk_threads": 1,
            "server": "uvicorn, 1 worker, MGQE_LOG_LEVEL=WARNING",
        }
        for name, path in (("trivial_live", ""), ("recommend_k10", "/v1/models/gmf/recommend")):
            lua = tmp / f"{name}.lua"
            lua.write_text(WRK_LUA % (",".join(map(str, users)), path))
            cmd = [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{duration}s",
                "-s",
                str(lua),
                f"http://127.0.0.1:{port}",
            ]
            res = subprocess.run(cmd, capture_output=True, text=True, check=True)
            m = re.search(r"RESULT (\d+) (\d+) (\d+) ([\d.]+) ([\d.]+)", res.stdout)
            if m is None:
                raise SystemExit(f"cannot parse wrk output:\n{res.stdout}\n{res.stderr}")
            n, dur_us, errors, p50, p99 = (float(x) for x in m.groups())
            out[name] = {
                "requests": int(n),
                "errors": int(errors),
                "rps": n / (dur_us / 1e6),
                "p50_ms": p50 / 1e3,
                "p99_ms": p99 / 1e3,
                "command": shlex.join([*cmd[:-2], "<lua>", cmd[-1]]),
            }
        out["recommend_over_trivial_rps"] = out["recommend_k10"]["rps"] / out["trivial_live"]["rps"]
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
            f"{h['wrk_threads']} thread, {h['connections']} connections, {h['duration_s']} s per endpoint",
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
            f"wrk command: `{h['recommend_k10']['command']}`",
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
    p.add_argument("--out", type=Path, default=ROOT / "docs", help="directory for bench_serving.{json,md}")
    p.add_argument("--engine", help=argparse.SUPPRESS)
    p.add_argument("--artifact", type=Path, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.engine:  # subprocess mode
        print(json.dumps(run_engine(a.engine, a.artifact, a.queries)))
        return
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((ln.split(":", 1)[1].strip() for ln in cpuinfo if ln.startswith("model name")), "?")
    res: dict = {
        "command": "nice -n 10 .venv/bin/python bench/bench_serving.py " + shlex.join(sys.argv[1:]),
        "machine": f"{os.cpu_count()}-core shared CPU VM ({cpu}), Python {platform.python_version()}, "
        f"numpy {np.__version__}",
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    with tempfile.TemporaryDirectory() as d:
        if not a.skip_engine:
            res["engine"] = engine_part(Path(d), a.items, a.queries)
        if not a.skip_http:
            res["http"] = http_part(Path(d), a.duration, a.connections)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "bench_serving.json").write_text(json.dumps(res, indent=2) + "\n")
    (a.out / "bench_serving.md").write_text(markdown(res))
    print(markdown(res))


if __name__ == "__main__":
    main()
