"""Experiment cells: one (backbone x method x seed) training run, cached by its config hash.

`run_cell(cfg, results)` returns the cell record from `<results>/cache/<hash>.json` when it exists; otherwise
it trains (resuming an interrupted run from `<results>/runs/<hash>/`), writes the record atomically and
returns it. The record holds the config, final valid/test metrics on the finalized (quantized) model, the
Table 1 size, the per-epoch history (loss curve, validation metrics), timing and provenance.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mgqe.trainer.config import TrainConfig, config_hash


@dataclass(frozen=True)
class Cell:
    """A labelled config: `row` is the table row (method label), `group` the table block (backbone)."""

    group: str
    row: str
    cfg: TrainConfig


def cache_path(results: Path, cfg: TrainConfig) -> Path:
    return results / "cache" / f"{config_hash(cfg)}.json"


def item_arrays_path(results: Path, h: str) -> Path:
    """Where run_cell saves the served item arrays of cell `h` (config hash); Figure 8 reads their codes."""
    return results / "runs" / h / "item_arrays.npz"


def cached(results: Path, cfg: TrainConfig) -> dict[str, Any] | None:
    p = cache_path(results, cfg)
    return json.loads(p.read_text()) if p.is_file() else None


class CellBusyError(RuntimeError):
    """Another live process is training this cell (its lock file names the pid)."""


def _lock(path: Path) -> None:
    """Create the cell's lock file holding our pid; a lock whose process is gone is taken over."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                pid = int(path.read_text() or "0")
                os.kill(pid, 0)
            except (ValueError, ProcessLookupError, FileNotFoundError):
                path.unlink(missing_ok=True)  # stale: its process died
                continue
            except PermissionError:
                pass  # alive, owned by someone else
            raise CellBusyError(f"cell {path.stem} is being trained by process {pid}") from None
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        return
    raise CellBusyError(f"could not lock cell {path.stem}")


def run_cell(cfg: TrainConfig, results: Path, data: Any = None, save_item_arrays: bool = True,
             ) -> dict[str, Any]:
    """Train `cfg` unless its record is cached; return the record (see module docstring)."""
    from mgqe.trainer.models.factory import embedding_modules
    from mgqe.trainer.train import train_model

    rec = cached(results, cfg)
    if rec is not None:
        return rec
    h = config_hash(cfg)
    run_dir = results / "runs" / h
    cfg = cfg.replace(out_dir=str(run_dir))
    lock = results / "runs" / f"{h}.lock"
    _lock(lock)  # two experiment processes must never train the same run directory at once
    try:
        r = train_model(cfg, resume=True, data=data)
    finally:
        lock.unlink(missing_ok=True)
    rec = {
        "config_hash": h,
        "config": {k: v for k, v in cfg.to_dict().items() if k not in ("out_dir", "progress")},
        "metrics": r.metrics,
        "size": r.size,
        "best_epoch": r.best_epoch,
        "seconds": r.seconds,
        "history": r.history,
        "provenance": {k: v for k, v in r.provenance.items() if k != "config"},
    }
    if save_item_arrays:  # figure 8 reads the served item codes
        # dict[str, Any]: mypy would match a **dict[str, ndarray] against savez's `allow_pickle: bool`
        arrays: dict[str, Any] = embedding_modules(r.model)["item"].export_arrays("item")
        np.savez_compressed(item_arrays_path(results, h), **arrays,
                            item_vocab=getattr(r.data, "item_vocab", np.zeros(0, np.int64)))
    p = cache_path(results, cfg)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(".tmp")
    tmp.write_text(json.dumps(rec, indent=1))
    os.replace(tmp, p)
    print(f"[cell] {h} {cfg.model}/{cfg.method} seed {cfg.seed}: {json.dumps(r.metrics['test'])} "
          f"size {r.size['percent']:.1f}% in {r.seconds:.0f}s", file=sys.stderr)
    return rec
