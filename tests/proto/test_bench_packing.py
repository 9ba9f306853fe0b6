"""Smoke test of bench/bench_packing.py on tiny input: it runs, checks its decoders, writes its reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import bench_packing  # bench/ is on pytest's pythonpath (pyproject.toml)


def test_bench_writes_json_and_markdown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bench = bench_packing
    out = tmp_path / "bench"
    assert bench.main(["--codes", "6400", "--repeats", "1", "--items", "50", "--out", str(out)]) == 0
    res = json.loads(out.with_suffix(".json").read_text())
    assert [r["bits"] for r in res["widths"]] == list(range(1, 17))
    assert all(r["codes"] == 6400 and r["packed_bytes"] == 6400 * r["bits"] // 8 for r in res["widths"])
    assert res["reads"][0]["n_items"] == 50 and res["reads"][0]["file_bytes"] > 0
    md = out.with_suffix(".md").read_text()
    assert "| 16 |" in md and "bench/bench_packing.py --codes 6400" in md


def test_bench_rejects_bad_flags(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        bench_packing.main(["--codes", "3"])
    assert e.value.code == 2 and "--codes must be >= 64" in capsys.readouterr().err
