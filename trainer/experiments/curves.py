"""Figure 6's claim as a check: does an MGQE curve lie above the other methods' curves at equal model size?

Each curve is a method's (size %, test HR@10) points over its sweep. A baseline's HR at an MGQE point's size
is read off the baseline curve by linear interpolation in log size (the figure's x axis), and only inside the
baseline's measured size range: outside it there is nothing to compare against, and the check says so.
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


def at_size(curve: Curve, size: float) -> tuple[float, str] | None:
    """(HR@10 interpolated in log size, the points used) at `size`, or None outside the curve's size range."""
    if not curve or size < curve[0][0] or size > curve[-1][0]:
        return None
    for s, h, label in curve:  # a measured point at exactly this size needs no interpolation
        if s == size:
            return h, label
    for (s0, h0, l0), (s1, h1, l1) in itertools.pairwise(curve):
        if s0 < size < s1:
            t = (math.log(size) - math.log(s0)) / (math.log(s1) - math.log(s0))
            return h0 + t * (h1 - h0), f"between {l0} and {l1}"
    raise AssertionError("unreachable: size lies inside the curve's range")


def _compared(cs: dict[str, Curve], m: str, base: str,
              ) -> list[tuple[float, float, str, tuple[float, str] | None]]:
    """(size, HR, label, the baseline's (HR, where) at that size or None) for every point of MGQE curve m."""
    return [(size, hr, label, at_size(cs[base], size)) for size, hr, label in cs[m]]


class Tally(NamedTuple):
    """One (MGQE curve, baseline) pair over the MGQE points inside the baseline's size range."""

    above: int  # points at or above the baseline
    compared: int  # points compared
    close: int  # of those, points whose gap is smaller than their own seed std (one more seed could flip it)


def _close(st: dict[str, float], hr: float, ref: float) -> bool:
    """The gap hr - ref is smaller than the MGQE point's sample std over its seeds (st; needs 2+ seeds)."""
    return st["n"] > 1 and abs(hr - ref) < st["std"]


def equal_size_tally(rows: list[dict[str, Any]]) -> dict[tuple[str, str], Tally]:
    """(MGQE curve, baseline) -> its Tally, for every pair in PAIRS whose two curves have finished points; a
    pair with no point inside the baseline's size range tallies (0, 0, 0)."""
    cs = curves(rows)
    spread = _spread(rows)
    out = {}
    for m, bases in PAIRS.items():
        for base in bases:
            if m in cs and base in cs:
                got = [(hr >= ref[0], _close(spread[(m, label)], hr, ref[0]))
                       for _, hr, label, ref in _compared(cs, m, base) if ref is not None]
                out[(m, base)] = Tally(sum(a for a, _ in got), len(got), sum(c for _, c in got))
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
    """Markdown bullets: every MGQE point against each of its PAIRS baselines at the same size, then a verdict
    per (MGQE curve, baseline) over the points that could be compared. A gap smaller than the MGQE point's
    own seed std is flagged, since one more seed could flip it."""
    cs = curves(rows)
    spread = _spread(rows)
    lines: list[str] = []
    for m, bases in PAIRS.items():
        for base in bases:
            if m not in cs or base not in cs:
                continue
            above: list[bool] = []
            for size, hr, label, got in _compared(cs, m, base):
                if got is None:
                    lines.append(f"- {m} {label} ({size:.1f}%): outside {base}'s measured sizes "
                                 f"({cs[base][0][0]:.1f}-{cs[base][-1][0]:.1f}%), not compared")
                    continue
                ref, where = got
                above.append(hr >= ref)
                st = spread[(m, label)]
                close = ", within one seed std" if _close(st, hr, ref) else ""
                lines.append(f"- {m} {label} ({size:.1f}%): HR@10 {fmt_seeds(st)} vs {base} {ref:.2f} "
                             f"at that size ({where}): {'above' if hr >= ref else 'below'}{close}")
            if above:
                lines.append(f"- **{m} above {base} at every compared size: {all(above)}** "
                             f"({sum(above)} of {len(above)} points)")
    return lines
