"""The reading's claims (trainer/experiments/claims.py, reading_claims.py): on hand-made rows, and on the
committed reports, where every claim of results_reading.md must hold."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from mgqe.trainer.experiments.claims import (
    PAPER_STEM,
    RELATIONS,
    Claim,
    ClaimError,
    CurveClaim,
    GapClaim,
    MissingDataError,
    SeedsClaim,
    Stat,
    cell_cache,
    checked,
    load_reports,
    stat,
    stems,
)
from mgqe.trainer.experiments.reading_claims import CLAIMS
from mgqe.trainer.experiments.report import PROSE

RESULTS = Path(__file__).resolve().parents[2] / "results"


def row(group: str, name: str, mean: float, std: float = 0.1, n: int = 3, size: float = 100.0,
        metric: str = "hr@10") -> dict[str, Any]:
    return {"group": group, "row": name, "planned_seeds": list(range(n)), "finished_seeds": list(range(n)),
            "size_percent": size, "test": {metric: {"mean": mean, "std": std, "n": n}}}


def rep(*rows: dict[str, Any]) -> dict[str, Any]:
    return {"rows": list(rows), "unfinished_cells": []}


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_every_quote_is_in_the_reading() -> None:
    reading = _flat((PROSE / "results_reading.md").read_text())
    missing = [c.quote for c in CLAIMS if _flat(c.quote) not in reading]
    assert not missing, f"claims quote words the reading no longer says: {missing}"


def test_every_claim_of_the_reading_holds_on_the_committed_reports() -> None:
    reports = load_reports(RESULTS, stems(CLAIMS))
    assert set(reports) == stems(CLAIMS), "a report the claims read is not committed"
    cache = cell_cache(RESULTS)
    failed = [(c.quote, v) for c in CLAIMS if not (v := c.check(reports, cache)).holds]
    assert not failed, "\n".join(f"{q}: {v.compared}: {v.evidence}" for q, v in failed)


def st(mean: float, std: float = 0.1, size: float = 1.0, values: tuple[float, ...] = ()) -> Stat:
    return Stat(mean, std, 3, size, values)


# one (a, b) pair where each relation holds and one where it does not
CASES: dict[str, tuple[tuple[Stat, Stat], tuple[Stat, Stat]]] = {
    "above": ((st(7.9), st(7.8)), (st(7.8), st(7.8))),
    "below": ((st(7.7), st(7.8)), (st(7.9), st(7.8))),
    "reaches": ((st(7.6), st(7.8, 0.2)), (st(7.6, 0.3), st(7.8))),
    "beyond a": ((st(7.5, 0.2), st(7.8, 0.5)), (st(7.5, 0.5), st(7.8, 0.2))),
    "beyond b": ((st(7.5, 0.5), st(7.8, 0.2)), (st(7.5, 0.2), st(7.8, 0.5))),
    "within a": ((st(7.5, 0.5), st(7.8, 0.2)), (st(7.5, 0.2), st(7.8, 0.5))),
    "within b": ((st(7.5, 0.2), st(7.8, 0.5)), (st(7.5, 0.5), st(7.8, 0.2))),
    "level": ((st(7.75, 0.2), st(7.8, 0.4)), (st(7.65, 0.2), st(7.8, 0.4))),
    "within 1%": ((st(0.905), st(0.9)), (st(0.91), st(0.9))),
    "wider": ((st(7.8, 0.3), st(7.8, 0.2)), (st(7.8, 0.2), st(7.8, 0.2))),
    "narrower": ((st(7.8, 0.1), st(7.8, 0.2)), (st(7.8, 0.2), st(7.8, 0.2))),
    "smaller": ((st(7.8, size=19.0), st(7.8, size=24.8)), (st(7.8, size=24.8), st(7.8, size=24.8))),
    # the lowest of a's seeds above the highest of b's; never without per-seed values
    "all above": ((st(8.0, values=(7.9, 8.1)), st(7.5, values=(7.4, 7.8))),
                  (st(8.0, values=(7.7, 8.3)), st(7.5, values=(7.4, 7.8)))),
}


@pytest.mark.parametrize("name", sorted(RELATIONS))
def test_each_relation_holds_and_fails_where_it_should(name: str) -> None:
    (ta, tb), (fa, fb) = CASES[name]
    test = RELATIONS[name][1]
    assert test(ta, tb)
    assert not test(fa, fb)


def test_all_above_needs_per_seed_values() -> None:
    assert not RELATIONS["all above"][1](st(9.0), st(7.0))


def test_every_relation_has_a_case() -> None:
    assert set(CASES) == set(RELATIONS)


def test_claim_with_an_unknown_relation_is_a_claim_error() -> None:
    with pytest.raises(ClaimError, match="'higher'"):
        Claim("q", ("t", "gmf", "MGQE"), ("t", "gmf", "FE"), ("higher",))
    with pytest.raises(ClaimError, match="none given"):
        Claim("q", ("t", "gmf", "MGQE"), ("t", "gmf", "FE"), ())


def test_gap_claim_with_an_unknown_direction_is_a_claim_error() -> None:
    side = ("t", "gmf", "FE")
    with pytest.raises(ClaimError, match="'smaller'"):
        GapClaim("q", (side, side), (side, side), "smaller")


def test_curve_claim_with_an_unknown_pattern_is_a_claim_error() -> None:
    with pytest.raises(ClaimError, match="'level'"):
        CurveClaim("q", "MGQE", "DPQ", ("above", "level"))


def test_a_claim_holds_only_with_the_seed_counts_it_states() -> None:
    reports = {"t": rep(row("gmf", "FE", 7.8, n=7), row("gmf", "MGQE", 7.9, n=5))}
    a, b = ("t", "gmf", "MGQE"), ("t", "gmf", "FE")
    assert Claim("q", a, b, ("reaches",), (5, 7)).check(reports).holds
    v = Claim("q", a, b, ("reaches",), (7, 7)).check(reports)
    assert not v.holds and "a has 5 seeds, the reading says 7" in v.evidence
    assert "7.90 ± 0.10 (5 seeds) vs 7.80 ± 0.10 (7 seeds), gap +0.10" in v.evidence


def test_a_size_claim_shows_sizes_only_and_still_checks_seeds() -> None:
    reports = {"t": rep(row("gmf", "MGQE", 7.3, size=24.8), row("gmf", "MGQE-compact", 6.9, size=19.2, n=5))}
    v = Claim("q", ("t", "gmf", "MGQE-compact"), ("t", "gmf", "MGQE"), ("smaller",)).check(reports)
    assert v.holds and v.evidence == "sizes 19.2% vs 24.8%"
    assert v.compared == "t gmf/MGQE-compact vs t gmf/MGQE (model size %): smaller"
    wrong = Claim("q", ("t", "gmf", "MGQE-compact"), ("t", "gmf", "MGQE"), ("smaller",), (3, None))
    got = wrong.check(reports)
    assert not got.holds and got.evidence == "sizes 19.2% vs 24.8%; a has 5 seeds, the reading says 3"


def test_a_claim_fails_when_a_relation_fails() -> None:
    reports = {"t": rep(row("gmf", "FE", 7.8, std=0.1), row("gmf", "MGQE", 7.6))}
    v = Claim("q", ("t", "gmf", "MGQE"), ("t", "gmf", "FE"), ("below", "within b")).check(reports)
    assert not v.holds and v.compared == "t gmf/MGQE vs t gmf/FE (hr@10): below, within b"


def test_missing_report_row_or_seed_is_missing_data_and_the_claim_does_not_hold() -> None:
    reports = {"t": rep(row("gmf", "FE", 7.8), {"group": "gmf", "row": "SQ", "finished_seeds": [],
                                                "planned_seeds": [0]})}
    for side, why in ((("u", "gmf", "FE"), "report u not written"),
                      (("t", "gmf", "DPQ"), "t has no row gmf/DPQ"),
                      (("t", "gmf", "SQ"), "t gmf/SQ has no finished seed")):
        with pytest.raises(MissingDataError, match=re.escape(why)):
            stat(reports, side, "hr@10")
        v = Claim("q", side, ("t", "gmf", "FE"), ("above",)).check(reports)
        assert not v.holds and v.evidence == f"missing: {why}"


def test_a_metric_the_row_lacks_is_missing_data_that_names_what_it_has() -> None:
    reports = {"t": rep(row("rating", "FE", 0.9, metric="rmse"))}
    with pytest.raises(MissingDataError, match=re.escape("t rating/FE has no hr@10 (it has rmse)")):
        stat(reports, ("t", "rating", "FE"), "hr@10")


def test_the_paper_side_reads_report_py_tables_and_has_no_rmse() -> None:
    got = stat({}, (PAPER_STEM, "sasrec", "FE"), "hr@10")
    assert (got.mean, got.std, got.n, got.size) == (20.36, 0.0, 0, 100.0)
    assert stat({}, (PAPER_STEM, "gmf", "shared K=[256,64]"), "ndcg@10").mean == 3.98
    with pytest.raises(MissingDataError, match="the paper reports no rmse for gmf/FE"):
        stat({}, (PAPER_STEM, "gmf", "FE"), "rmse")


def test_gap_claim_compares_two_gaps() -> None:
    reports = {"t": rep(row("gmf", "FE", 7.8), row("gmf", "MGQE", 7.6)),
               "u": rep(row("gmf", "FE", 7.8), row("gmf", "MGQE", 7.0))}
    a, b = (("t", "gmf", "FE"), ("t", "gmf", "MGQE")), (("u", "gmf", "FE"), ("u", "gmf", "MGQE"))
    v = GapClaim("q", a, b, "less").check(reports)
    assert v.holds and v.evidence == "gaps +0.20 vs +0.80"
    assert not GapClaim("q", a, b, "more").check(reports).holds
    assert GapClaim("q", a, (("v", "gmf", "FE"), b[1]), "less").check(reports).evidence == (
        "missing: report v not written")


def _pt(group: str, label: str, size: float, hr: float, std: float = 0.1) -> dict[str, Any]:
    return row(group, label, hr, std=std, n=5, size=size)


def test_curve_claim_reads_the_equal_size_pattern() -> None:
    # DPQ measured at 10% and 40%; MGQE at 5% (outside), 10% (+0.5, far) and 40% (-0.05, within 2 se)
    fig = rep(_pt("DPQ", "D=8", 10.0, 6.0), _pt("DPQ", "D=64", 40.0, 7.5),
              _pt("MGQE", "D=4", 5.0, 5.0), _pt("MGQE", "D=8", 10.0, 6.5), _pt("MGQE", "D=64", 40.0, 7.45))
    reports = {"fig6": fig}
    v = CurveClaim("q", "MGQE", "DPQ", ("above", "below close")).check(reports)
    assert v.holds and v.evidence == "D=8 +0.50 (se 0.06), D=64 -0.05 (se 0.06)"
    assert not CurveClaim("q", "MGQE", "DPQ", ("above", "below")).check(reports).holds
    assert not CurveClaim("q", "MGQE", "DPQ", ("above",)).check(reports).holds
    assert CurveClaim("q", "MGQE", "SQ", ("above",)).check(reports).evidence == "no compared point"
    assert CurveClaim("q", "MGQE", "DPQ", ("above",)).check({}).evidence == "missing: report fig6 not written"


def test_seeds_claim_counts_finished_seeds_and_unfinished_cells() -> None:
    sq = {**row("gmf", "SQ", 7.8, n=5), "planned_seeds": list(range(6))}  # seed 5 planned, not finished
    reports = {"t": rep(row("gmf", "FE", 7.8, n=7), sq, row("neumf", "FE", 7.5, n=5))}
    assert SeedsClaim("q", "t", 5, "neumf").check(reports).holds
    v = SeedsClaim("q", "t", 7, "gmf").check(reports)
    assert not v.holds and v.evidence == "2 rows; finished seeds per row: [5, 7]"
    assert SeedsClaim("q", "t", 7, "gmf", ("FE",)).check(reports).holds
    assert SeedsClaim("q", "t", 7, "gmf", ("FE", "LRF")).check(reports).evidence == (
        "missing: t has 1 of the 2 rows")
    assert SeedsClaim("q", "t", None, "neumf").check(reports).holds
    assert SeedsClaim("q", "t", None, "gmf", ("FE",)).check(reports).holds
    left = SeedsClaim("q", "t", None, "gmf").check(reports)
    assert not left.holds and left.evidence == "2 rows, 1 unfinished cells"
    assert not SeedsClaim("q", "t", None, "sasrec").check(reports).holds  # no row selected: nothing shown
    assert SeedsClaim("q", "u", 5).check(reports).evidence == "missing: report u not written"


def test_checked_section_counts_and_marks_what_fails() -> None:
    reports = {"t": rep(row("gmf", "FE", 7.8), row("gmf", "MGQE", 7.9))}
    cs = [Claim("MGQE above", ("t", "gmf", "MGQE"), ("t", "gmf", "FE"), ("above",)),
          Claim("MGQE above", ("t", "gmf", "MGQE"), ("t", "gmf", "FE"), ("below",))]
    lines = checked(cs, reports)
    assert lines[0] == "## The reading's claims, checked\n" and "**1 of 2 hold**" in lines[1]
    assert lines[-2].startswith("| MGQE above | t gmf/MGQE vs t gmf/FE (hr@10): above |")
    assert lines[-2].endswith("| yes |")
    assert lines[-1].startswith("| (the same words) |") and lines[-1].endswith("| **no** |")


def _seeded() -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """A report whose FE row has seeds 0-4 (cells h0..h4 in a fake cache) and the cache itself."""
    hr = [7.0, 7.2, 7.1, 7.9, 8.0]
    fe = {**row("gmf", "FE", sum(hr) / 5, n=5), "config_hashes": [f"h{s}" for s in range(5)]}
    cache = {f"h{s}": {"metrics": {"test": {"hr@10": x}}} for s, x in enumerate(hr)}
    return {"t": rep(fe)}, cache


def test_a_claim_on_picked_seeds_reads_their_cells() -> None:
    reports, cache = _seeded()
    side = ("t", "gmf", "FE")
    got = stat(reports, side, "hr@10", (0, 1, 2), cache.__getitem__)
    assert got.values == (7.0, 7.2, 7.1) and got.n == 3 and got.mean == pytest.approx(7.1)
    assert got.std == pytest.approx(0.1)
    later = Claim("q", side, side, ("all above",), only=((3, 4), (0, 1, 2)))
    v = later.check(reports, cache.__getitem__)
    assert v.holds and v.compared == "t gmf/FE seeds 3, 4 vs t gmf/FE seeds 0, 1, 2 (hr@10): all above"
    assert v.evidence.endswith("; per seed 7.90, 8.00 vs 7.00, 7.20, 7.10")
    mixed = Claim("q", side, side, ("all above",), only=((2, 3), (0, 1)))
    assert not mixed.check(reports, cache.__getitem__).holds


def test_picked_seeds_without_a_cache_a_finished_seed_or_a_record_are_missing_data() -> None:
    reports, cache = _seeded()
    side = ("t", "gmf", "FE")
    with pytest.raises(MissingDataError, match="need the cell cache, none given"):
        stat(reports, side, "hr@10", (0,))
    with pytest.raises(MissingDataError, match=re.escape("t gmf/FE has no finished seed [7]")):
        stat(reports, side, "hr@10", (0, 7), cache.__getitem__)
    with pytest.raises(MissingDataError, match="has no ndcg@10 in the cache"):
        stat(reports, side, "ndcg@10", (0,), cache.__getitem__)

    def absent(h: str) -> dict[str, Any]:
        raise FileNotFoundError(h)

    with pytest.raises(MissingDataError, match="has no hr@10 in the cache"):
        stat(reports, side, "hr@10", (0,), absent)
    v = Claim("q", side, side, ("above",), only=((3,), None)).check(reports)
    assert not v.holds and v.evidence.startswith("missing: t gmf/FE: seeds [3] need the cell cache")
