"""Figure 6's claim as a check: does an MGQE curve lie above the other methods' curves at equal model size?

Each curve is a method's (size %, test HR@10) points over its sweep. A baseline's HR at an MGQE point's size
is read off the baseline curve by linear interpolation in log size (the figure's x axis), and only inside the
baseline's measured size range: outside it there is nothing to compare against, and the check says so.
Where every point involved has 2+ seeds, the gap comes with its standard error (the MGQE point's and the
baseline points' seed spreads combined), and a gap within CLOSE_SE of them is flagged as not telling the
curves apart.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, NamedTuple

from mgqe.trainer.experiments.report import fmt_seeds

# each MGQE curve against FE, SQ and the DPQ trained in the same straight-through form (like for like)
PAIRS: dict[str, tuple[str, ...]] = {"MGQE": ("FE", "SQ", "DPQ"), "MGQE ref-STE": ("FE", "SQ", "DPQ ref-STE")}

Curve = list[tuple[float, float, str]]  # (size %, HR@10 mean, row label) sorted by size


def curves(rows: list[dict[str, Any]]) -> dict[str, Curve]:
    """group -> its finished points, sorted by size. rows: aggregate() output with fig6 size_percent."""
    out: dict[str, Curve] = {}
    for r in rows:
        hr = r.get("test", {}).get("hr@10")
        size = r.get("size_percent")
        if hr is None or size is None or not math.isfinite(size) or size <= 0:
            continue
        out.setdefault(r["group"], []).append((float(size), float(hr["mean"]), r["row"]))
    return {g: sorted(pts) for g, pts in out.items()}


def at_size(curve: Curve, size: float) -> list[tuple[float, float, str]] | None:
    """The baseline points that give its HR at `size`, as (weight, HR@10 mean, row label) with weights summing
    to 1: the one point measured at exactly this size, else its two neighbours weighted linearly in log size;
    None outside the curve's size range."""
    if not curve or size < curve[0][0] or size > curve[-1][0]:
        return None
    for s, h, label in curve:  # a measured point at exactly this size needs no interpolation
        if s == size:
            return [(1.0, h, label)]
    for (s0, h0, l0), (s1, h1, l1) in itertools.pairwise(curve):
        if s0 < size < s1:
            t = (math.log(size) - math.log(s0)) / (math.log(s1) - math.log(s0))
            return [(1.0 - t, h0, l0), (t, h1, l1)]
    raise AssertionError("unreachable: size lies inside the curve's range")


def _value(got: list[tuple[float, float, str]]) -> tuple[float, str]:
    """(HR@10 interpolated in log size, the points used) from at_size's weighted points."""
    where = got[0][2] if len(got) == 1 else f"between {got[0][2]} and {got[1][2]}"
    return sum(w * h for w, h, _ in got), where


def gap_se(mgqe: dict[str, float], base: list[tuple[float, dict[str, float]]]) -> float | None:
    """Standard error of (MGQE point's mean - baseline read at its size), from the seed spreads of the MGQE
    point (mgqe: {mean, std, n}) and of the baseline points it is read from (base: [(weight, {mean, std,
    n})]), taken as independent: sqrt(std^2/n + sum(w^2 std_b^2/n_b)). None when a point used has fewer than
    2 seeds (no spread to estimate). Two methods' runs of one seed draw the same negatives; they are still
    not paired by seed here."""
    pts = [(1.0, mgqe), *base]
    if any(st["n"] < 2 for w, st in pts if w > 0):
        return None
    return math.sqrt(sum(w * w * st["std"] ** 2 / st["n"] for w, st in pts))


# A gap within this many standard errors is flagged as not telling the curves apart: about a 95% two-sided
# band under a normal approximation (with 5 seeds per point the t quantile is nearer 2.3, so the flag is, if
# anything, slightly too ready to call a gap real)
CLOSE_SE = 2.0


class Point(NamedTuple):
    """One MGQE point read against one baseline curve at the point's size."""

    size: float  # model size %
    hr: float  # MGQE's HR@10 mean over its seeds
    label: str  # MGQE's row label
    ref: float | None  # the baseline's HR@10 at that size; None outside its measured sizes
    where: str  # the baseline points it was read from
    se: float | None  # standard error of hr - ref; None when a point used has one seed

    @property
    def above(self) -> bool:
        """MGQE lies at or above the baseline here (False outside its measured sizes)."""
        return self.ref is not None and self.hr >= self.ref

    @property
    def close(self) -> bool:
        """The gap lies within CLOSE_SE standard errors: these seeds cannot tell the two curves apart here."""
        return self.ref is not None and self.se is not None and abs(self.hr - self.ref) <= CLOSE_SE * self.se


def _compared(cs: dict[str, Curve], spread: dict[tuple[str, str], dict[str, float]], m: str, base: str,
              ) -> list[Point]:
    """Every point of MGQE curve m read against curve `base` at its size."""
    out = []
    for size, hr, label in cs[m]:
        got = at_size(cs[base], size)
        if got is None:
            out.append(Point(size, hr, label, None, "", None))
            continue
        ref, where = _value(got)
        se = gap_se(spread[(m, label)], [(w, spread[(base, lb)]) for w, _, lb in got])
        out.append(Point(size, hr, label, ref, where, se))
    return out


def compared_points(rows: list[dict[str, Any]], m: str, base: str) -> list[Point]:
    """The points of MGQE curve m inside curve `base`'s measured sizes, read against it, smallest first;
    empty when either curve has no finished point."""
    cs = curves(rows)
    if m not in cs or base not in cs:
        return []
    return [p for p in _compared(cs, _spread(rows), m, base) if p.ref is not None]


class Tally(NamedTuple):
    """One (MGQE curve, baseline) pair over the MGQE points inside the baseline's size range."""

    above: int  # points at or above the baseline
    compared: int  # points compared
    close: int  # of those, points whose gap lies within CLOSE_SE standard errors (Point.close)


def equal_size_tally(rows: list[dict[str, Any]]) -> dict[tuple[str, str], Tally]:
    """(MGQE curve, baseline) -> its Tally, for every pair in PAIRS whose two curves have finished points; a
    pair with no point inside the baseline's size range tallies (0, 0, 0)."""
    cs = curves(rows)
    out = {}
    for m, bases in PAIRS.items():
        for base in bases:
            if m in cs and base in cs:
                got = compared_points(rows, m, base)
                out[(m, base)] = Tally(sum(p.above for p in got), len(got), sum(p.close for p in got))
    return out


def seed_range(rows: list[dict[str, Any]], groups: tuple[str, ...]) -> tuple[int, int]:
    """(fewest, most) finished seeds over the finished points of `groups`; (0, 0) when none is finished."""
    ns = [len(r["finished_seeds"]) for r in rows if r["group"] in groups and r.get("finished_seeds")]
    return (min(ns), max(ns)) if ns else (0, 0)


def _spread(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, float]]:
    """(group, row label) -> the point's test HR@10 {mean, std, n} over its finished seeds."""
    return {(r["group"], r["row"]): r["test"]["hr@10"] for r in rows if "hr@10" in r.get("test", {})}


def error_bars(rows: list[dict[str, Any]]) -> dict[str, list[tuple[float, float, float]]]:
    """The figure's curves: group -> [(size %, HR@10 mean, sample std over seeds)], one per sweep point,
    sorted by size (the points of curves())."""
    spread = _spread(rows)
    return {g: [(size, hr, spread[(g, label)]["std"]) for size, hr, label in pts]
            for g, pts in curves(rows).items()}


def equal_size_check(rows: list[dict[str, Any]]) -> list[str]:
    """Markdown bullets: every MGQE point against each of its PAIRS baselines at the same size, with the gap
    and its standard error where every point used has 2+ seeds, then a verdict per (MGQE curve, baseline) over
    the points that could be compared. A gap within CLOSE_SE standard errors is flagged: those seeds cannot
    tell the curves apart there."""
    cs = curves(rows)
    spread = _spread(rows)
    lines: list[str] = []
    for m, bases in PAIRS.items():
        for base in bases:
            if m not in cs or base not in cs:
                continue
            above: list[bool] = []
            for p in _compared(cs, spread, m, base):
                if p.ref is None:
                    lines.append(f"- {m} {p.label} ({p.size:.1f}%): outside {base}'s measured sizes "
                                 f"({cs[base][0][0]:.1f}-{cs[base][-1][0]:.1f}%), not compared")
                    continue
                above.append(p.above)
                gap = "" if p.se is None else f" (gap {p.hr - p.ref:+.2f}, standard error {p.se:.2f})"
                close = f", within {CLOSE_SE:g} standard errors" if p.close else ""
                lines.append(f"- {m} {p.label} ({p.size:.1f}%): HR@10 {fmt_seeds(spread[(m, p.label)])} vs "
                             f"{base} {p.ref:.2f} at that size ({p.where}): "
                             f"{'above' if p.above else 'below'}{gap}{close}")
            if above:
                lines.append(f"- **{m} above {base} at every compared size: {all(above)}** "
                             f"({sum(above)} of {len(above)} points)")
    return lines
