"""bench/bench_fused_dsub.py: a tiny end-to-end run (JSON and its Markdown section) and its flag errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import bench_fused_dsub  # bench/ is on pytest's pythonpath (pyproject.toml)
from mgqe.trainer.embeddings.quantizer import nearest_centroid

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_fused_dsub.py"


def test_tiny_run_writes_json_and_replaces_only_its_section(tmp_path: Path) -> None:
    mod = bench_fused_dsub
    md = tmp_path / "bench.md"
    md.write_text("# other benchmark\n\nkept text\n")
    out = tmp_path / "r.json"
    argv = ["--configs", "dpq:32", "mgqe_ud:64,32", "--forms", "ref-STE", "--batch", "64", "--reps", "2",
            "--warmup", "1", "--profile-steps", "1", "--out-json", str(out), "--out-md", str(md)]
    assert mod.main(argv) == 0
    res = json.loads(out.read_text())
    assert [r["config"] for r in res["results"]] == ["dpq:32", "mgqe_ud:64,32"]
    for r in res["results"]:
        assert r["speedup"] > 0 and 0 < r["torch_search_share"] <= 1
        assert r["torch_ms"]["search"] > 0 and r["fused_ms"]["search"] > 0  # both searches were timed
    assert mod.quantized.nearest_centroid is nearest_centroid  # the timers are gone after the run
    assert mod.main(argv) == 0  # a second run replaces the section instead of appending another
    text = md.read_text()
    assert text.startswith("# other benchmark\n\nkept text\n")
    assert text.count(mod.BEGIN) == 1 and text.count(mod.END) == 1
    assert "| dpq:32 | ref-STE |" in text and "bench/bench_fused_dsub.py --configs" in text
    md.write_text("# rewritten by another bench\n")
    assert mod.main(["--md-from-json", str(out), "--out-md", str(md)]) == 0  # re-render, no re-measuring
    text = md.read_text()
    assert text.startswith("# rewritten by another bench\n") and "| dpq:32 | ref-STE |" in text


@pytest.mark.parametrize("bad", [["--reps", "0"], ["--profile-steps", "9", "--reps", "2", "--warmup", "1"],
                                 ["--forms", "other"]])
def test_bad_flags_are_refused(bad: list[str]) -> None:
    with pytest.raises(SystemExit):
        bench_fused_dsub.parse_args(bad)


def test_md_from_json_needs_out_md(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="needs --out-md"):
        bench_fused_dsub.main(["--md-from-json", str(tmp_path / "r.json")])


def test_unknown_table_spec_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown table spec"):
        bench_fused_dsub.table_cfg("lrf:4", 100, 64)


def test_baseline_keeps_torchs_search_while_cpu_training_uses_the_kernel() -> None:
    """The benchmark's torch path searches with torch's baddbmm (the rule dsub > 1 trained with before), even
    though `nearest_centroid` on CPU now runs the fused kernel's search; the patch is undone on exit."""
    import numpy as np
    import torch

    from mgqe.trainer.embeddings import quantizer

    bench = bench_fused_dsub
    rng = np.random.default_rng(0)
    C = torch.from_numpy((rng.standard_normal((8, 64, 2)) * 0.01 + 1.0).astype(np.float32))
    x = torch.from_numpy((rng.standard_normal((2000, 8, 2)) * 0.01 + 1.0).astype(np.float32))
    kernel = nearest_centroid(x, C)  # far from the origin: the two rules differ (test_fused_dsub.py)
    with bench.torch_rule_search():
        assert torch.equal(nearest_centroid(x, C), quantizer._nearest_matmul(x, C))
    assert not torch.equal(kernel, quantizer._nearest_matmul(x, C))
    assert torch.equal(nearest_centroid(x, C), kernel)
