"""bench/bench_lookup.py and bench/dpq_choices.py: a tiny end-to-end run and their flag errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import bench_lookup  # bench/ is on pytest's pythonpath (pyproject.toml)
import dpq_choices

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_bench_lookup_tiny_run_writes_json_and_markdown(tmp_path: Path) -> None:
    mod = bench_lookup
    js, md = tmp_path / "b.json", tmp_path / "b.md"
    argv = ["--vocab", "50", "--batch", "16", "--step-batch", "24", "--d", "8", "--D", "8", "--K", "8", "4",
            "--reps", "2", "--naive-reps", "1", "--out-json", str(js), "--out-md", str(md)]
    assert mod.main(argv) == 0
    res = json.loads(js.read_text())
    (lookup,) = res["lookup"]
    assert lookup["n"] == 50 and lookup["speedup_fwd_cpu"] > 0 and lookup["speedup_fb_cpu"] > 0
    assert lookup["speedup_torchops_fwd_cpu"] > 0
    assert [s["batch"] for s in res["step"]] == [16, 24]
    for step in res["step"]:
        assert step["mgqe_over_fe_cpu"] == pytest.approx(step["mgqe_cpu_ms"] / step["fe_cpu_ms"])
        assert step["mgqe_torch_over_fe_cpu"] == pytest.approx(step["mgqe_torch_cpu_ms"] / step["fe_cpu_ms"])
    text = md.read_text()
    assert "--vocab 50" in text and "| 50 |" in text and "| 50 | 24 |" in text
    md.unlink()
    assert mod.main(["--md-from-json", str(js), "--out-md", str(md)]) == 0
    assert md.read_text() == text


def test_bench_lookup_page_keeps_other_benchmarks_sections(tmp_path: Path) -> None:
    """docs/bench-lookup.md also holds bench_fused_dsub's marked section: rewriting the page keeps it."""
    mod = bench_lookup
    js, md = tmp_path / "b.json", tmp_path / "b.md"
    argv = ["--vocab", "50", "--batch", "16", "--step-batch", "16", "--d", "8", "--D", "8", "--K", "8", "4",
            "--reps", "1", "--naive-reps", "1", "--out-json", str(js)]
    assert mod.main(argv) == 0
    other = "<!-- bench_fused_dsub: begin -->\n## other bench\n| 1 |\n<!-- bench_fused_dsub: end -->"
    md.write_text(f"# stale page\n\n{other}\n\nstale tail\n")
    assert mod.main(["--md-from-json", str(js), "--out-md", str(md)]) == 0
    text = md.read_text()
    assert "stale" not in text and "--vocab 50" in text
    assert text.count(other) == 1 and text.index("--vocab 50") < text.index(other)
    assert mod.main(["--md-from-json", str(js), "--out-md", str(md)]) == 0
    assert md.read_text() == text  # idempotent: the kept section is not duplicated


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--K", "8", "4", "2"], "--K takes two values"),
        (["--head", "1.5"], "--head must be in"),
        (["--reps", "2", "--naive-reps", "3"], "--reps must be >= --naive-reps"),
        (["--vocab", "1"], "--vocab sizes must be >= 2"),
        (["--batch", "0"], "--batch must be >= 1"),
        (["--step-batch", "0"], "--step-batch sizes must be >= 1"),
    ],
)
def test_bench_lookup_rejects_bad_flags(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    mod = bench_lookup
    with pytest.raises(SystemExit) as e:
        mod.parse_args(argv)
    assert e.value.code == 2
    assert message in capsys.readouterr().err


def test_dpq_choices_tiny_reconstruction(tmp_path: Path) -> None:
    mod = dpq_choices
    js = tmp_path / "c.json"
    argv = ["--D", "8", "--K", "4", "--rec-n", "30", "--rec-steps", "3", "--rec-batch", "8",
            "--out-json", str(js), "--out-md", str(tmp_path / "c.md")]
    assert mod.main(argv) == 0
    rec = json.loads(js.read_text())["reconstruction"]
    assert set(rec) == set(mod.VARIANTS)
    for r in rec.values():
        assert r["finalized_vs_plain_share"] >= 0 and r["rel_err_finalized"] > 0
    assert rec["plain"]["finalized_vs_plain_share"] == 0.0  # plain codes ARE the plain assignment


def test_dpq_choices_rejects_negative_epochs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        dpq_choices.main(["--gmf-epochs", "-1"])
    assert "--gmf-epochs must be >= 0" in capsys.readouterr().err
