"""Hot reload under load, short version of bench/bench_reload_load.py (issue 8): a real `mgqe-serve`, two
clients in a closed request loop, ten publishes/rollbacks including one damaged artifact. Zero failed
requests, the damaged version never answers, every event ends on the expected version (run() raises
otherwise), and RSS ends within one model version of its start (without malloc_trim after a swap it grew
by ~2.5 versions)."""

from __future__ import annotations

from pathlib import Path

import bench_reload_load  # bench/ is on pytest's pythonpath (pyproject.toml)

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_reload_load.py"


def test_ten_swaps_under_load_no_failed_request(tmp_path: Path) -> None:
    bench = bench_reload_load
    res = bench.run(tmp_path, n_users=10_000, n_items=10_000, d=32, clients=2, dwell_s=0.0, interval_s=0.05)
    assert res["requests_failed"] == 0, res["failures_sample"]
    assert res["damaged_served"] == 0
    assert set(res["answers_by_version"]) == {"v1", "v2", "v4", "v5", "v6"}
    assert [e["served"] for e in res["events"]] == [p[2] for p in bench.PLAN]
    assert res["requests_answered"] >= 20 * len(bench.PLAN)
    # a version is ~2.8 MiB of arrays here: the old ones must not stay resident
    assert res["rss_growth_kib"] < res["model_resident_kib"], res
