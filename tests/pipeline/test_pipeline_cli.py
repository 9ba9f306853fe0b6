"""`mgqe-train pipeline` end to end on tiny synthetic data: publish, gate failures, errors, exit codes."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from pipeline_helpers import MGQE_TRAIN, run_cli, write_config

from mgqe.proto import store as st
from mgqe.proto.artifact import read_artifact, read_header


def test_publish_then_gate_failure_publishes_nothing(tmp_path: Path) -> None:
    store = tmp_path / "store"
    gate = 'min = { "test.hr@10" = 0.0 }\ncompare = { "valid.hr@10" = "higher" }\nmax_drop = 0.0'
    cfg = write_config(tmp_path / "p.toml", store, gate)
    r = run_cli("--config", str(cfg), cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "published tiny v1" in r.stdout
    art = st.resolve_current(store, "tiny")
    header = read_header(art)
    assert {"valid.hr@10", "valid.ndcg@10", "test.hr@10", "test.ndcg@10"} <= set(header.metrics)
    assert header.provenance["pipeline"]["model_name"] == "tiny"
    read_artifact(art)  # full read with checksums
    assert st.check_store(store) == []

    # a gate the model cannot pass: exit 1, the reason on stderr, the store untouched
    gate_hi = 'compare = { "valid.hr@10" = "higher" }\nmax_drop = 0.0\nmin = { "test.hr@10" = 101.0 }'
    cfg2 = write_config(tmp_path / "p2.toml", store, gate_hi)
    r2 = run_cli("--config", str(cfg2), cwd=tmp_path)
    assert r2.returncode == 1, r2.stdout + r2.stderr
    assert "quality gate failed: test.hr@10 =" in r2.stderr and "below the minimum 101" in r2.stderr
    assert "Nothing was published" in r2.stderr
    assert [v.version for v in st.list_versions(store, "tiny")] == ["v1"]
    assert st.current_version(store, "tiny") == "v1"


@pytest.mark.slow  # two more training runs; check_gate's comparison is unit-tested in test_pipeline_config
def test_comparison_with_published_version_blocks(tmp_path: Path) -> None:
    """A published version whose metrics are better than the new run's by more than max_drop blocks it."""
    store = tmp_path / "store"
    cfg = write_config(tmp_path / "p.toml", store, 'compare = { "valid.hr@10" = "higher" }\nmax_drop = 0.5')
    r = run_cli("--config", str(cfg), "--no-publish", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "publish: skipped" in r.stdout and not store.exists()
    # publish a copy of that artifact whose header claims a far better validation HR@10
    art = read_artifact(tmp_path / "run" / "model.mgqe")
    from mgqe.proto.artifact import write_artifact

    better = dict(art.header.metrics)
    better["valid.hr@10"] = art.header.metrics["valid.hr@10"] + 50.0
    arrays = {k: v for k, v in art.arrays.items()}
    write_artifact(tmp_path / "better.mgqe", art.spec, arrays, metrics=better)
    st.publish(store, "tiny", tmp_path / "better.mgqe")
    r2 = run_cli("--config", str(cfg), cwd=tmp_path)
    assert r2.returncode == 1
    assert "worse than the published v1" in r2.stderr and "more than the allowed 0.5" in r2.stderr
    assert st.current_version(store, "tiny") == "v1" and len(st.list_versions(store, "tiny")) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--config", "missing.toml"], "pipeline config not found: missing.toml"),
        (["--config", "p.toml", "--epochs", "0"], "epochs must be >= 1"),
        (["--config", "p.toml", "--model-name", "a/b"], "invalid model name 'a/b'"),
        (["--config", "p.toml", "--keep", "0"], "--keep must be >= 1"),
        (["--config", "p.toml", "--dataset", "ml-1m", "--data-dir", "nowhere", "--no-download"],
         "--dataset synthetic"),
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    write_config(tmp_path / "p.toml", tmp_path / "store")
    r = run_cli(*args, cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert message in r.stderr
    assert not (tmp_path / "store").exists()


def test_help_documents_every_flag() -> None:
    r = subprocess.run([MGQE_TRAIN, "pipeline", "--help"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0
    for flag in ("--config", "--store", "--model-name", "--dataset", "--data-dir", "--epochs", "--seed",
                 "--device", "--out-dir", "--keep", "--no-download", "--no-publish", "--quiet"):
        assert flag in r.stdout, flag


def test_unwritable_run_directory_is_a_clear_error(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        # root ignores directory permissions; a file in the way of the run directory fails for everyone
        blocker = tmp_path / "ro"
        blocker.write_text("not a directory")
        out_dir = blocker / "run"
    else:
        blocker = tmp_path / "ro"
        blocker.mkdir(mode=0o500)
        out_dir = blocker / "run"
    cfg = write_config(tmp_path / "p.toml", tmp_path / "store")
    r = run_cli("--config", str(cfg), "--out-dir", str(out_dir), cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert str(blocker) in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "store").exists()
