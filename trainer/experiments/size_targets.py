"""Model size against the issue's targets and the paper's sizes, read from a report's aggregated rows.

Whole-model size % (Table 1 embedding bits plus dense float32 weights) depends on how much of the backbone is
dense weights, and ours need not match the paper's. With fractions of the FE model, a row whose embedding
tables are at e (of FE's tables) and whose backbone's dense share is s has whole size w = e (1 - s) + s, so
s = (w - e) / (1 - e) from any compressed row, and the paper's s follows from its SQ row the same way (8-bit
SQ tables are at the e of our SQ row). Nothing here is measured: it is arithmetic on the rows and on the
paper's quoted sizes.
"""

from __future__ import annotations

from typing import Any

# Issue #4's targets: MGQE must match FE at no more than this whole-model size % of the backbone.
TARGET_SIZE: dict[str, float] = {"gmf": 21.0, "neumf": 25.0, "sasrec": 28.0}


def dense_share(whole: float, emb: float) -> float:
    """Dense share s of the FE model (fraction) from one row's whole and embedding size % (emb < 100).

    The paper's sizes are rounded (GMF's SQ is "25%" with tables at 25.03%), so a share a rounding below
    zero means no dense weights."""
    return max(0.0, (whole - emb) / (100.0 - emb))


def emb_for_whole(whole: float, s: float) -> float:
    """Embedding size % that gives `whole` % of the model when its dense share is s (fraction)."""
    return (whole - 100.0 * s) / (1.0 - s)


Paper = dict[tuple[str, str], tuple[float, float, float]]


def size_lines(rows: list[dict[str, Any]], paper: Paper) -> list[str]:
    """Markdown bullets per backbone with a size target: our and the paper's dense share, the embedding size
    the whole-model target allows under each, and where each finished MGQE row stands."""
    out = []
    for g, target in TARGET_SIZE.items():
        mine = [r for r in rows
                if r["group"] == g and "emb_size_percent" in r and r["emb_size_percent"] < 99.9]
        if not mine:
            continue
        s = dense_share(mine[0]["size_percent"], mine[0]["emb_size_percent"])
        line = (f"- {g}: dense float32 weights are {100 * s:.1f}% of our FE model; at the target "
                f"(≤ {target:g}% of the whole model) the embedding tables may be "
                f"≤ {emb_for_whole(target, s):.1f}% of FE's")
        sq = next((r for r in mine if r["row"] == "SQ"), None)
        if sq is not None and (g, "SQ") in paper:
            sp = dense_share(paper[(g, "SQ")][2], sq["emb_size_percent"])
            line += (f". The paper's SQ size ({paper[(g, 'SQ')][2]:g}%, tables at "
                     f"{sq['emb_size_percent']:.1f}%) "
                     f"implies dense weights at {100 * sp:.1f}% of its model, where the target allows tables "
                     f"≤ {emb_for_whole(target, sp):.1f}%")
            if (g, "MGQE") in paper:
                line += (f"; its MGQE size ({paper[(g, 'MGQE')][2]:g}%) is tables at "
                         f"{emb_for_whole(paper[(g, 'MGQE')][2], sp):.1f}%")
        out.append(line)
        for r in mine:
            if r["row"].startswith("MGQE"):
                out.append(f"  - {r['row']}: {r['size_percent']:.1f}% of the model, tables "
                           f"{r['emb_size_percent']:.1f}%; whole-model size within the target: "
                           f"**{r['size_percent'] <= target}**")
    return out
