"""bench/compose_timings.py: docs/deploy.md's measured paragraph comes from the docker-compose test's
records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from compose_timings import NAME, PHASES, ROOT, RecordError, load, main, section
from md_sections import markers


def record(total: float = 100.0, when: str = "2026-01-01T00:00:00Z") -> dict[str, Any]:
    return {"machine": "x86_64, 2 CPUs", "base_image": "local/debian-py:bookworm", "when": when,
            "seconds": {"total_s": total, **{k: 1.4 for k, _ in PHASES}},
            "checked": {"recommends_per_replica": [3, 4]}}


def test_the_committed_page_matches_the_committed_records() -> None:
    """docs/deploy.md was regenerated after the last record; its numbers are the records' own."""
    results = ROOT / "results"
    changed, warm = "docker-compose-test.json", "docker-compose-test-warm.json"
    want = section(load(results / changed), load(results / warm), changed, warm)
    page = (ROOT / "docs" / "deploy.md").read_text()
    assert want.rstrip("\n") in page, "docs/deploy.md is stale: run `python bench/compose_timings.py`"


def test_section_states_every_phase_and_both_totals() -> None:
    text = section(record(136.7), record(41.5, when="w"), "a.json", "b.json")
    begin, end = markers(NAME)
    assert text.startswith(begin + "\n") and text.endswith(end + "\n")
    assert "the test passed in 137 s: server image build 1 s, trainer image build 1 s," in text
    assert "recommend requests per replica [3, 4] ([`results/a.json`](../results/a.json)" in text
    assert "With every layer cached it passed in 42 s" in text and "(../results/b.json), w)." in text


def test_main_rewrites_only_its_section(tmp_path: Path) -> None:
    changed, warm, page = tmp_path / "c.json", tmp_path / "w.json", tmp_path / "deploy.md"
    changed.write_text(json.dumps(record(50.0)))
    warm.write_text(json.dumps(record(20.0)))
    begin, end = markers(NAME)
    page.write_text(f"# head\n\n{begin}\nold 999 s\n{end}\n\ntail\n")
    assert main(["--changed", str(changed), "--warm", str(warm), "--page", str(page)]) == 0
    text = page.read_text()
    assert text.startswith("# head\n\n" + begin) and text.endswith(end + "\n\ntail\n")
    assert "999" not in text and "passed in 50 s" in text and "passed in 20 s" in text


def test_a_missing_record_is_a_record_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(RecordError, match="no such record"):
        load(tmp_path / "none.json")
    warm = tmp_path / "w.json"
    warm.write_text(json.dumps(record()))
    assert main(["--changed", str(tmp_path / "none.json"), "--warm", str(warm),
                 "--page", str(tmp_path / "p.md")]) == 2
    assert "none.json: no such record" in capsys.readouterr().err
    assert not (tmp_path / "p.md").exists()  # nothing written


def test_a_record_that_is_not_json_is_a_record_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(RecordError, match=r"bad\.json: not JSON"):
        load(bad)


def test_a_record_without_a_phase_is_a_record_error(tmp_path: Path) -> None:
    rec = record()
    del rec["seconds"]["rollback_both_s"]
    path = tmp_path / "r.json"
    path.write_text(json.dumps(rec))
    with pytest.raises(RecordError, match=r"r\.json: no field seconds\.rollback_both_s"):
        load(path)
