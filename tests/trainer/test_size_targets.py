"""Size arithmetic of the table3/table4 reports against the targets (experiments.size_targets)."""

from __future__ import annotations

import pytest

from mgqe.trainer.experiments.size_targets import dense_share, emb_for_whole, size_lines


def _row(group: str, row: str, whole: float, emb: float) -> dict[str, object]:
    return {"group": group, "row": row, "size_percent": whole, "emb_size_percent": emb}


def test_dense_share_inverts_the_whole_size() -> None:
    s = 0.2
    for e in (10.0, 25.0, 60.0):
        whole = e * (1 - s) + 100 * s
        assert dense_share(whole, e) == pytest.approx(s)
        assert emb_for_whole(whole, s) == pytest.approx(e)


def test_dense_share_of_rounded_sizes_is_not_negative() -> None:
    assert dense_share(25.0, 25.03) == 0.0


def test_size_lines_state_both_dense_shares_and_the_verdicts() -> None:
    # SASRec-like backbone: dense weights at 20% of the FE model; the "paper" SQ row implies 10%
    s = 0.2
    rows = [_row("sasrec", "FE", 100.0, 100.0),
            _row("sasrec", "SQ", 25.0 * (1 - s) + 100 * s, 25.0),
            _row("sasrec", "MGQE", 9.0 * (1 - s) + 100 * s, 9.0),
            _row("sasrec", "MGQE-compact", 5.0 * (1 - s) + 100 * s, 5.0)]
    paper = {("sasrec", "SQ"): (0.0, 0.0, 25.0 * 0.9 + 10.0),
             ("sasrec", "MGQE"): (0.0, 0.0, 20.0 * 0.9 + 10.0)}
    lines = size_lines(rows, paper)
    assert lines[0].startswith("- sasrec: dense float32 weights are 20.0% of our FE model")
    assert "tables may be ≤ 10.0% of FE's" in lines[0]  # (28 - 20) / 0.8
    assert "implies dense weights at 10.0% of its model" in lines[0]
    assert "target allows tables ≤ 20.0%" in lines[0]  # (28 - 10) / 0.9
    assert "its MGQE size (28%) is tables at 20.0%" in lines[0]
    assert lines[1] == ("  - MGQE: 27.2% of the model, tables 9.0%; "
                        "whole-model size within the target: **True**")
    assert lines[2].endswith("within the target: **True**")
    rows[2] = _row("sasrec", "MGQE", 30.0 * (1 - s) + 100 * s, 30.0)
    assert size_lines(rows, paper)[1].endswith("within the target: **False**")


def test_size_lines_skip_backbones_without_compressed_rows() -> None:
    assert size_lines([_row("gmf", "FE", 100.0, 100.0)], {}) == []
    assert size_lines([_row("other", "MGQE", 20.0, 20.0)], {}) == []
