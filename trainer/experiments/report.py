"""Reports generated from cached cell records only: results/<name>.json and .md (+ .png for figures).

Nothing here is typed by hand: every number comes from a record in results/cache/. Unfinished cells are
listed as such.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from mgqe.trainer.config import config_hash
from mgqe.trainer.experiments.cells import Cell, item_arrays_path
from mgqe.trainer.experiments.size_targets import size_lines

COMMAND = "mgqe-train experiment {name}"

# The paper's reported values (Kang et al., Tables 3 and 4, mean of 10 runs): HR@10, NDCG@10, size %.
# Quoted for comparison only; they never enter our numbers.
PAPER: dict[tuple[str, str], tuple[float, float, float]] = {
    ("gmf", "FE"): (7.79, 3.88, 100.0), ("gmf", "LRF"): (7.20, 3.65, 75.5), ("gmf", "SQ"): (7.82, 3.92, 25.0),
    ("gmf", "DPQ"): (7.92, 3.95, 30.4), ("gmf", "MGQE"): (8.03, 3.98, 20.7),
    ("neumf", "FE"): (7.88, 3.90, 100.0), ("neumf", "LRF"): (7.41, 3.70, 77.3),
    ("neumf", "SQ"): (7.99, 3.96, 29.0), ("neumf", "DPQ"): (7.79, 3.90, 34.1),
    ("neumf", "MGQE"): (8.04, 3.98, 24.4),
    ("sasrec", "FE"): (20.36, 8.88, 100.0), ("sasrec", "LRF"): (20.07, 9.21, 74.3),
    ("sasrec", "SQ"): (20.04, 8.72, 31.5), ("sasrec", "DPQ"): (20.23, 8.81, 38.3),
    ("sasrec", "MGQE"): (20.36, 8.88, 27.5),
}
# Its Table 6 (the MGQE variants, rows labelled as in suite.VARIANTS): HR@10, NDCG@10; sizes not reported
PAPER_VARIANTS: dict[tuple[str, str], tuple[float, float]] = {
    ("gmf", "shared K=[256,64]"): (8.03, 3.98), ("gmf", "unshared K=[256,64]"): (7.79, 3.85),
    ("gmf", "unshared D=[64,32]"): (7.89, 3.96),
    ("neumf", "shared K=[256,64]"): (8.04, 3.98), ("neumf", "unshared K=[256,64]"): (8.22, 4.04),
    ("neumf", "unshared D=[64,32]"): (7.66, 3.72),
    ("sasrec", "shared K=[256,64]"): (20.36, 8.88), ("sasrec", "unshared K=[256,64]"): (20.14, 8.84),
    ("sasrec", "unshared D=[64,32]"): (20.27, 8.83),
}


def embedding_size_percent(rec: dict[str, Any]) -> float:
    """Size of the embedding tables alone (Table 1 terms, dense float32 weights excluded) as a percentage of
    the full-embedding tables, from a cell record: the dense count comes from the same backbone with FE
    tables on a tiny vocabulary (the dense weights of every backbone here do not depend on the vocabulary)."""
    import dataclasses

    from mgqe.trainer.config import from_dict
    from mgqe.trainer.models.factory import build_model, dense_param_count

    cfg = from_dict(rec["config"])
    fe = dataclasses.replace(cfg, method="fe")
    dense_bits = 32 * dense_param_count(build_model(fe, fe.model_spec(4, 4), 4))
    size = rec["size"]
    return 100.0 * (size["bits"] - dense_bits) / (size["fe_bits"] - dense_bits)


def seed_stats(xs: list[float]) -> dict[str, float]:
    """{mean, std (sample), n} of one metric over seeds."""
    a = np.asarray(xs, dtype=np.float64)
    return {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if a.size > 1 else 0.0, "n": int(a.size)}


def fmt_stats(s: dict[str, float] | None, digits: int = 2) -> str:
    """"mean ± std", the mean alone for one seed, "not run" for None."""
    if s is None:
        return "not run"
    return f"{s['mean']:.{digits}f} ± {s['std']:.{digits}f}" if s["n"] > 1 else f"{s['mean']:.{digits}f}"


def fmt_seeds(s: dict[str, float]) -> str:
    """"mean ± std (n seeds)", or "mean (1 seed)": a seed_stats() result with its seed count spelled out."""
    return f"{s['mean']:.2f} ± {s['std']:.2f} ({s['n']} seeds)" if s["n"] > 1 else f"{s['mean']:.2f} (1 seed)"


def aggregate(done: list[tuple[Cell, dict[str, Any] | None]]) -> list[dict[str, Any]]:
    """One row per (group, row): test metrics mean ± std over finished seeds, size, seeds finished/planned."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for c, rec in done:
        r = rows.setdefault((c.group, c.row), {"group": c.group, "row": c.row, "planned_seeds": [],
                                               "finished_seeds": [], "records": []})
        r["planned_seeds"].append(c.cfg.seed)
        if rec is not None:
            r["finished_seeds"].append(c.cfg.seed)
            r["records"].append(rec)
    out = []
    for r in rows.values():
        recs = r.pop("records")
        if recs:
            keys = [k for k in recs[0]["metrics"]["test"] if k != "users"]
            r["test"] = {k: seed_stats([x["metrics"]["test"][k] for x in recs]) for k in keys}
            r["valid"] = {k: seed_stats([x["metrics"]["valid"][k] for x in recs]) for k in keys}
            r["size_percent"] = recs[0]["size"]["percent"]
            r["size_bits"] = recs[0]["size"]["bits"]
            if "config" in recs[0]:
                r["emb_size_percent"] = embedding_size_percent(recs[0])
            r["seconds"] = seed_stats([x["seconds"] for x in recs])
            r["best_epoch"] = [x["best_epoch"] for x in recs]
            r["config_hashes"] = [x["config_hash"] for x in recs]
        out.append(r)
    return out


def paper_numbers(group: str, row: str) -> tuple[float, float, float] | None:
    """The paper's Table 3/4 (HR@10, NDCG@10, size %) for a row, or None. Rows that vary a training option
    of a paper method ("MGQE ref-STE", "LRF init 0.1") stand beside that method's numbers, which the paper
    measured once."""
    return PAPER.get((group, row)) or PAPER.get((group, row.split(" ")[0]))


def _table_md(name: str, rows: list[dict[str, Any]]) -> str:
    regression = any("rmse" in r.get("test", {}) for r in rows)
    cols = ["RMSE"] if regression else ["HR@10", "NDCG@10"]
    lines = [f"| backbone | method | {' | '.join(cols)} | size % | emb. size % | seeds done / planned "
             f"| s per run | paper HR / NDCG / size % |", "|" + "---|" * (len(cols) + 7)]
    for r in rows:
        t = r.get("test")
        vals = [fmt_stats(t["rmse"], 3)] if regression and t else (
            [fmt_stats(t["hr@10"]), fmt_stats(t["ndcg@10"])] if t else ["not run"] * len(cols))
        size = f"{r['size_percent']:.1f}" if "size_percent" in r else "—"
        emb = f"{r['emb_size_percent']:.1f}" if "emb_size_percent" in r else "—"
        secs = f"{r['seconds']['mean']:.0f}" if "seconds" in r else "—"
        variant = PAPER_VARIANTS.get((r["group"], r["row"]))
        paper = (*variant, None) if variant else paper_numbers(r["group"], r["row"])
        ref = " / ".join("—" if x is None else f"{x:g}" for x in paper) if paper else "—"
        lines.append(f"| {r['group']} | {r['row']} | {' | '.join(vals)} | {size} | {emb} | "
                     f"{len(r['finished_seeds'])} / {len(r['planned_seeds'])} | {secs} | {ref} |")
    return "\n".join(lines)


def _plot(name: str, path: Path, done: list[tuple[Cell, dict[str, Any] | None]], results: Path,
          rows: list[dict[str, Any]]) -> str:
    """Draw the figure of `name` into path from its cells (`rows`: their aggregate, which fig6 plots);
    returns a Markdown note (e.g. the fig8 diagonal verdict)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    finished = [(c, r) for c, r in done if r is not None]
    if name == "fig6":
        from mgqe.trainer.experiments.curves import error_bars

        fig, ax = plt.subplots(figsize=(6, 4))
        curves = error_bars(rows)
        for group, pts in curves.items():
            ax.errorbar([x for x, _, _ in pts], [m for _, m, _ in pts], yerr=[sd for _, _, sd in pts],
                        marker="o", capsize=3, label=group)
        ax.set_xscale("log")
        ax.set_xlabel("model size, % of FE d=64 (Table 1 bits)")
        ax.set_ylabel("test HR@10 (%), mean ± std over seeds")
        ax.set_title("GMF on ml-1m (SASRec 5-core)")
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
        note = "" if curves else "The FE d=64 cell has not finished, so no size axis could be drawn."
    elif name == "fig7":
        bbs = list(dict.fromkeys(c.group for c, _ in done))
        fig, axes = plt.subplots(1, max(len(bbs), 1), figsize=(4 * max(len(bbs), 1), 3.5), squeeze=False)
        for ax, bb in zip(axes[0], bbs, strict=False):
            for c, r in finished:
                if c.group == bb:
                    h = r["history"]
                    ax.plot([e["epoch"] for e in h], [e["loss"] for e in h], label=c.row)
            ax.set_title(bb)
            ax.set_xlabel("epoch")
            ax.set_ylabel("training loss")
            if ax.get_legend_handles_labels()[0]:
                ax.legend()
            else:
                ax.text(0.5, 0.5, "not run yet", ha="center", va="center", transform=ax.transAxes)
        note = ""
    else:  # fig8
        from mgqe.trainer.experiments.genres import GENRES, genre_similarity

        n_rows = max(len(dict.fromkeys(c.row for c, _ in done)), 1)
        fig, axes = plt.subplots(1, n_rows, figsize=(4.5 * n_rows, 4), squeeze=False)
        verdicts = []
        for ax, (c, r) in zip(axes[0], finished, strict=False):
            sim, counts, shares = genre_similarity(item_arrays_path(results, r["config_hash"]), c.cfg)
            im = ax.imshow(sim, cmap="viridis")
            ax.set_xticks(range(len(GENRES)), GENRES, rotation=30)
            ax.set_yticks(range(len(GENRES)), GENRES)
            ax.set_title(f"GMF {c.row}\nmean code similarity")
            fig.colorbar(im, ax=ax)
            diag = bool(all(sim[i, i] >= sim[i].max() - 1e-12 for i in range(len(GENRES))))
            verdicts.append(f"- {c.row}: movies per genre {dict(zip(GENRES, counts, strict=True))}; share in "
                            f"the head group {dict(zip(GENRES, np.round(shares, 2).tolist(), strict=True))}; "
                            f"diagonal dominates every row: **{diag}**; matrix "
                            f"{json.dumps(np.round(sim, 4).tolist())}")
        note = "\n".join(verdicts)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return note


class MissingItemArraysError(FileNotFoundError):
    """Figure 8 draws a finished cell whose run directory holds no item_arrays.npz (run directories are not
    kept in git, so a fresh checkout has none): nothing is written, the committed report stays as it is."""


def _check_item_arrays(done: list[tuple[Cell, dict[str, Any] | None]], results: Path) -> None:
    paths = [(c.row, item_arrays_path(results, r["config_hash"])) for c, r in done if r is not None]
    absent = [f"{row} ({path})" for row, path in paths if not path.is_file()]
    if absent:
        raise MissingItemArraysError(
            "fig8 draws the item codes saved beside each finished cell, and these are missing: "
            + "; ".join(absent) + ". Run directories are not kept in git, so a fresh checkout has none; the "
            "report was left unchanged. To redraw it, move those cells' results/cache/<hash>.json aside and "
            "rerun `mgqe-train experiment fig8`: it retrains them, and the reports sharing those cells "
            "(table3, fig6) then read the retrained records.")


def write_report(name: str, done: list[tuple[Cell, dict[str, Any] | None]], results: Path,
                 stem: str | None = None, command: str | None = None) -> dict[str, Any]:
    """Write results/<stem>.json and .md (and .png for figures) from the cached records in `done`.

    stem defaults to `name`; a run with config overrides (e.g. --set epochs=40) gets its own stem.
    Raises MissingItemArraysError (before writing anything) for fig8 cells without their item arrays."""
    if name == "fig8":
        _check_item_arrays(done, results)
    results.mkdir(parents=True, exist_ok=True)
    stem = stem or name
    command = command or COMMAND.format(name=name)
    rows = aggregate(done)
    if name == "fig6":  # one size axis for the sweep: % of the d=64 FE GMF, not of each row's own FE
        ref = next((r["size_bits"] for r in rows
                    if (r["group"], r["row"]) == ("FE", "d=64") and "size_bits" in r), None)
        for r in rows:
            if "size_bits" in r:
                r["size_percent"] = 100.0 * r["size_bits"] / ref if ref else float("nan")
    missing = [f"{c.group}/{c.row}/seed {c.cfg.seed} ({config_hash(c.cfg)})" for c, r in done if r is None]
    report: dict[str, Any] = {"experiment": name, "command": command, "rows": rows,
                              "unfinished_cells": missing}
    md = [f"# {stem}", "", f"Generated from `results/cache/` by `{command}` "
          "(test split; mean ± sample std over the finished seeds).", ""]
    png = results / f"{stem}.png"
    if name.startswith("fig") and any(r is not None for _, r in done):
        note = _plot(name, png, done, results, rows)
        report["png"] = png.name
        md += [f"![{name}]({png.name})", "", note, ""]
    else:  # a plot of cells that are no longer in this report would be a stale claim
        png.unlink(missing_ok=True)
    md += [_table_md(name, rows), ""]
    checks = target_check(rows)
    if checks:
        md += ["Compressed vs full embedding (test HR@10):", *checks, ""]
    sizes = size_lines(rows, PAPER) if name in ("table3", "table4") else []
    if sizes:
        md += ["Model size against the targets (arithmetic on the rows above, "
               "`mgqe.trainer.experiments.size_targets`):", *sizes, ""]
    if name == "fig6":
        from mgqe.trainer.experiments.curves import CLOSE_SE, equal_size_check

        eq = equal_size_check(rows)
        report["equal_size"] = eq
        if eq:
            md += ["MGQE vs the other curves at equal model size (test HR@10, baseline interpolated in log "
                   "size between its two neighbouring points; each HR@10 the mean over the point's finished "
                   "seeds; a gap's standard error combines the seed spreads of the points it is read from, "
                   f"and a gap within {CLOSE_SE:g} of them does not tell the curves apart):", *eq, ""]
    if missing:
        md += ["Unfinished cells (not yet trained):", *[f"- {m}" for m in missing], ""]
    (results / f"{stem}.json").write_text(json.dumps(report, indent=1))
    (results / f"{stem}.md").write_text("\n".join(md))
    return report


def target_check(rows: list[dict[str, Any]]) -> list[str]:
    """Markdown bullets: each compressed row's test HR@10 against its backbone's FE (difference, and whether
    it lies within one FE standard deviation when FE has >= 2 seeds)."""
    fe = {r["group"]: r for r in rows if r["row"] == "FE" and "test" in r}
    out = []
    for r in rows:
        base = fe.get(r["group"])
        if r["row"] == "FE" or base is None or "test" not in r or "hr@10" not in r["test"]:
            continue
        m, b = r["test"]["hr@10"], base["test"]["hr@10"]
        diff = m["mean"] - b["mean"]
        verdict = (f"within one FE std ({b['std']:.2f}): **{diff >= -b['std']}**" if b["n"] > 1
                   else "one FE seed only: no std to compare against")
        out.append(f"- {r['group']} {r['row']} ({r['size_percent']:.1f}% size): HR@10 {m['mean']:.2f} vs FE "
                   f"{b['mean']:.2f} (difference {diff:+.2f}; {m['n']} vs {b['n']} seeds); {verdict}")
    return out


# The page's prose, kept as Markdown beside this module (edited as prose, not as Python strings): the intro
# (setup, sizes, hardware) opens results/README.md; the reading follows the scorecard. Both stay
# qualitative: every number they refer to lives in the generated tables.
PROSE = Path(__file__).parent


def remaining_seconds(rows: list[dict[str, Any]]) -> tuple[float, int]:
    """(estimated seconds, cells with no estimate) for the unfinished seeds of a report's rows: each at its
    row's mean run time, or at the mean over its backbone's timed rows when the row has none."""
    by_group: dict[str, list[float]] = {}
    for r in rows:
        if "seconds" in r:
            by_group.setdefault(r["group"], []).append(r["seconds"]["mean"])
    est, unknown = 0.0, 0
    for r in rows:
        n_left = len(r["planned_seeds"]) - len(r["finished_seeds"])
        if n_left <= 0:
            continue
        if "seconds" in r:
            est += n_left * r["seconds"]["mean"]
        elif by_group.get(r["group"]):
            est += n_left * sum(by_group[r["group"]]) / len(by_group[r["group"]])
        else:
            unknown += n_left
    return est, unknown


def write_index(results: Path) -> Path:
    """results/README.md: the intro (results_intro.md), the scorecard, the reading (results_reading.md) and
    its claims checked (reading_claims.py), then every experiment report present, with its command."""
    from mgqe.trainer.experiments.claims import cell_cache, checked, load_reports
    from mgqe.trainer.experiments.claims import stems as claim_stems
    from mgqe.trainer.experiments.reading_claims import CLAIMS
    from mgqe.trainer.experiments.scorecard import alt_stems, scorecard
    from mgqe.trainer.experiments.suite import EXPERIMENTS

    # every report the scorecard and the reading's claims read, each loaded once
    reports = load_reports(results, {*EXPERIMENTS, *alt_stems(), *claim_stems(CLAIMS)})
    intro, reading = ((PROSE / f).read_text() for f in ("results_intro.md", "results_reading.md"))
    parts = [intro, "\n".join(scorecard(reports)) + "\n", reading,
             "\n".join(checked(CLAIMS, reports, cell_cache(results))) + "\n"]
    total = left = 0.0
    unknown = 0
    stems = []
    for name in EXPERIMENTS:
        if not (results / f"{name}.json").is_file():
            parts.append(f"## {name}\n\nNot run yet: `{COMMAND.format(name=name)}`.\n")
        stems += [name] if (results / f"{name}.json").is_file() else []
        stems += sorted(p.stem for p in results.glob(f"{name}-*.json"))
    for name in stems:
        j, md = results / f"{name}.json", results / f"{name}.md"
        if not md.is_file():
            continue
        rep = json.loads(j.read_text())
        secs = sum(r["seconds"]["mean"] * len(r["finished_seeds"]) for r in rep["rows"] if "seconds" in r)
        est, n_unknown = remaining_seconds(rep["rows"])
        if name in EXPERIMENTS:  # the suite itself; reports with overrides are side checks
            total += secs
            left += est
            unknown += n_unknown
        body = md.read_text().split("\n", 1)[1]  # drop the report's own title
        no_est = f" plus {n_unknown} cells with no timed cell of their backbone" if n_unknown else ""
        parts.append(f"## {name}\n\nCommand: `{rep['command']}`; training time of its finished cells: "
                     f"{secs / 60:.1f} min; unfinished cells: {len(rep['unfinished_cells'])}, estimated "
                     f"{est / 60:.1f} min more{no_est}.\n{body}")
    no_est = f", plus {unknown} cells that cannot be estimated yet" if unknown else ""
    parts.append(f"The suite (the reports without `--set` overrides; cells shared between reports counted "
                 f"once per report): {total / 60:.1f} min of training in its finished cells; its unfinished "
                 f"cells need an estimated {left / 60:.1f} min more, one at a time on this machine (each at "
                 f"its row's mean time, or its backbone's mean where the row has no finished seed)"
                 f"{no_est}.\n")
    out = results / "README.md"
    out.write_text("\n".join(parts))
    return out
