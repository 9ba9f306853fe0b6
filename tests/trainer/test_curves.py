"""Figure 6's equal-size check (trainer/experiments/curves.py) on hand-made curves."""

from __future__ import annotations

import math
from typing import Any

import pytest

from mgqe.trainer.experiments.curves import at_size, curves, equal_size_check, equal_size_tally, error_bars


def row(group: str, label: str, size: float, hr: float) -> dict[str, Any]:
    """A finished one-seed point, shaped like report.aggregate's rows."""
    return {"group": group, "row": label, "size_percent": size, "finished_seeds": [0],
            "test": {"hr@10": {"mean": hr, "std": 0.0, "n": 1}}}


def test_at_size_interpolates_in_log_size() -> None:
    curve = [(10.0, 6.0, "b=2"), (40.0, 8.0, "b=4")]
    hr, where = at_size(curve, 20.0)  # type: ignore[misc]
    # 20 is half way between 10 and 40 in log size, so the HR is half way too
    assert hr == pytest.approx(7.0)
    assert where == "between b=2 and b=4"
    assert at_size(curve, 10.0) == (6.0, "b=2")
    assert at_size(curve, 40.0)[0] == pytest.approx(8.0)  # type: ignore[index]


def test_at_size_outside_the_measured_range_is_none() -> None:
    curve = [(10.0, 6.0, "b=2"), (40.0, 8.0, "b=4")]
    assert at_size(curve, 9.99) is None
    assert at_size(curve, 40.01) is None
    assert at_size([], 10.0) is None


def test_curves_sort_by_size_and_drop_unfinished_or_sizeless_rows() -> None:
    rows = [row("SQ", "b=8", 25.0, 7.9), row("SQ", "b=2", 6.3, 4.3),
            {"group": "SQ", "row": "b=4", "size_percent": 12.6},  # not finished: no test metrics
            row("DPQ", "D=8", math.nan, 6.0)]  # no FE d=64 reference: size unknown
    cs = curves(rows)
    assert [p[2] for p in cs["SQ"]] == ["b=2", "b=8"]
    assert "DPQ" not in cs


def test_equal_size_check_verdicts() -> None:
    rows = [row("SQ", "b=2", 5.0, 4.0), row("SQ", "b=8", 20.0, 8.0),
            row("MGQE", "D=8", 10.0, 7.0),    # SQ there: 6.0 -> above
            row("MGQE", "D=16", 15.0, 7.0),   # SQ there: 4 + 4 * log(3)/log(4) = 7.17 -> below
            row("MGQE", "D=64", 30.0, 9.0)]   # beyond SQ's largest size
    lines = equal_size_check(rows)
    text = "\n".join(lines)
    assert "MGQE D=8 (10.0%): HR@10 7.00 (1 seed) vs SQ 6.00 at that size (between b=2 and b=8): above" \
        in text
    assert "MGQE D=16 (15.0%): HR@10 7.00 (1 seed) vs SQ 7.17" in text and text.count(": below") == 1
    assert "MGQE D=64 (30.0%): outside SQ's measured sizes (5.0-20.0%), not compared" in text
    assert lines[-1] == "- **MGQE above SQ at every compared size: False** (1 of 2 points)"


def test_equal_size_check_all_above_and_missing_curves() -> None:
    rows = [row("DPQ ref-STE", "D=8", 8.0, 6.0), row("DPQ ref-STE", "D=64", 30.0, 8.0),
            row("MGQE ref-STE", "D=16", 10.0, 7.5)]
    lines = equal_size_check(rows)
    assert lines[-1] == "- **MGQE ref-STE above DPQ ref-STE at every compared size: True** (1 of 1 points)"
    assert equal_size_check([row("SQ", "b=8", 25.0, 7.9)]) == []  # no MGQE curve: nothing to say


def test_equal_size_tally_counts_what_the_check_states() -> None:
    rows = [row("SQ", "b=2", 5.0, 4.0), row("SQ", "b=8", 20.0, 8.0),
            row("MGQE", "D=8", 10.0, 7.0), row("MGQE", "D=16", 15.0, 7.0), row("MGQE", "D=64", 30.0, 9.0),
            row("FE", "d=64", 100.0, 7.9)]  # every MGQE point lies below FE's measured sizes
    # MGQE vs DPQ is absent: there is no DPQ curve to compare against
    assert equal_size_tally(rows) == {("MGQE", "SQ"): (1, 2, 0), ("MGQE", "FE"): (0, 0, 0)}
    assert equal_size_tally([row("SQ", "b=8", 25.0, 7.9)]) == {}


def test_equal_size_tally_counts_gaps_within_the_mgqe_points_seed_std() -> None:
    """A gap smaller than the MGQE point's std over 2+ seeds is close, above or below; one seed never is."""
    def spread(r: dict[str, Any], std: float, n: int) -> dict[str, Any]:
        r["test"]["hr@10"] |= {"std": std, "n": n}
        return r

    rows = [row("SQ", "b=2", 5.0, 7.0), row("SQ", "b=8", 40.0, 8.0),
            spread(row("MGQE", "D=8", 5.0, 7.2), 0.3, 3),  # above by 0.2 < 0.3: close
            spread(row("MGQE", "D=16", 10.0, 7.0), 0.3, 3),  # below SQ's 7.5 by 0.5 > 0.3: not close
            spread(row("MGQE", "D=32", 20.0, 7.6), 0.5, 1),  # below by 0.1 but one seed: not close
            spread(row("MGQE", "D=64", 40.0, 7.9), 0.2, 2)]  # below by 0.1 < 0.2: close
    tally = equal_size_tally(rows)[("MGQE", "SQ")]
    assert (tally.above, tally.compared, tally.close) == (1, 4, 2)
    flagged = [line for line in equal_size_check(rows) if line.endswith("within one seed std")]
    assert [line.split(" (")[0] for line in flagged] == ["- MGQE D=8", "- MGQE D=64"]  # the check agrees


def test_error_bars_give_one_point_per_setting_with_its_seed_std() -> None:
    """The figure draws each sweep setting once, at its mean over seeds with its std, sorted by size."""
    two_seeds = {**row("SQ", "b=8", 25.0, 7.0), "finished_seeds": [0, 1],
                 "test": {"hr@10": {"mean": 7.0, "std": 1.41, "n": 2}}}
    rows = [two_seeds, row("SQ", "b=2", 6.25, 4.0), {"group": "SQ", "row": "b=4", "size_percent": 12.6}]
    assert error_bars(rows) == {"SQ": [(6.25, 4.0, 0.0), (25.0, 7.0, 1.41)]}  # b=4 unfinished: not drawn
    assert error_bars([]) == {}
