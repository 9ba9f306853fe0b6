"""The issue's targets table (trainer/experiments/scorecard.py) on hand-made report rows."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from mgqe.trainer.experiments.report import PROSE, write_index
from mgqe.trainer.experiments.scorecard import (
    ISSUE_ROWS,
    OPEN,
    alt_stems,
    equal_size,
    fe_levels,
    scorecard,
    seed_coverage,
    size_matches,
)


def row(group: str, name: str, hr: float, std: float = 0.1, n: int = 3, size: float = 100.0,
        ) -> dict[str, Any]:
    return {"group": group, "row": name, "planned_seeds": [0, 1, 2], "finished_seeds": list(range(n)),
            "size_percent": size, "test": {"hr@10": {"mean": hr, "std": std, "n": n}}}


def unrun(group: str, name: str) -> dict[str, Any]:
    return {"group": group, "row": name, "planned_seeds": [0, 1, 2], "finished_seeds": []}


def verdicts(lines: list[tuple[str, str, str]]) -> list[str]:
    return [v for _, _, v in lines]


def test_fe_levels_against_the_paper() -> None:
    reports = {"table3": {"rows": [row("gmf", "FE", 7.70, std=0.14)]},      # paper 7.79: -0.09, within
               "table4": {"rows": [row("sasrec", "FE", 19.94, std=0.22)]}}  # paper 20.36: -0.42, outside
    (_, gmf_ev, gmf), (_, sas_ev, sas) = fe_levels(reports)
    assert (gmf, sas) == ("**met**", "**not met**")
    assert gmf_ev == "table3: 7.70 ± 0.14 (3 seeds), -0.09 from the paper"
    assert "-0.42 from the paper" in sas_ev


def test_fe_levels_open_without_the_report_or_with_too_few_seeds() -> None:
    reports = {"table3": {"rows": [row("gmf", "FE", 7.79, n=2)]}}
    assert verdicts(fe_levels(reports)) == [OPEN, OPEN]
    assert fe_levels(reports)[1][1] == "table4: FE not run yet"


def test_size_matches_needs_a_row_within_the_size_that_matches_fe() -> None:
    t3 = [row("gmf", "FE", 7.8, std=0.2),
          row("gmf", "MGQE", 7.9, size=24.8),              # matches FE but too large: not evidence
          row("gmf", "MGQE-compact", 7.5, size=19.2),      # fits, 0.3 below FE: more than one std
          row("gmf", "MGQE-compact ref-STE", 7.6, size=19.2),  # fits, exactly one std below: matches
          row("gmf", "SQ", 9.0, size=20.0),                # not an MGQE row
          row("neumf", "FE", 7.5), row("neumf", "MGQE", 7.0, size=20.0)]
    gmf, neumf, sasrec = size_matches({"table3": {"rows": t3}})
    assert gmf[2] == "**met** by MGQE-compact ref-STE"
    assert "MGQE at" not in gmf[1] and "SQ" not in gmf[1]
    assert "MGQE-compact at 19.2%: 7.50 ± 0.10 (3 seeds), -0.30" in gmf[1]
    assert neumf[2] == "**not met**"
    assert sasrec == ("sasrec: MGQE matches FE at ≤ 28% of its size", "table4: FE not run yet", OPEN)


def test_size_matches_is_open_while_a_fitting_row_lacks_seeds_or_none_fits() -> None:
    pending = [row("gmf", "FE", 7.8), row("gmf", "MGQE-compact", 7.0, size=19.2),
               row("gmf", "MGQE-compact ref-STE", 7.9, n=1, size=19.2)]  # matches, on one seed only
    assert size_matches({"table3": {"rows": pending}})[0][2] == OPEN
    too_big = [row("gmf", "FE", 7.8), row("gmf", "MGQE", 7.9, size=24.8), unrun("gmf", "MGQE-compact")]
    assert size_matches({"table3": {"rows": too_big}})[0][1:] == (
        "table3: no finished MGQE row at ≤ 21%", OPEN)


def test_a_written_alt_report_adds_its_own_fe_level_and_size_lines() -> None:
    """A --set report of ALT_REPORTS is checked beside the default one, and only once it exists."""
    stem, _ = alt_stems()
    assert stem == "table4-pos_init_std=0.01"
    default = {"table4": {"rows": [row("sasrec", "FE", 19.9, std=0.2)]}}
    assert len(fe_levels(default)) == 2 and len(size_matches(default)) == 3
    alt = [row("sasrec", "FE", 21.7, std=0.1), row("sasrec", "MGQE-small", 21.9, size=26.5)]
    reports = {**default, stem: {"rows": alt}}
    *_, (target, evidence, verdict) = fe_levels(reports)
    assert target == ("sasrec FE HR@10 near the paper's 20.36 (within our seed std) "
                      "(positional table from N(0, 0.01))")
    assert (evidence, verdict) == (f"{stem}: 21.70 ± 0.10 (3 seeds), +1.34 from the paper", "**not met**")
    *_, sas, sas_alt = size_matches(reports)
    assert sas[1:] == ("table4: no finished MGQE row at ≤ 28%", OPEN)
    assert sas_alt == ("sasrec: MGQE matches FE at ≤ 28% of its size (positional table from N(0, 0.01))",
                       f"{stem}, FE 21.70 ± 0.10 (3 seeds); MGQE-small at 26.5%: 21.90 ± 0.10 (3 seeds), "
                       "+0.20", "**met** by MGQE-small")


def test_an_alt_report_gets_only_the_lines_of_the_rows_it_has_finished() -> None:
    """A side check that ran FE alone adds its FE-level line but no size line; one with nothing finished
    adds neither."""
    pos_init, beta2 = alt_stems()
    assert beta2 == "table4-adam_beta2=0.98"
    default = {"table4": {"rows": [row("sasrec", "FE", 19.9, std=0.2)]}}
    reports = {**default, beta2: {"rows": [row("sasrec", "FE", 20.3, std=0.2), unrun("sasrec", "MGQE")]},
               pos_init: {"rows": [unrun("sasrec", "FE"), unrun("sasrec", "MGQE-small")]}}
    *_, (target, evidence, verdict) = fe_levels(reports)
    assert target.endswith("(Adam beta2 = 0.98, as SASRec's reference code)")
    assert (evidence, verdict) == (f"{beta2}: 20.30 ± 0.20 (3 seeds), -0.06 from the paper", "**met**")
    assert len(fe_levels(reports)) == len(fe_levels(default)) + 1
    assert size_matches(reports) == size_matches(default)


def fig6(points: dict[str, list[tuple[float, float]]], n: int = 1) -> dict[str, Any]:
    return {"rows": [row(g, f"p{i}", hr, n=n, size=s) for g, pts in points.items()
                     for i, (s, hr) in enumerate(pts)]}


def test_equal_size_needs_every_compared_point_above_sq_and_dpq() -> None:
    base = {"SQ": [(5.0, 4.0), (25.0, 8.0)], "DPQ": [(8.0, 6.0), (30.0, 8.0)],
            "DPQ ref-STE": [(8.0, 6.0), (30.0, 8.0)]}
    rep = fig6({**base, "MGQE": [(10.0, 7.5), (20.0, 7.0)], "MGQE ref-STE": [(10.0, 7.5), (20.0, 8.0)]})
    (_, ev, issue), (_, ev_ref, ref) = equal_size({"fig6": rep})
    assert (issue, ref) == ("**not met**", "**met**")
    assert ev == ("fig6 (1 seed per point, means): above SQ at 1 of 2 compared sizes; "
                  "above DPQ at 1 of 2 compared sizes")
    assert "above DPQ ref-STE at 2 of 2" in ev_ref


def test_equal_size_counts_the_gaps_within_two_standard_errors() -> None:
    """Three seeds per point (std 0.1 in fig6()), so a gap's standard error is about 0.07-0.08: a gap within
    two of them is counted, one beyond is not."""
    rep = fig6({"SQ": [(5.0, 4.0), (25.0, 8.0)], "DPQ": [(8.0, 6.0), (30.0, 8.0)],
                "MGQE": [(10.0, 6.6), (20.0, 7.48)]}, n=3)
    (_, ev, verdict), _ = equal_size({"fig6": rep})
    # MGQE's gaps over SQ: 0.88 at 10%, 0.04 at 20%; over DPQ: 0.26 and 0.09 (interpolated in log size);
    # twice the standard error: 0.14 and 0.15 over SQ, 0.15 and 0.14 over DPQ
    assert ev == ("fig6 (3 seeds per point, means): above SQ at 2 of 2 compared sizes (1 of the gaps within "
                  "2 standard errors); above DPQ at 2 of 2 compared sizes (1 of the gaps within 2 standard "
                  "errors)")
    assert verdict == "**met**"


def test_equal_size_states_how_many_seeds_its_points_have() -> None:
    """The evidence names the fewest and most seeds over the points of an MGQE curve and its baselines."""
    three = fig6({"SQ": [(5.0, 4.0), (25.0, 8.0)], "DPQ": [(8.0, 6.0), (30.0, 8.0)], "MGQE": [(10.0, 7.5)]},
                 n=3)["rows"]
    one = fig6({"DPQ ref-STE": [(8.0, 6.0), (30.0, 8.0)], "MGQE ref-STE": [(10.0, 7.5)]})["rows"]
    (_, ev, _), (_, ev_ref, _) = equal_size({"fig6": {"rows": three + one}})
    assert ev.startswith("fig6 (3 seeds per point, means): ")
    assert ev_ref.startswith("fig6 (1-3 seeds per point, means): ")  # its SQ points have 3, the rest 1


def test_equal_size_is_open_without_the_curves() -> None:
    assert verdicts(equal_size({})) == [OPEN, OPEN]
    only_sq = fig6({"SQ": [(5.0, 4.0), (25.0, 8.0)], "MGQE": [(10.0, 7.5)]})
    assert verdicts(equal_size({"fig6": only_sq})) == [OPEN, OPEN]


def full_reports(n: int = 3) -> dict[str, Any]:
    groups = {"table3": ["gmf", "neumf"], "table4": ["sasrec"], "table5": ["relevance"],
              "table6": ["gmf"]}
    return {name: {"rows": [row(g, r, 7.0, n=n) for g in groups[name] for r in rows]
                   + [row(groups[name][0], "MGQE ref-STE", 7.0, n=0)]}  # not an issue row: not counted
            for name, rows in ISSUE_ROWS.items()}


def test_seed_coverage_counts_the_issue_rows_only() -> None:
    (_, evidence, verdict), = seed_coverage(full_reports())
    assert (evidence, verdict) == ("22 of 22 rows", "**met**")
    reports = full_reports()
    reports["table6"]["rows"][0] = row("gmf", "shared K=[256,64]", 7.0, n=2)
    del reports["table5"]
    (_, evidence, verdict), = seed_coverage(reports)
    assert verdict == OPEN
    assert evidence == ("17 of 18 rows; short (seeds done): table6 gmf shared K=[256,64] (2); "
                        "not run yet: table5")


def test_scorecard_table_and_its_place_in_the_index(tmp_path: Path) -> None:
    lines = scorecard({})
    table = lines[lines.index("|---|---|---|") + 1 :]
    assert lines[0] == "## The issue's targets, checked"
    # two FE levels, three size targets, two Figure 6 curves, seed coverage: all open with no reports
    assert len(table) == 2 + 3 + 2 + 1 and all(line.endswith(f"| {OPEN} |") for line in table)
    rep = {"experiment": "table3", "command": "mgqe-train experiment table3", "unfinished_cells": [],
           "rows": [row("gmf", "FE", 7.8), row("gmf", "MGQE-compact", 7.9, size=19.2)]}
    (tmp_path / "table3.json").write_text(json.dumps(rep))
    (tmp_path / "table3.md").write_text("# table3\n\nbody\n")
    page = write_index(tmp_path).read_text()
    head, rest = page.split("## The issue's targets, checked", 1)
    assert "## What the numbers below say" not in head and "## table3" not in head
    assert "| gmf: MGQE matches FE at ≤ 21% of its size |" in rest.split("## What the numbers")[0]
    assert "**met** by MGQE-compact |" in rest
    assert "(positional table from N(0, 0.01))" not in page  # no alt report written yet
    alt = {**rep, "experiment": "table4", "rows": [row("sasrec", "FE", 21.7)]}
    (tmp_path / "table4-pos_init_std=0.01.json").write_text(json.dumps(alt))
    page = write_index(tmp_path).read_text()
    assert ("| sasrec FE HR@10 near the paper's 20.36 (within our seed std) (positional table from "
            "N(0, 0.01)) | table4-pos_init_std=0.01: 21.70 ± 0.10 (3 seeds), +1.34 from the paper "
            "| **not met** |") in page


def test_index_prose_comes_from_the_markdown_files_beside_report(tmp_path: Path) -> None:
    intro, reading = ((PROSE / f).read_text() for f in ("results_intro.md", "results_reading.md"))
    assert intro.startswith("# Results: ") and reading.startswith("## What the numbers below say")
    for text in (intro, reading):
        assert text.endswith("\n") and max(len(line) for line in text.splitlines()) <= 110
    page = write_index(tmp_path).read_text()
    assert page.startswith(intro)
    card, after = page[len(intro):].split(reading, 1)
    assert card.startswith("\n## The issue's targets, checked")
    assert after.startswith("\n## The reading's claims, checked") and "\n## table3" in after


def test_the_committed_page_is_what_the_committed_reports_write(tmp_path: Path) -> None:
    """results/README.md was regenerated after the last change to its prose, claims or reports."""
    results = Path(__file__).resolve().parents[2] / "results"
    for p in results.iterdir():
        if p.is_file() and p.suffix in (".json", ".md") and p.name != "README.md":
            shutil.copy(p, tmp_path / p.name)
    (tmp_path / "cache").symlink_to(results / "cache")  # the reading's claims about a row's first seeds
    assert write_index(tmp_path).read_text() == (results / "README.md").read_text(), (
        "results/README.md is stale: rerun `mgqe-train experiment table4 --report-only`")
