"""Run an experiment: train its missing cells (cached ones are skipped), then write its report."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from mgqe.trainer.config import NOT_HASHED
from mgqe.trainer.experiments.cells import Cell, CellBusyError, cached, run_cell
from mgqe.trainer.experiments.suite import cells

REPORT_SEEDS = (0, 1, 2)
# seeds beyond REPORT_SEEDS that a report picks up on its own once finished (the paper averages 10 seeds)
EXTRA_SEEDS = range(3, 10)


def report_stem(name: str, overrides: dict[str, Any] | None) -> str:
    """File stem of an experiment's report: the name plus every hashed override, e.g. table3-epochs=40."""
    hashed = {k: v for k, v in (overrides or {}).items() if k not in NOT_HASHED}
    return name + "".join(f"-{k}={json.dumps(v, separators=(',', ':'))}" for k, v in sorted(hashed.items()))


def report_cells(name: str, results: Path, seeds: list[int],
                 overrides: dict[str, Any] | None = None) -> list[tuple[Cell, dict[str, Any] | None]]:
    """(cell, cached record or None) for every cell a report of `name` covers: every backbone and row at
    seeds 0-2 and `seeds`, plus each cell of a seed in EXTRA_SEEDS that is already finished (so that row's
    "planned" seeds grow only where one ran).

    fig7 and fig8 draw the first seed's run only, so they take no extra seeds."""
    full = cells(name, sorted(set(seeds) | set(REPORT_SEEDS)), None, None, overrides)
    out = [(c, cached(results, c.cfg)) for c in full]
    if name in ("fig7", "fig8"):
        return out
    extra = [s for s in EXTRA_SEEDS if s not in {c.cfg.seed for c in full}]
    more = [(c, cached(results, c.cfg)) for c in cells(name, extra, None, None, overrides)]
    return out + [(c, rec) for c, rec in more if rec is not None]


def run_experiment(name: str, results: Path, seeds: list[int], backbones: list[str] | None = None,
                   methods: list[str] | None = None, overrides: dict[str, Any] | None = None,
                   report_only: bool = False) -> list[tuple[Cell, dict[str, Any] | None]]:
    """Train every missing cell of `name` (unless report_only), then write results/<name>.{json,md,png}.

    Returns (cell, record or None when not finished) for every cell of the experiment."""
    from mgqe.trainer.experiments.report import write_index, write_report
    from mgqe.trainer.train import load_data

    todo = cells(name, seeds, backbones, methods, overrides)
    loaded: dict[tuple[str, str, str], Any] = {}
    done: list[tuple[Cell, dict[str, Any] | None]] = []
    for i, c in enumerate(todo):
        rec = cached(results, c.cfg)
        if rec is None and not report_only:
            key = (c.cfg.dataset, c.cfg.task, str(c.cfg.data_dir))
            if key not in loaded:  # one data load serves all cells of the same dataset and task
                loaded[key] = load_data(c.cfg)
            print(f"[{name}] cell {i + 1}/{len(todo)}: {c.group} {c.row} seed {c.cfg.seed}", file=sys.stderr)
            try:
                rec = run_cell(c.cfg, results, data=loaded[key])
            except CellBusyError as e:  # another process has it; the report lists it as unfinished
                print(f"[{name}] skipped: {e}", file=sys.stderr)
        done.append((c, rec))
    # the report always covers the whole experiment (every backbone and row, seeds 0-2, any asked for and
    # any further one already finished), so running a subset never hides cells finished by an earlier or
    # concurrent run, and a later --report-only keeps the extra seeds an earlier `--seeds 3,4` trained
    covered = report_cells(name, results, seeds, overrides)
    hashed = {k: v for k, v in (overrides or {}).items() if k not in NOT_HASHED}
    stem = report_stem(name, overrides)
    command = f"mgqe-train experiment {name}" + "".join(
        f" --set {k}={json.dumps(v, separators=(',', ':'))}" for k, v in sorted(hashed.items()))
    write_report(name, covered, results, stem=stem, command=command)
    write_index(results)
    return done
