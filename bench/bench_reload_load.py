"""Hot reload under load (issue 8): a real `mgqe-serve` on 127.0.0.1 answers a closed request loop while the
store's CURRENT version is moved ten times (publishes and rollbacks, one of them a damaged artifact).

Measured: requests answered and failed (any non-200 or transport error), the versions that answered (the
damaged one must never), the version served after each event and how long the swap took, and the server's
resident memory (VmRSS of /proc/PID/status) at the start (one version loaded, warmed up) and after the old
versions are released. The plan of events:

     1 publish v2            2 publish v3 (DAMAGED)    3 publish v4          4 rollback (to v3: damaged)
     5 rollback to v2        6 rollback to v4          7 publish v5          8 rollback (to v4)
     9 publish v6           10 rollback (to v5)

The damaged artifact has one payload byte flipped: its header is valid (so `publish` takes it), its checksum
is not, so the server must refuse it and keep the previous version serving.

    .venv/bin/python bench/bench_reload_load.py                   # full run: docs/bench-reload-load.{json,md}
    .venv/bin/python bench/bench_reload_load.py --small --out DIR # seconds; what the default test runs
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

from machine import cpu_name

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "server"))  # the shared random-artifact factory (real writer)

from artifact_factory import write_model  # noqa: E402

MODEL = "m"
# (action, argument, version expected to serve afterwards)
PLAN: list[tuple[str, str | None, str]] = [
    ("publish", "good", "v2"),
    ("publish", "damaged", "v2"),
    ("publish", "good", "v4"),
    ("rollback", None, "v4"),  # CURRENT -> v3, the damaged one: v4 keeps serving
    ("rollback_to", "v2", "v2"),
    ("rollback_to", "v4", "v4"),
    ("publish", "good", "v5"),
    ("rollback", None, "v4"),
    ("publish", "good", "v6"),
    ("rollback", None, "v5"),
]
DAMAGED = "v3"


def rss_kib(pid: int) -> int:
    """VmRSS of `pid` in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def damage(src: Path, dst: Path) -> Path:
    """Copy of `src` with the last byte (payload, past the header) flipped: header valid, checksum not."""
    raw = bytearray(src.read_bytes())
    raw[-1] ^= 0xFF
    dst.write_bytes(bytes(raw))
    return dst


class Load:
    """`clients` threads, each a keep-alive connection sending recommend requests in a closed loop until
    stop() (bounded by max_seconds as a safety net). Every answer is checked: status 200, k items."""

    def __init__(self, base: str, users: list[int], clients: int, max_seconds: float) -> None:
        self.base, self.users, self.deadline = base, users, time.monotonic() + max_seconds
        self.stop_event = threading.Event()
        self.versions: Counter[str] = Counter()
        self.failures: list[str] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._loop, args=(i,), daemon=True) for i in range(clients)]

    def _loop(self, i: int) -> None:
        with httpx.Client(base_url=self.base, timeout=10) as c:
            n = i
            while not self.stop_event.is_set() and time.monotonic() < self.deadline:
                body = {"user": self.users[n % len(self.users)], "k": 10}
                try:
                    r = c.post(f"/v1/models/{MODEL}/recommend", json=body)
                    ok = r.status_code == 200 and len(r.json()["results"][0]["items"]) == 10
                    with self.lock:
                        if ok:
                            self.versions[r.json()["version"]] += 1
                        else:
                            self.failures.append(f"{r.status_code} {r.text[:200]}")
                except (httpx.HTTPError, KeyError, ValueError) as e:
                    with self.lock:
                        self.failures.append(repr(e))
                n += 7

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def answered(self) -> int:
        with self.lock:
            return sum(self.versions.values())

    def stop(self) -> None:
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout=20)


def served_version(base: str) -> str | None:
    return httpx.get(f"{base}/v1/health/ready", timeout=5).json()["models"].get(MODEL)


def failed_loads(base: str) -> float:
    text = httpx.get(f"{base}/metrics", timeout=5).text
    m = re.search(rf'mgqe_reloads_total\{{model="{MODEL}",outcome="failed"\}} ([0-9.e+]+)', text)
    return float(m.group(1)) if m else 0.0


def wait_until(pred, timeout: float, what: str) -> float:  # type: ignore[no-untyped-def]
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if pred():
            return time.monotonic() - t0
        time.sleep(0.02)
    raise RuntimeError(f"timed out after {timeout}s waiting for {what}")


def run(
    tmp: Path, *, n_users: int, n_items: int, d: int, clients: int, dwell_s: float, interval_s: float
) -> dict:
    """Run the PLAN against a fresh store in `tmp`; return the measurements (see module docstring)."""
    from mgqe.proto import store as st

    arts = [write_model(tmp / f"a{i}.mgqe", "gmf", "fe", n_users=n_users, n_items=n_items, d=d, seed=i)
            for i in range(6)]
    bad = damage(arts[1], tmp / "damaged.mgqe")
    store = tmp / "store"
    st.publish(store, MODEL, arts[0], keep=50)
    users = [7 + 3 * i for i in range(min(n_users, 500))]  # external ids (vocab = permutation * 3 + 7)
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MGQE_RELOAD_INTERVAL_S": str(interval_s),
           "MGQE_LOG_LEVEL": "WARNING"}
    env.pop("MGQE_ADMIN_TOKEN", None)
    log = (tmp / "serve.log").open("w")
    cmd = [str(Path(sys.executable).parent / "mgqe-serve"), "--store", str(store),
           "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    budget = 60 + len(PLAN) * (dwell_s + 30)
    load = Load(base, users, clients, max_seconds=budget)
    events: list[dict] = []
    try:
        def ready() -> bool:
            try:
                return served_version(base) == "v1"
            except httpx.HTTPError:
                return False

        wait_until(ready, 60, "v1 to be served")
        load.start()
        wait_until(lambda: load.answered() >= 20 * clients, 60, "warm-up requests")
        time.sleep(dwell_s)
        rss_baseline = rss_kib(server.pid)
        good = iter(arts[2:])  # arts[1] is the damaged one's source
        for action, arg, expected in PLAN:
            failed_before = failed_loads(base)
            t0 = time.monotonic()
            if action == "publish":
                version = st.publish(store, MODEL, bad if arg == "damaged" else next(good), keep=50)
                pointer = version
            elif action == "rollback":
                pointer = st.rollback(store, MODEL)[1]
            else:
                assert arg is not None
                pointer = st.rollback(store, MODEL, arg)[1]
            if pointer == DAMAGED and arg == "damaged":
                wait_until(lambda f=failed_before: failed_loads(base) > f, 30, "the damaged load to fail")
            elif pointer == DAMAGED:
                time.sleep(3 * interval_s)  # already refused once: not retried, nothing to wait for
            wait_until(lambda e=expected: served_version(base) == e, 30, f"{expected} served")
            settled = time.monotonic() - t0
            n0 = load.answered()
            wait_until(lambda n0=n0: load.answered() >= n0 + 10 * clients, 30, "requests after the event")
            time.sleep(dwell_s)
            events.append({"action": action, "argument": arg, "current": pointer, "served": expected,
                           "settle_seconds": round(settled, 3),
                           "rss_kib": rss_kib(server.pid)})
        time.sleep(max(dwell_s, 3 * interval_s))
        rss_final = rss_kib(server.pid)
    finally:
        load.stop()
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
    resident = model_resident_bytes(arts[0])
    return {
        "requests_answered": sum(load.versions.values()),
        "requests_failed": len(load.failures),
        "failures_sample": load.failures[:5],
        "answers_by_version": dict(sorted(load.versions.items())),
        "damaged_version": DAMAGED,
        "damaged_served": load.versions.get(DAMAGED, 0),
        "events": events,
        "rss_baseline_kib": rss_baseline,
        "rss_peak_after_event_kib": max(e["rss_kib"] for e in events),
        "rss_final_kib": rss_final,
        "rss_growth_kib": rss_final - rss_baseline,
        "model_resident_kib": resident // 1024,
        "server_exit_code": server.returncode,
        "server_log_tail": (tmp / "serve.log").read_text()[-1500:],
    }


def model_resident_bytes(artifact: Path) -> int:
    """Bytes the server holds for one version (LoadedModel.resident_bytes), measured in this process."""
    from mgqe.server.models import load_model

    return int(load_model(MODEL, "probe", artifact).resident_bytes)


def markdown(res: dict, cmd: str) -> str:
    kib = 1024
    lines = [
        "# Hot reload under load",
        "",
        f"Command: `{cmd}`  ",
        f"Machine: {res['machine']} (2-core VM shared with other work while this ran).  ",
        f"Model: GMF, FE tables, {res['params']['n_users']} users x {res['params']['n_items']} items, "
        f"d={res['params']['d']}; one version holds {res['model_resident_kib'] / kib:.1f} MiB of arrays. "
        f"{res['params']['clients']} keep-alive clients in a closed loop; store polled every "
        f"{res['params']['interval_s']} s.",
        "",
        f"- requests answered: **{res['requests_answered']}**, failed: **{res['requests_failed']}**",
        f"- answers by version: {res['answers_by_version']}; the damaged {res['damaged_version']} answered "
        f"**{res['damaged_served']}** times",
        f"- RSS: baseline {res['rss_baseline_kib'] / kib:.1f} MiB (v1 loaded, warmed up), peak after an "
        "event "
        f"{res['rss_peak_after_event_kib'] / kib:.1f} MiB, final {res['rss_final_kib'] / kib:.1f} MiB "
        f"(growth {res['rss_growth_kib'] / kib:+.1f} MiB = "
        f"{res['rss_growth_kib'] / max(res['model_resident_kib'], 1):+.2f} model versions)",
        "",
        "| # | event | CURRENT | served | s until served | RSS MiB |",
        "|---|-------|---------|--------|-----------:|--------:|",
    ]
    for i, e in enumerate(res["events"], 1):
        what = e["action"] + (f" {e['argument']}" if e["argument"] else "")
        lines.append(f"| {i} | {what} | {e['current']} | {e['served']} | {e['settle_seconds']:.2f} | "
                     f"{e['rss_kib'] / kib:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--users", type=int, default=100_000, help="users of the GMF model (FE table)")
    p.add_argument("--items", type=int, default=100_000, help="items of the GMF model (FE table)")
    p.add_argument("--d", type=int, default=32, help="embedding dimension")
    p.add_argument("--clients", type=int, default=4, help="concurrent keep-alive clients")
    p.add_argument("--dwell", type=float, default=2.0, help="seconds of load on each version after an event")
    p.add_argument("--interval", type=float, default=0.2, help="server store polling period (s)")
    p.add_argument("--small", action="store_true", help="tiny model, 2 clients, no dwell: a seconds-long run")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "bench-reload-load",
                   help="output path without suffix (.json and .md are written)")
    args = p.parse_args(argv)
    if args.small:
        args.users, args.items, args.d, args.clients, args.dwell, args.interval = 60, 90, 16, 2, 0.0, 0.05
    params = {"n_users": args.users, "n_items": args.items, "d": args.d, "clients": args.clients,
              "dwell_s": args.dwell, "interval_s": args.interval}
    with tempfile.TemporaryDirectory(prefix="mgqe-reload-") as tmp:
        res = run(Path(tmp), n_users=args.users, n_items=args.items, d=args.d, clients=args.clients,
                  dwell_s=args.dwell, interval_s=args.interval)
    cmd = shlex.join([".venv/bin/python", "bench/bench_reload_load.py", *(argv if argv is not None
                                                                          else sys.argv[1:])])
    res = {"command": cmd, "machine": f"{cpu_name()}, {os.cpu_count()} CPUs, Python "
           f"{platform.python_version()}", "params": params, **res}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(res, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(markdown(res, cmd))
    print(markdown(res, cmd))
    return 0


if __name__ == "__main__":
    sys.exit(main())
