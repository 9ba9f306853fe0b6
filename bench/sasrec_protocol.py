"""SASRec's full-ranking HR@10 / NDCG@10 under three masking rules, on the finished table4 checkpoints.

Why: on its first seeds our SASRec full embedding landed below the paper's HR@10 (on five seeds it reaches
it: the scorecard in results/README.md), and the paper does not say which items it removes from the
ranking. This re-scores the same trained models (best.pt of each cached cell, nothing retrained) under each
rule, so the size of that choice is measured, not guessed (what does move FE is the positional table's
start: table4's `FE pos-init 0.01` row, results/README.md):

    earlier  the project's rule: every training item of the user, and at test time the validation item
    input    only the items of the model's own input sequence (the last max_len items it reads)
    none     nothing: the user's earlier items compete with the target

Ranks are pessimistic (ties count against the model) under every rule, as in mgqe.trainer.metrics. The
`earlier` numbers must equal the cached test metrics of each cell; the script stops if they do not.

    .venv/bin/python bench/sasrec_protocol.py --rows FE,MGQE   # -> docs/sasrec-protocol.{json,md}
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
from pathlib import Path
from typing import Any

import numpy as np

RULES = ("earlier", "input", "none")


class ProtocolError(ValueError):
    """A bad flag or a missing / inconsistent input file for bench/sasrec_protocol.py."""


def load_run(run_dir: Path, data_dir: str | None, loaded: dict[tuple[Any, ...], Any] | None = None,
             ) -> tuple[Any, Any, Any]:
    """(model in eval mode with finalized tables, SplitData, SequentialRanking) of a finished SASRec run.

    loaded: (dataset, data dir, max_len) -> (split, objective), filled here, so that the runs of one
    dataset read it and build its sequences once."""
    from mgqe.trainer.config import from_dict
    from mgqe.trainer.export import load_run as load_trained
    from mgqe.trainer.train import load_data, make_objective

    for f in ("config.json", "best.pt"):
        if not (run_dir / f).is_file():
            raise ProtocolError(f"{run_dir} has no {f}: rerun its cell with mgqe-train experiment table4")
    cfg = from_dict(json.loads((run_dir / "config.json").read_text())["config"])
    if cfg.model != "sasrec":
        raise ProtocolError(f"{run_dir} is a {cfg.model} run; this diagnostic is for SASRec")
    cfg = cfg.replace(data_dir=data_dir) if data_dir is not None else cfg
    loaded = {} if loaded is None else loaded
    key = (cfg.dataset, cfg.data_dir, json.dumps(cfg.data_kwargs, sort_keys=True), cfg.max_len)
    if key not in loaded:
        split = load_data(cfg)
        loaded[key] = (split, make_objective(cfg, split))
    split, obj = loaded[key]
    _, _, model = load_trained(run_dir, data_dir, data=split)
    return model, split, obj


def mask_coords(rule: str, split: Any, seqs: np.ndarray, users: np.ndarray, which: str,
                ) -> tuple[np.ndarray, np.ndarray]:
    """(rows in the batch, item ids) to drop from the ranking of `users` under `rule`: two (M,) int64.

    seqs: (n_users, L) int64 model inputs, left-padded with n_items."""
    from mgqe.trainer.metrics import known_coords

    if rule == "none":
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if rule == "input":
        rows, pos = np.nonzero(seqs[users] < split.n_items)
        return rows.astype(np.int64), seqs[users][rows, pos]
    return known_coords(split, users, which)


def score_rules(model: Any, split: Any, obj: Any, which: str, batch: int = 512,
                ) -> dict[str, dict[str, float]]:
    """rule -> {'hr@10', 'ndcg@10'} (percent) on the valid or test targets of every user that has one."""
    import torch

    from mgqe.trainer.metrics import ranks_of_targets

    seqs = obj.valid_seq if which == "valid" else obj.test_seq
    target = split.valid if which == "valid" else split.test
    users = np.flatnonzero(target >= 0)
    hits = {r: 0.0 for r in RULES}
    gains = {r: 0.0 for r in RULES}
    with torch.no_grad():
        E = model.item(torch.arange(split.n_items))
        for lo in range(0, users.size, batch):
            u = users[lo : lo + batch]
            scores = model.score_all(torch.from_numpy(seqs[u]), E).numpy()
            for rule in RULES:
                rows, cols = mask_coords(rule, split, seqs, u, which)
                rank = ranks_of_targets(scores, target[u], rows, cols)
                hit = rank < 10
                hits[rule] += float(hit.sum())
                gains[rule] += float((1.0 / np.log2(rank[hit] + 2.0)).sum())
    return {r: {"hr@10": 100.0 * hits[r] / users.size, "ndcg@10": 100.0 * gains[r] / users.size}
            for r in RULES}


def measure(results: Path, rows: list[str], data_dir: str | None) -> dict[str, Any]:
    """Per table4 row: per-seed and mean ± std metrics under every rule, on valid and test."""
    from tqdm import tqdm

    from mgqe.trainer.experiments.report import seed_stats

    report_path = results / "table4.json"
    if not report_path.is_file():
        raise ProtocolError(f"{report_path} not found: run mgqe-train experiment table4 first")
    report = {r["row"]: r for r in json.loads(report_path.read_text())["rows"] if r["group"] == "sasrec"}
    unknown = [r for r in rows if r not in report]
    if unknown:
        raise ProtocolError(f"table4 has no row {unknown}; its rows: {sorted(report)}")
    out: dict[str, Any] = {}
    loaded: dict[tuple[Any, ...], Any] = {}  # one dataset load for all rows
    for row in rows:
        hashes = report[row].get("config_hashes", [])
        if not hashes:
            raise ProtocolError(f"table4 row {row!r} has no finished cell")
        # run directories are not committed (only the cache records are): a cell trained on another machine
        # has no checkpoint here and is listed as skipped
        here = [h for h in hashes if (results / "runs" / h / "best.pt").is_file()]
        if not here:
            raise ProtocolError(f"table4 row {row!r}: no checkpoint of its cells {hashes} under "
                                f"{results}/runs")
        seeds = []
        for h in tqdm(here, desc=row):
            model, split, obj = load_run(results / "runs" / h, data_dir, loaded)
            cached = json.loads((results / "cache" / f"{h}.json").read_text())["metrics"]
            got = {w: score_rules(model, split, obj, w) for w in ("valid", "test")}
            for w in ("valid", "test"):
                for k in ("hr@10", "ndcg@10"):
                    if not math.isclose(got[w]["earlier"][k], cached[w][k], abs_tol=1e-9):
                        raise ProtocolError(f"{row} {h}: {w} {k} under the project's rule is "
                                            f"{got[w]['earlier'][k]}, the cache says {cached[w][k]}")
            seeds.append({"config_hash": h, **got})
        out[row] = {"seeds": seeds, "skipped_no_checkpoint": sorted(set(hashes) - set(here)), "mean": {
            w: {rule: {k: seed_stats([s[w][rule][k] for s in seeds]) for k in ("hr@10", "ndcg@10")}
                for rule in RULES} for w in ("valid", "test")}}
    return out


def markdown(res: dict[str, Any], command: str) -> str:
    from mgqe.trainer.experiments.report import fmt_stats as cell
    from mgqe.trainer.experiments.report import paper_numbers

    lines = ["# SASRec: how the masking rule moves full-ranking HR@10 and NDCG@10", "",
             f"Generated by `{command}` from the finished table4 checkpoints "
             "(`results/runs/<hash>/best.pt`), nothing retrained. Items removed from the ranking: "
             "`earlier` (the project's rule) every training item of the user and, at test time, the "
             "validation item; `input` only the items of the model's input sequence; `none` nothing. "
             "`earlier` reproduces each cell's cached metrics exactly (the script checks). Mean ± sample std "
             "over the seeds whose checkpoint is on this machine (run directories are not committed; the "
             "JSON lists the cells skipped for that).", "",
             "| row | split | rule | HR@10 | NDCG@10 | seeds | paper HR / NDCG |",
             "|---|---|---|---|---|---|---|"]
    checks = []
    for row, r in res.items():
        paper = paper_numbers("sasrec", row)
        for w in ("valid", "test"):
            for rule in RULES:
                m = r["mean"][w][rule]
                ref = f"{paper[0]:g} / {paper[1]:g}" if paper and w == "test" else "—"
                lines.append(f"| {row} | {w} | {rule} | {cell(m['hr@10'])} | {cell(m['ndcg@10'])} | "
                             f"{m['hr@10']['n']} | {ref} |")
        if paper:
            t = r["mean"]["test"]
            above = [rule for rule in RULES if paper[0] > t[rule]["hr@10"]["mean"]]
            below = [rule for rule in RULES if paper[1] < t[rule]["ndcg@10"]["mean"]]
            checks.append(f"- {row}: the paper's test HR@10 ({paper[0]:g}) is above our mean under "
                          f"{len(above)} of {len(RULES)} rules ({', '.join(above) or 'none'}); its NDCG@10 "
                          f"({paper[1]:g}) is below ours under {len(below)} of {len(RULES)} "
                          f"({', '.join(below) or 'none'}).")
    if checks:
        lines += ["", "Against the paper (test split):", *checks]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", type=Path, default=Path("results"),
                   help="results directory holding table4.json, cache/ and runs/ (default: results)")
    p.add_argument("--rows", default="FE", help="table4 rows to re-score, comma-separated (default: FE)")
    p.add_argument("--data-dir", default=None, help="data directory (default: the runs' own, $MGQE_DATA_DIR)")
    p.add_argument("--out", type=Path, default=Path("docs/sasrec-protocol"),
                   help="output path without suffix; .json and .md are written "
                        "(default: docs/sasrec-protocol)")
    a = p.parse_args(argv)
    rows = [r.strip() for r in a.rows.split(",") if r.strip()]
    if not rows:
        p.error("--rows names no row")
    try:
        res = measure(a.results, rows, a.data_dir)
    except ProtocolError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    command = shlex.join([".venv/bin/python", "bench/sasrec_protocol.py",
                          *(argv if argv is not None else sys.argv[1:])])
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.with_suffix(".json").write_text(json.dumps({"command": command, "rows": res}, indent=1))
    a.out.with_suffix(".md").write_text(markdown(res, command))
    print(a.out.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
