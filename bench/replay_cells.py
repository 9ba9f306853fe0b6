"""Replay the first epochs of cached experiment cells with today's code and compare the training losses.

Experiment cells are cached by config hash and kept across commits, so a cell trained today (say seed 3,
added long after seeds 0-2) belongs in the same row as the older ones only if today's code trains a cell
the way the code that trained them did. For each selected cell this retrains its config from scratch for
`--epochs` epochs (same seed, same data load shared across cells as `mgqe-train experiment` does, CPU) and
compares each epoch's mean training loss with the loss the cell recorded. The same code path reproduces
them up to floating-point summation noise; a change in sampling, initialisation, model or loss moves them
by orders of magnitude more than `--rtol`.

    MGQE_DATA_DIR=../shared/data nice -n 10 .venv/bin/python bench/replay_cells.py \\
        --report results/table3.json --report results/table4.json --epochs 1

Exit status: 0 when every cell replays the same, 1 when one does not, 2 on a flag or record it cannot use.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from machine import cpu_name
from md_sections import write_page
from mgqe.trainer.config import TrainConfig


class ReplayError(RuntimeError):
    """A selection, cache record or flag the replay cannot use; the message says which and why."""


def parse_select(spec: str) -> dict[str, Any]:
    """'model=sasrec,method=fe,seed=2' -> {"model": "sasrec", "method": "fe", "seed": 2} (values read as
    JSON where they parse, else as strings)."""
    out: dict[str, Any] = {}
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        key, eq, val = part.partition("=")
        if not eq or not key.strip():
            raise ReplayError(f"--select takes KEY=VALUE pairs separated by commas, got {part!r}")
        try:
            out[key.strip()] = json.loads(val)
        except json.JSONDecodeError:
            out[key.strip()] = val.strip()
    return out


def _read(path: Path) -> dict[str, Any]:
    try:
        out = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ReplayError(f"cannot read {path}: {e}") from None
    if not isinstance(out, dict):
        raise ReplayError(f"{path} does not hold a JSON object")
    return out


def report_cells(reports: list[Path]) -> list[str]:
    """The oldest finished cell (by seed, the first the report lists) of every row of these experiment
    reports (results/<name>.json): one replay per row covers every code version the row mixes only if
    later seeds match it too, so this is the cheap check, not the exhaustive one."""
    hashes: list[str] = []
    for path in reports:
        rows = _read(path).get("rows")
        if not isinstance(rows, list):
            raise ReplayError(f"{path} is not an experiment report (no list of rows)")
        hashes += [r["config_hashes"][0] for r in rows if r.get("config_hashes")]
    return list(dict.fromkeys(hashes))  # rows shared between reports (table3 and fig6) replay once


def select_cells(results: Path, select: dict[str, Any], hashes: list[str]) -> list[dict[str, Any]]:
    """The cache records named by `hashes`, or else every record whose config matches all of `select`,
    oldest first (by provenance time)."""
    cache = results / "cache"
    if not cache.is_dir():
        raise ReplayError(f"{cache} is not a directory: no experiment cell has been cached there")
    if hashes:
        missing = [h for h in hashes if not (cache / f"{h}.json").is_file()]
        if missing:
            raise ReplayError(f"no cached cell {missing} under {cache}")
        recs = [_read(cache / f"{h}.json") for h in hashes]
    else:
        recs = [_read(p) for p in sorted(cache.glob("*.json"))]
        recs = [r for r in recs if all(r.get("config", {}).get(k) == v for k, v in select.items())]
        if not recs:
            raise ReplayError(f"no cached cell under {cache} has a config matching {select}")
    return sorted(recs, key=lambda r: str(r.get("provenance", {}).get("time", "")))


def check(rec: dict[str, Any], epochs: int) -> tuple[TrainConfig, list[float]]:
    """The record's config (rebuilt with today's defaults) and its first `epochs` recorded epoch losses;
    a ReplayError when either cannot be used. Every record is checked before any trains."""
    from mgqe.trainer.config import config_hash, from_dict

    h = rec.get("config_hash", "?")
    cfg = from_dict(rec["config"])
    if config_hash(cfg) != h:  # a default changed under an old record: today's config is another cell
        raise ReplayError(f"cell {h}'s config hashes to {config_hash(cfg)} with today's defaults")
    recorded = [e["loss"] for e in rec.get("history", []) if "loss" in e][:epochs]
    if len(recorded) < epochs:
        raise ReplayError(f"cell {h} recorded {len(recorded)} epoch losses, fewer than --epochs {epochs}")
    return cfg, recorded


def replay(rec: dict[str, Any], cfg: TrainConfig, recorded: list[float], rtol: float,
           loaded: dict[tuple[str, ...], Any]) -> dict[str, Any]:
    """Retrain `cfg` (check's result for `rec`) for as many epochs as `recorded` holds; the recorded and
    replayed losses side by side."""
    from mgqe.trainer.train import load_data, train_model

    epochs = len(recorded)
    key = (cfg.dataset, cfg.task, str(cfg.data_dir), json.dumps(cfg.data_kwargs, sort_keys=True))
    if key not in loaded:  # the experiment runner, too, trains every cell on one shared data load
        loaded[key] = load_data(cfg)
    with tempfile.TemporaryDirectory() as tmp:
        run = cfg.replace(epochs=epochs, out_dir=tmp, progress=False, device="cpu")
        got = [e["loss"] for e in train_model(run, data=loaded[key]).history if "loss" in e][:epochs]
    if len(got) != epochs:  # e.g. early stopping inside the replayed epochs
        raise ReplayError(f"cell {rec['config_hash']} replayed {len(got)} epochs, not {epochs}")
    rel = [abs(a - b) / max(abs(b), 1e-12) for a, b in zip(got, recorded, strict=True)]
    prov = rec.get("provenance", {})
    return {"config_hash": rec["config_hash"], "model": cfg.model, "method": cfg.method, "seed": cfg.seed,
            "trained_at": prov.get("git_commit"), "trained_time": prov.get("time"),
            "recorded": recorded, "replayed": got, "max_rel_diff": max(rel), "same": max(rel) <= rtol}


def git_commit() -> str:
    """HEAD of the checkout this script runs from (the code being replayed), or 'unknown' outside git."""
    r = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
                       capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else "unknown"


def markdown(res: dict[str, Any]) -> str:
    n_same = sum(c["same"] for c in res["cells"])
    lines = ["# Cached cells replayed with today's code", "",
             f"Generated by `{res['command']}` at commit `{res['git_commit'][:10]}` on {res['hardware']}.",
             f"Each cell's config retrained from scratch for its first "
             f"{'epoch' if res['epochs'] == 1 else str(res['epochs']) + ' epochs'}; "
             f"the epoch losses compared with the ones the cell recorded (same = every relative difference "
             f"≤ {res['rtol']:g}).", "",
             f"**{n_same} of {len(res['cells'])} cells replay the same.**", "",
             "| cell | model | method | seed | trained at | recorded loss | replayed loss | max rel. diff "
             "| same |",
             "|---|---|---|---|---|---|---|---|---|"]
    for c in res["cells"]:
        rec = ", ".join(f"{x:.6f}" for x in c["recorded"])
        got = ", ".join(f"{x:.6f}" for x in c["replayed"])
        lines.append(f"| `{c['config_hash']}` | {c['model']} | {c['method']} | {c['seed']} | "
                     f"`{str(c['trained_at'])[:10]}` ({str(c['trained_time'])[:10]}) | {rec} | {got} | "
                     f"{c['max_rel_diff']:.1e} | {'yes' if c['same'] else '**no**'} |")
    return "\n".join(lines) + "\n"


def rendered(path: Path) -> dict[str, Any]:
    """An earlier run's raw results (--out-json), checked to hold what markdown() reads."""
    res = _read(path)
    keys = ("command", "git_commit", "epochs", "rtol", "hardware", "cells")
    missing = [k for k in keys if k not in res]
    if missing or not isinstance(res["cells"], list):
        raise ReplayError(f"{path} is not a replay_cells result: missing {missing or ['cells as a list']}")
    cell_keys = ("config_hash", "model", "method", "seed", "trained_at", "trained_time", "recorded",
                 "replayed", "max_rel_diff", "same")
    for i, c in enumerate(res["cells"]):
        gone = [k for k in cell_keys if not isinstance(c, dict) or k not in c]
        if gone:
            raise ReplayError(f"{path}: cell {i} lacks {gone}")
    return res


def main(argv: list[str] | None = None) -> int:
    from tqdm import tqdm

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", type=Path, default=Path("results"),
                   help="results directory whose cache/ holds the cell records (default: results)")
    p.add_argument("--select", default="", help="replay every cached cell whose config has these values, "
                                                "e.g. model=sasrec,method=fe (values read as JSON)")
    p.add_argument("--report", type=Path, action="append", default=[],
                   help="replay the first finished cell of every row of this experiment report, e.g. "
                        "results/table3.json (repeatable)")
    p.add_argument("--cells", default="", help="replay these cells instead, by config hash, comma-separated")
    p.add_argument("--epochs", type=int, default=3, help="epochs to replay per cell (default: 3)")
    p.add_argument("--rtol", type=float, default=1e-4,
                   help="largest relative loss difference still called the same (default: 1e-4)")
    p.add_argument("--out-json", type=Path, default=Path("results/replay_cells.json"),
                   help="raw results (default: results/replay_cells.json)")
    p.add_argument("--out-md", type=Path, default=Path("docs/replay-cells.md"),
                   help="Markdown page (default: docs/replay-cells.md)")
    p.add_argument("--render", type=Path, metavar="JSON",
                   help="replay nothing: rewrite --out-md from the raw results of an earlier run (a page "
                        "whose layout changed, without retraining)")
    a = p.parse_args(argv)
    if a.render is not None:
        try:
            if a.select or a.cells or a.report:
                raise ReplayError("--render replays nothing: drop --select, --cells and --report")
            res = rendered(a.render)
        except ReplayError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        write_page(a.out_md, markdown(res))
        print(a.out_md.read_text())
        return 0 if all(c["same"] for c in res["cells"]) else 1
    hashes = [h.strip() for h in a.cells.split(",") if h.strip()]
    try:
        if a.epochs < 1:
            raise ReplayError(f"--epochs must be at least 1, got {a.epochs}")
        if not a.rtol > 0:
            raise ReplayError(f"--rtol must be positive, got {a.rtol}")
        select = parse_select(a.select)
        if sum(map(bool, (select, hashes, a.report))) != 1:
            raise ReplayError("give exactly one of --select, --cells and --report")
        recs = select_cells(a.results, select, hashes or report_cells(a.report))
        checked = [(r, *check(r, a.epochs)) for r in recs]  # every record usable before any trains
        loaded: dict[tuple[str, ...], Any] = {}
        cells = [replay(r, cfg, recorded, a.rtol, loaded)
                 for r, cfg, recorded in tqdm(checked, desc="replay", unit="cell")]
    except ReplayError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    command = shlex.join([".venv/bin/python", "bench/replay_cells.py",
                          *(argv if argv is not None else sys.argv[1:])])
    res = {"command": command, "git_commit": git_commit(), "epochs": a.epochs, "rtol": a.rtol,
           "hardware": f"{cpu_name()} ({os.cpu_count()} CPUs), torch on CPU",
           "cells": cells}
    a.out_json.parent.mkdir(parents=True, exist_ok=True)
    a.out_json.write_text(json.dumps(res, indent=1) + "\n")
    write_page(a.out_md, markdown(res))
    print(a.out_md.read_text())
    return 0 if all(c["same"] for c in cells) else 1  # scripts can act on a cell that no longer replays


if __name__ == "__main__":
    sys.exit(main())
