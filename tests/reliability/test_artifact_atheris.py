"""Smoke run of bench/fuzz_artifact_atheris.py (slow: ~30 s): 2,000 coverage-guided inputs against the
artifact reader end in success or a named ArtifactError, and the report names how many were tried."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "fuzz_artifact_atheris.py"


@pytest.mark.slow
def test_atheris_smoke(tmp_path: Path) -> None:
    pytest.importorskip("atheris", reason="atheris is optional: .venv/bin/pip install atheris")
    mod = importlib.import_module("fuzz_artifact_atheris")  # bench/ is on pytest's pythonpath
    assert mod.main(["--runs", "2000", "--seconds", "120", "--out", str(tmp_path / "r")]) == 0
    res = json.loads((tmp_path / "r.json").read_text())
    assert res["libfuzzer_runs"] == 2000 and not res["crashed"]
    assert sum(res["outcomes"].values()) == res["inputs_counted"] >= 2000 - 500
    assert set(res["outcomes"]) - {"ok"}, "no damaged input reached the reader"
