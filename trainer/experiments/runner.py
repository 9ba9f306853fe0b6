"""Run an experiment: train its missing cells (cached ones are skipped), then write its report."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from mgqe.trainer.experiments.cells import Cell, CellBusyError, cached, run_cell
from mgqe.trainer.experiments.suite import cells


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
    write_report(name, done, results)
    write_index(results)
    return done
