"""Figure 6's equal-size check (trainer/experiments/curves.py) on hand-made curves."""

from __future__ import annotations

import math
from typing import Any

import pytest

from mgqe.trainer.experiments.curves import (
    CLOSE_SE,
    at_size,
    curves,
    equal_size_check,
    equal_size_tally,
    error_bars,
    gap_se,
)


def row(group: str, label: str, size: float, hr: float) -> dict[str, Any]:
    """A finished one-seed point, shaped like report.aggregate's rows."""
    return {"group": group, "row": label, "size_percent": size, "finished_seeds": [0],
            "test": {"hr@10": {"mean": hr, "std": 0.0, "n": 1}}}


def test_at_size_interpolates_in_log_size() -> None:
    curve = [(10.0, 6.0, "b=2"), (40.0, 8.0, "b=4")]
    # 20 is half way between 10 and 40 in log size, so each neighbour weighs one half
    (w0, h0, l0), (w1, h1, l1) = at_size(curve, 20.0)  # type: ignore[misc]
    assert (w0, w1) == (pytest.approx(0.5), pytest.approx(0.5))
    assert (h0, l0, h1, l1) == (6.0, "b=2", 8.0, "b=4")
    assert at_size(curve, 10.0) == [(1.0, 6.0, "b=2")]  # a measured size needs no interpolation
    assert at_size(curve, 40.0) == [(1.0, 8.0, "b=4")]


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


def spread(r: dict[str, Any], std: float, n: int) -> dict[str, Any]:
    """The row with its HR@10 seed spread set: sample std over n seeds."""
    r["test"]["hr@10"] |= {"std": std, "n": n}
    r["finished_seeds"] = list(range(n))
    return r


def test_gap_se_combines_the_mgqe_point_and_the_weighted_baseline_points() -> None:
    mgqe = {"mean": 7.0, "std": 0.3, "n": 3}
    b0, b1 = {"mean": 6.0, "std": 0.4, "n": 4}, {"mean": 8.0, "std": 0.2, "n": 2}
    # var(mean) = std^2 / n per point; the baseline read at the size is 0.25 * b0 + 0.75 * b1
    want = math.sqrt(0.3**2 / 3 + 0.25**2 * 0.4**2 / 4 + 0.75**2 * 0.2**2 / 2)
    assert gap_se(mgqe, [(0.25, b0), (0.75, b1)]) == pytest.approx(want)
    assert gap_se(mgqe, [(1.0, b0)]) == pytest.approx(math.sqrt(0.3**2 / 3 + 0.4**2 / 4))
    one = {"mean": 8.0, "std": 0.0, "n": 1}
    assert gap_se(mgqe, [(0.5, b0), (0.5, one)]) is None  # a one-seed point has no spread to estimate
    assert gap_se(one, [(1.0, b0)]) is None
    assert gap_se(mgqe, [(1.0, b0), (0.0, one)]) is not None  # a point with no weight does not count


def test_equal_size_tally_counts_gaps_within_two_standard_errors() -> None:
    """A gap within CLOSE_SE standard errors of the difference is close, above or below; a gap involving a
    one-seed point never is (no standard error)."""
    assert CLOSE_SE == 2.0
    rows = [spread(row("SQ", "b=2", 5.0, 7.0), 0.3, 3), spread(row("SQ", "b=8", 20.0, 8.0), 0.3, 3),
            # at SQ's b=2: se = sqrt(2 * 0.09 / 3) = 0.245; above by 0.4 < 0.49: close
            spread(row("MGQE", "D=8", 5.0, 7.4), 0.3, 3),
            # half way (log size) to b=8: SQ 7.5, se = sqrt(0.03 + 0.5 * 0.03) = 0.212; below by 0.5 > 0.42
            spread(row("MGQE", "D=16", 10.0, 7.0), 0.3, 3),
            # SQ 7 + log 3 / log 4 = 7.79: below, but one seed: no standard error, not close
            spread(row("MGQE", "D=32", 15.0, 7.6), 0.0, 1),
            # at b=8: se = sqrt(0.04 / 2 + 0.03) = 0.224; below by 0.4 < 0.45: close
            spread(row("MGQE", "D=64", 20.0, 7.6), 0.2, 2)]
    tally = equal_size_tally(rows)[("MGQE", "SQ")]
    assert (tally.above, tally.compared, tally.close) == (1, 4, 2)
    flagged = [line for line in equal_size_check(rows) if line.endswith("within 2 standard errors")]
    assert [line.split(" (")[0] for line in flagged] == ["- MGQE D=8", "- MGQE D=64"]  # the check agrees
    text = "\n".join(equal_size_check(rows))
    assert "vs SQ 7.50 at that size (between b=2 and b=8): below (gap -0.50, standard error 0.21)\n" in text
    assert "MGQE D=32 (15.0%): HR@10 7.60 (1 seed) vs SQ 7.79 at that size (between b=2 and b=8): below\n" \
        in text  # one seed: neither gap nor standard error


def test_error_bars_give_one_point_per_setting_with_its_seed_std() -> None:
    """The figure draws each sweep setting once, at its mean over seeds with its std, sorted by size."""
    two_seeds = {**row("SQ", "b=8", 25.0, 7.0), "finished_seeds": [0, 1],
                 "test": {"hr@10": {"mean": 7.0, "std": 1.41, "n": 2}}}
    rows = [two_seeds, row("SQ", "b=2", 6.25, 4.0), {"group": "SQ", "row": "b=4", "size_percent": 12.6}]
    assert error_bars(rows) == {"SQ": [(6.25, 4.0, 0.0), (25.0, 7.0, 1.41)]}  # b=4 unfinished: not drawn
    assert error_bars([]) == {}
