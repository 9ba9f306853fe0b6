"""Prose claims as checks: a comparison that results_reading.md states, evaluated on the reports each time
results/README.md is written (the list lives in reading_claims.py).

Each claim quotes the words of the reading it stands for and restates them on the reports' aggregated rows
(report.aggregate in results/<stem>.json): a row's test metric is its mean and sample std over its finished
seeds. A claim about some of a row's seeds (what the first seeds showed) reads those seeds' cells from
results/cache through the row's config hashes. A claim about a report, row or seed that is missing does not
hold: the page then says what was missing instead of a verdict.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from mgqe.trainer.experiments.curves import CLOSE_SE, Point, compared_points
from mgqe.trainer.experiments.report import PAPER, PAPER_VARIANTS, fmt_seeds, seed_stats

Report = dict[str, Any]  # a loaded results/<stem>.json
Cache = Callable[[str], dict[str, Any]]  # config hash -> its cell record (results/cache/<hash>.json)
Side = tuple[str, str, str]  # (report stem, or PAPER_STEM for the paper's number; backbone; row label)
PAPER_STEM = "paper"


class ClaimError(ValueError):
    """A claim names a relation, gap direction or curve pattern this module does not define."""


class MissingDataError(LookupError):
    """A claim's report, row or finished seed is not there: the claim cannot hold."""


class Stat(NamedTuple):
    """One side of a comparison: a row's metric over its finished seeds, or over some of them (the paper's
    number: std 0, n 0)."""

    mean: float
    std: float
    n: int
    size: float  # model size %; nan where unknown (the paper's Table 6)
    values: tuple[float, ...] = ()  # per seed, where a claim picked seeds; empty otherwise

    def show(self) -> str:
        return f"{self.mean:.2f} (paper)" if self.n == 0 else fmt_seeds(
            {"mean": self.mean, "std": self.std, "n": self.n})


def _close(a: Stat, b: Stat) -> bool:
    return abs(a.mean - b.mean) <= 0.01 * abs(b.mean)


# relation -> (its meaning, as the page states it; the test on a's and b's Stat). "spread" is a row's sample
# std over seeds; "reaches" is the rule for matching full embedding (b)
RELATIONS: dict[str, tuple[str, Callable[[Stat, Stat], bool]]] = {
    "above": ("a's mean > b's", lambda a, b: a.mean > b.mean),
    "below": ("a's mean < b's", lambda a, b: a.mean < b.mean),
    "reaches": ("a's mean ≥ b's mean - b's spread", lambda a, b: a.mean >= b.mean - b.std),
    "beyond a": ("|gap| > a's spread", lambda a, b: abs(a.mean - b.mean) > a.std),
    "beyond b": ("|gap| > b's spread", lambda a, b: abs(a.mean - b.mean) > b.std),
    "within a": ("|gap| ≤ a's spread", lambda a, b: abs(a.mean - b.mean) <= a.std),
    "within b": ("|gap| ≤ b's spread", lambda a, b: abs(a.mean - b.mean) <= b.std),
    "level": ("|gap| ≤ half the smaller spread", lambda a, b: abs(a.mean - b.mean) <= min(a.std, b.std) / 2),
    "within 1%": ("|gap| ≤ 1% of b's mean", _close),
    "wider": ("a's spread > b's", lambda a, b: a.std > b.std),
    "narrower": ("a's spread < b's", lambda a, b: a.std < b.std),
    "smaller": ("a's model size % < b's", lambda a, b: a.size < b.size),
    "all above": ("a's lowest seed > b's highest (picked seeds only)",
                  lambda a, b: bool(a.values and b.values) and min(a.values) > max(b.values)),
}


SIZE_RELATIONS = {"smaller"}  # relations on model size, not on the metric


class Verdict(NamedTuple):
    holds: bool
    compared: str  # what was compared and how, as a Markdown cell
    evidence: str  # the numbers, or what was missing


def _row(reports: dict[str, Report], stem: str, group: str, row: str) -> dict[str, Any]:
    if stem not in reports:
        raise MissingDataError(f"report {stem} not written")
    for r in reports[stem]["rows"]:
        if (r["group"], r["row"]) == (group, row):
            return r
    raise MissingDataError(f"{stem} has no row {group}/{row}")


def stat(reports: dict[str, Report], side: Side, metric: str, seeds: tuple[int, ...] | None = None,
         cache: Cache | None = None) -> Stat:
    """side's metric over its finished seeds, or over `seeds` alone read from `cache` (or the paper's number);
    MissingDataError when it has none, or a picked seed is not finished or not in the cache."""
    stem, group, row = side
    if seeds is not None:
        return _picked(_row(reports, stem, group, row), f"{stem} {group}/{row}", metric, seeds, cache)
    if stem == PAPER_STEM:
        i = {"hr@10": 0, "ndcg@10": 1}.get(metric)
        got = PAPER.get((group, row)) or PAPER_VARIANTS.get((group, row))
        if got is None or i is None:
            raise MissingDataError(f"the paper reports no {metric} for {group}/{row}")
        return Stat(got[i], 0.0, 0, got[2] if len(got) > 2 else math.nan)
    r = _row(reports, stem, group, row)
    if "test" not in r:
        raise MissingDataError(f"{stem} {group}/{row} has no finished seed")
    if (s := r["test"].get(metric)) is None:
        raise MissingDataError(f"{stem} {group}/{row} has no {metric} (it has {', '.join(r['test'])})")
    return Stat(s["mean"], s["std"], s["n"], float(r.get("size_percent", math.nan)))


def _picked(r: dict[str, Any], name: str, metric: str, seeds: tuple[int, ...], cache: Cache | None) -> Stat:
    """The row's metric over `seeds` only, from its cells' records."""
    if cache is None:
        raise MissingDataError(f"{name}: seeds {list(seeds)} need the cell cache, none given")
    hashes = dict(zip(r["finished_seeds"], r.get("config_hashes", []), strict=False))
    if missing := [s for s in seeds if s not in hashes]:
        raise MissingDataError(f"{name} has no finished seed {missing}")
    try:
        xs = tuple(float(cache(hashes[s])["metrics"]["test"][metric]) for s in seeds)
    except (OSError, KeyError) as e:
        raise MissingDataError(f"{name}: a cell of seeds {list(seeds)} has no {metric} in the cache "
                               f"({e})") from None
    st = seed_stats(list(xs))
    return Stat(st["mean"], st["std"], int(st["n"]), float(r.get("size_percent", math.nan)), xs)


def _name(side: Side) -> str:
    return f"paper {side[1]}/{side[2]}" if side[0] == PAPER_STEM else f"{side[0]} {side[1]}/{side[2]}"


@dataclass(frozen=True)
class Claim:
    """Row a against row b: every relation in `holds`, and the seed counts the prose states (None: not
    stated). `only` picks some seeds of a side (None: all its finished seeds)."""

    quote: str  # the words of results_reading.md this checks
    a: Side
    b: Side
    holds: tuple[str, ...]
    seeds: tuple[int | None, int | None] = (None, None)
    metric: str = "hr@10"
    only: tuple[tuple[int, ...] | None, tuple[int, ...] | None] = (None, None)

    def __post_init__(self) -> None:
        unknown = [h for h in self.holds if h not in RELATIONS]
        if unknown or not self.holds:
            raise ClaimError(f"{self.quote!r}: relations {unknown or 'none given'}; known: {list(RELATIONS)}")

    def check(self, reports: dict[str, Report], cache: Cache | None = None) -> Verdict:
        want = "" if self.seeds == (None, None) else "; seed counts " + " / ".join(
            "any" if n is None else str(n) for n in self.seeds)
        a_name, b_name = (_name(side) + ("" if only is None else f" seeds {', '.join(map(str, only))}")
                          for side, only in zip((self.a, self.b), self.only, strict=True))
        sizes_only = set(self.holds) <= SIZE_RELATIONS
        on = "model size %" if sizes_only else self.metric
        what = f"{a_name} vs {b_name} ({on}): {', '.join(self.holds)}{want}"
        try:
            a, b = (stat(reports, side, self.metric, only, cache)
                    for side, only in zip((self.a, self.b), self.only, strict=True))
        except MissingDataError as e:
            return Verdict(False, what, f"missing: {e}")
        ok = all(RELATIONS[h][1](a, b) for h in self.holds)
        seeds = [f"{side} has {s.n} seeds, the reading says {said}"
                 for side, s, said in (("a", a, self.seeds[0]), ("b", b, self.seeds[1]))
                 if said is not None and s.n != said]
        parts = [] if sizes_only else [f"{a.show()} vs {b.show()}, gap {a.mean - b.mean:+.2f}"]
        if set(self.holds) & SIZE_RELATIONS:
            parts.append(f"sizes {a.size:.1f}% vs {b.size:.1f}%")
        if "all above" in self.holds:
            per = (", ".join(f"{x:.2f}" for x in side.values) or "-" for side in (a, b))
            parts.append("per seed " + " vs ".join(per))
        return Verdict(ok and not seeds, what, "; ".join(parts + seeds))


@dataclass(frozen=True)
class GapClaim:
    """Gap a (a[0] - a[1]) against gap b (b[0] - b[1]), means only: `holds` is "less" or "more"."""

    quote: str
    a: tuple[Side, Side]
    b: tuple[Side, Side]
    holds: str
    metric: str = "hr@10"

    def __post_init__(self) -> None:
        if self.holds not in ("less", "more"):
            raise ClaimError(f"{self.quote!r}: a gap claim holds 'less' or 'more', not {self.holds!r}")

    def check(self, reports: dict[str, Report], cache: Cache | None = None) -> Verdict:
        what = (f"({_name(self.a[0])} - {self.a[1][2]}) {self.holds} than "
                f"({_name(self.b[0])} - {self.b[1][2]}) ({self.metric})")
        try:
            ga, gb = (stat(reports, x, self.metric).mean - stat(reports, y, self.metric).mean
                      for x, y in (self.a, self.b))
        except MissingDataError as e:
            return Verdict(False, what, f"missing: {e}")
        return Verdict(ga < gb if self.holds == "less" else ga > gb, what, f"gaps {ga:+.2f} vs {gb:+.2f}")


def _shape(p: Point) -> str:
    return ("above" if p.above else "below") + (" close" if p.close else "")


def _gap(p: Point) -> str:
    gap = math.nan if p.ref is None else p.hr - p.ref  # compared_points gives compared points only
    return f"{p.label} {gap:+.2f} (se {'n/a' if p.se is None else f'{p.se:.2f}'})"


@dataclass(frozen=True)
class CurveClaim:
    """Figure 6: MGQE curve m read against curve `base` at each compared size (curves.py), smallest first;
    each entry "above" or "below", plus " close" where the gap lies within CLOSE_SE standard errors."""

    quote: str
    m: str
    base: str
    pattern: tuple[str, ...]
    stem: str = "fig6"

    def __post_init__(self) -> None:
        bad = [p for p in self.pattern if p not in ("above", "below", "above close", "below close")]
        if bad or not self.pattern:
            raise ClaimError(f"{self.quote!r}: pattern entries {bad or 'none given'}; known: above, below, "
                             f"above close, below close")

    def check(self, reports: dict[str, Report], cache: Cache | None = None) -> Verdict:
        what = (f"{self.stem} {self.m} vs {self.base} at each compared size: {', '.join(self.pattern)} "
                f"(close: within {CLOSE_SE:g} standard errors)")
        if self.stem not in reports:
            return Verdict(False, what, f"missing: report {self.stem} not written")
        got = compared_points(reports[self.stem]["rows"], self.m, self.base)
        ev = ", ".join(_gap(p) for p in got)
        return Verdict(tuple(_shape(p) for p in got) == self.pattern, what, ev or "no compared point")


@dataclass(frozen=True)
class SeedsClaim:
    """Every row of `rows` (all rows of `group`, or of the report, when None) has n finished seeds; n None:
    the selected rows have no unfinished cell."""

    quote: str
    stem: str
    n: int | None
    group: str | None = None
    rows: tuple[str, ...] | None = None

    def check(self, reports: dict[str, Report], cache: Cache | None = None) -> Verdict:
        sel = f"{self.group or 'every backbone'}/{', '.join(self.rows) if self.rows else 'every row'}"
        want = "no unfinished cell" if self.n is None else f"{self.n} seeds each"
        what = f"{self.stem} {sel}: {want}"
        if self.stem not in reports:
            return Verdict(False, what, f"missing: report {self.stem} not written")
        picked = [r for r in reports[self.stem]["rows"] if (self.group in (None, r["group"]))
                  and (self.rows is None or r["row"] in self.rows)]
        if self.rows is not None and len(picked) != len(self.rows):
            return Verdict(False, what,
                           f"missing: {self.stem} has {len(picked)} of the {len(self.rows)} rows")
        if self.n is None:
            left = sum(len(set(r["planned_seeds"]) - set(r["finished_seeds"])) for r in picked)
            ev = f"{len(picked)} rows, {left} unfinished cells"
            return Verdict(not left and bool(picked), what, ev)
        counts = sorted({len(r["finished_seeds"]) for r in picked})
        return Verdict(counts == [self.n], what, f"{len(picked)} rows; finished seeds per row: {counts}")


AnyClaim = Claim | GapClaim | CurveClaim | SeedsClaim


def load_reports(results: Path, stems: Iterable[str]) -> dict[str, Report]:
    """stem -> results/<stem>.json, for the stems written."""
    paths = {s: results / f"{s}.json" for s in stems}
    return {s: json.loads(p.read_text()) for s, p in paths.items() if p.is_file()}


def stems(claims: Iterable[AnyClaim]) -> set[str]:
    """The report stems the claims read."""
    out: set[str] = set()
    for c in claims:
        if isinstance(c, Claim):
            out |= {c.a[0], c.b[0]}
        elif isinstance(c, GapClaim):
            out |= {s[0] for s in (*c.a, *c.b)}
        else:
            out.add(c.stem)
    return out - {PAPER_STEM}


def cell_cache(results: Path) -> Cache:
    """config hash -> results/cache/<hash>.json, each file read once."""

    @functools.cache
    def read(h: str) -> dict[str, Any]:
        return dict(json.loads((results / "cache" / f"{h}.json").read_text()))

    return read


def checked(claims: Iterable[AnyClaim], reports: dict[str, Report], cache: Cache | None = None) -> list[str]:
    """The page's section: how many claims hold, then one table row per claim."""
    cs = list(claims)
    verdicts = [c.check(reports, cache) for c in cs]
    n_ok = sum(v.holds for v in verdicts)
    lines = [
        "## The reading's claims, checked\n",
        f"Each comparison stated above, restated on the reports' rows "
        f"(trainer/experiments/reading_claims.py) and checked each time this page is written: "
        f"**{n_ok} of {len(cs)} hold**. Relations: "
        + "; ".join(f"{k}: {v[0]}" for k, v in RELATIONS.items()) + ".\n",
        "| the reading says | checked as | numbers | holds |", "|---|---|---|---|"]
    prev = None
    for c, v in zip(cs, verdicts, strict=True):
        said = "(the same words)" if c.quote == prev else c.quote
        prev = c.quote
        lines.append(f"| {said} | {v.compared} | {v.evidence} | {'yes' if v.holds else '**no**'} |")
    return lines
