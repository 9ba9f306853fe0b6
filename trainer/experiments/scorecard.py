"""Issue #4's targets checked against the experiment reports: the table at the top of results/README.md.

Every verdict is computed here from the reports' aggregated rows (report.aggregate in results/<name>.json),
each time the page is written, with the same rule as the reports' own checks: a compressed row matches full
embedding (FE) when its mean test HR@10 is no lower than FE's mean minus FE's sample std. A verdict needs
MIN_SEEDS finished seeds on both sides; with fewer, or with a report not run yet, the target is "open".
"""

from __future__ import annotations

from typing import Any

from mgqe.trainer.experiments.curves import CLOSE_SE, PAIRS, equal_size_tally, seed_range
from mgqe.trainer.experiments.report import PAPER, fmt_seeds
from mgqe.trainer.experiments.size_targets import TARGET_SIZE
from mgqe.trainer.experiments.suite import VARIANTS

Report = dict[str, Any]  # a loaded results/<name>.json
Line = tuple[str, str, str]  # (target, evidence, verdict) as Markdown cells

MIN_SEEDS = 3  # the issue: mean ± std over at least 3 seeds

# the rows the issue names per report (its diagnostic and extra rows are the reports' own business)
ISSUE_ROWS: dict[str, tuple[str, ...]] = {
    "table3": ("FE", "LRF", "SQ", "DPQ", "MGQE"),
    "table4": ("FE", "LRF", "SQ", "DPQ", "MGQE"),
    "table5": ("FE", "SQ", "DPQ", "MGQE"),
    "table6": tuple(VARIANTS),
}
# where each backbone's Table 3/4 rows live; the issue's FE levels are stated for GMF and SASRec only
TABLE_OF = {"gmf": "table3", "neumf": "table3", "sasrec": "table4"}
FE_LEVEL_OF = ("gmf", "sasrec")
# a whole `--set` report of a backbone under one changed training option, checked beside its default report
# (each of its lines appears only once that report has a finished row to check): SASRec with its positional
# table started like every other embedding, N(0, 0.01), instead of torch's N(0, 1); SASRec with the Adam
# beta2 of its reference code (0.98) instead of torch's 0.999
ALT_REPORTS: tuple[tuple[str, dict[str, Any], str], ...] = (
    ("table4", {"pos_init_std": 0.01}, "positional table from N(0, 0.01)"),
    ("table4", {"adam_beta2": 0.98}, "Adam beta2 = 0.98, as SASRec's reference code"),
)
OPEN = "open"


def alt_stems() -> list[str]:
    """Report file stems of ALT_REPORTS, as runner.report_stem names them."""
    from mgqe.trainer.experiments.runner import report_stem

    return [report_stem(name, ov) for name, ov, _ in ALT_REPORTS]


def _sources(g: str, reports: dict[str, Report], prefix: str) -> list[tuple[str, str]]:
    """(report stem, target suffix) holding backbone g's Table 3/4 rows: its default report, then every
    ALT_REPORTS variant of that report with a finished row of g whose label starts with `prefix` (a side
    check says nothing about the rows it has not run)."""
    alts = [(stem, f" ({label})") for (name, _, label), stem in zip(ALT_REPORTS, alt_stems(), strict=True)
            if name == TABLE_OF[g] and _finished(reports, stem, g, prefix)]
    return [(TABLE_OF[g], ""), *alts]


def _finished(reports: dict[str, Report], name: str, group: str, prefix: str) -> list[dict[str, Any]]:
    """The rows of `group` in report `name` whose label starts with `prefix` and that have a test result."""
    return [r for r in reports.get(name, {}).get("rows", [])
            if r["group"] == group and r["row"].startswith(prefix) and "hr@10" in r.get("test", {})]


def _row(reports: dict[str, Report], name: str, group: str, row: str) -> dict[str, Any] | None:
    """The finished row (group, row) of report `name`, or None when the report or the row has no result."""
    return next((r for r in _finished(reports, name, group, row) if r["row"] == row), None)


def _hr(r: dict[str, Any]) -> str:
    return fmt_seeds(r["test"]["hr@10"])


def _verdict(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def fe_levels(reports: dict[str, Report]) -> list[Line]:
    """FE's test HR@10 against the paper's, for the backbones whose level the issue states (and for each
    ALT_REPORTS variant of their report with a finished FE row)."""
    out = []
    for g in FE_LEVEL_OF:
        paper = PAPER[(g, "FE")][0]
        for name, tag in _sources(g, reports, "FE"):
            target = f"{g} FE HR@10 near the paper's {paper:g} (within our seed std){tag}"
            fe = _row(reports, name, g, "FE")
            if fe is None:
                out.append((target, f"{name}: FE not run yet", OPEN))
                continue
            s = fe["test"]["hr@10"]
            diff = s["mean"] - paper
            verdict = _verdict(abs(diff) <= s["std"]) if s["n"] >= MIN_SEEDS else OPEN
            out.append((target, f"{name}: {_hr(fe)}, {diff:+.2f} from the paper", verdict))
    return out


def size_matches(reports: dict[str, Report]) -> list[Line]:
    """Per backbone (and per ALT_REPORTS variant of its report with a finished MGQE row): the finished MGQE
    rows (any config) within the issue's whole-model size, and whether one of them matches FE."""
    return [_size_match(reports, g, name, tag)
            for g in TARGET_SIZE for name, tag in _sources(g, reports, "MGQE")]


def _size_match(reports: dict[str, Report], g: str, name: str, tag: str) -> Line:
    """size_matches' line for backbone g from report `name`."""
    limit = TARGET_SIZE[g]
    target = f"{g}: MGQE matches FE at ≤ {limit:g}% of its size{tag}"
    fe = _row(reports, name, g, "FE")
    fits = [r for r in _finished(reports, name, g, "MGQE") if r["size_percent"] <= limit]
    if fe is None or not fits:
        what = "FE not run yet" if fe is None else f"no finished MGQE row at ≤ {limit:g}%"
        return target, f"{name}: {what}", OPEN
    b = fe["test"]["hr@10"]
    evidence, met, pending = [], [], False
    for r in fits:
        m = r["test"]["hr@10"]
        ok = m["mean"] >= b["mean"] - b["std"]
        evidence.append(f"{r['row']} at {r['size_percent']:.1f}%: {_hr(r)}, {m['mean'] - b['mean']:+.2f}")
        if m["n"] >= MIN_SEEDS and b["n"] >= MIN_SEEDS:
            met += [r["row"]] if ok else []
        else:
            pending = True
    verdict = f"{_verdict(True)} by {', '.join(met)}" if met else OPEN if pending else _verdict(False)
    return target, f"{name}, FE {_hr(fe)}; " + "; ".join(evidence), verdict


def equal_size(reports: dict[str, Report]) -> list[Line]:
    """Figure 6: each MGQE curve above the SQ and same-form DPQ curves at every compared size."""
    rows = reports.get("fig6", {}).get("rows", [])
    tally = equal_size_tally(rows)
    out = []
    for m in ("MGQE", "MGQE ref-STE"):
        target = f"{m} above DPQ and SQ at equal size (Figure 6, GMF)"
        pairs = [(base, n) for (mm, base), n in tally.items() if mm == m and base != "FE"]
        if len(pairs) < 2:
            out.append((target, "fig6: the curves are not all run yet", OPEN))
            continue
        close = f"of the gaps within {CLOSE_SE:g} standard errors"
        evidence = "; ".join(f"above {base} at {t.above} of {t.compared} compared sizes"
                             + (f" ({t.close} {close})" if t.close else "") for base, t in pairs)
        ok = all(t.compared > 0 and t.above == t.compared for _, t in pairs)
        lo, hi = seed_range(rows, (m, *PAIRS[m]))
        seeds = f"{lo} seed{'s' * (lo > 1)} per point" if lo == hi else f"{lo}-{hi} seeds per point"
        out.append((target, f"fig6 ({seeds}, means): {evidence}", _verdict(ok)))
    return out


def seed_coverage(reports: dict[str, Report]) -> list[Line]:
    """The issue's rows with at least MIN_SEEDS finished seeds, and which ones are short."""
    total, short = 0, []
    for name, rows in ISSUE_ROWS.items():
        for r in reports.get(name, {}).get("rows", []):
            if r["row"] not in rows:
                continue
            total += 1
            if len(r["finished_seeds"]) < MIN_SEEDS:
                short.append(f"{name} {r['group']} {r['row']} ({len(r['finished_seeds'])})")
    missing = [n for n in ISSUE_ROWS if n not in reports]
    target = f"mean ± std over ≥ {MIN_SEEDS} seeds for the issue's rows of Tables 3-6"
    evidence = f"{total - len(short)} of {total} rows"
    if short:
        evidence += "; short (seeds done): " + ", ".join(short)
    if missing:
        evidence += "; not run yet: " + ", ".join(missing)
    return [(target, evidence, _verdict(True) if not short and not missing and total else OPEN)]


def scorecard(reports: dict[str, Report]) -> list[str]:
    """Markdown lines: the section with the table of the issue's targets, from the loaded suite reports
    (name -> results/<name>.json)."""
    lines = ["## The issue's targets, checked", "",
             "Computed from the reports below (`mgqe.trainer.experiments.scorecard`) each time this page is "
             "written. Matching FE means a mean no lower than FE's mean minus FE's sample std, over at least "
             f"{MIN_SEEDS} seeds on both sides; MGQE rows of any config count. A Figure 6 gap within "
             f"{CLOSE_SE:g} standard errors (the two curves' seed spreads combined) does not tell them "
             "apart. A target with a changed training option in brackets is checked on that option's `--set` "
             "report, beside the default. "
             "The time the suite takes is the last line of this page.", "",
             "| target (issue #4) | evidence (test HR@10; size = whole model, % of FE's) | verdict |",
             "|---|---|---|"]
    for t, e, v in [*fe_levels(reports), *size_matches(reports), *equal_size(reports),
                    *seed_coverage(reports)]:
        lines.append(f"| {t} | {e} | {v} |")
    return lines
