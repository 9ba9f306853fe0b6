"""Training and evaluation time of the experiment suite's cells on each device, side by side in one run.

For each backbone x method (the suite's own configs: `trainer/experiments/suite.py`, seed 0, real data) and
each device (CPU as the suite runs here, one torch thread; CUDA when present) this trains `--epochs` epochs
with the training loop's own `train_epoch`, times each, then times one full-ranking validation pass (for
DPQ/MGQE it includes the code refresh that entering eval mode does). From the median epoch (the first one
left out when there are two or more: warm-up, compilation) and the evaluation it projects a whole cell:
    cell seconds = E x epoch seconds + n_eval x eval seconds,
E and n_eval being the suite's epochs and validation passes (every eval_every-th epoch and the last, then the
final valid and test passes). The projection is checked against the cells the suite really trained: the
page lists beside it the mean time of the finished cells in results/cache (their device named).

    nice -n 10 .venv/bin/python bench/bench_device.py --out-json results/bench_device.json \\
        --out-md docs/bench-device.md

On a machine with a GPU the same command adds a `cuda` row to every cell and the CPU / CUDA speed-up;
`--devices cuda` alone skips the (slow) CPU rows.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

from machine import cpu_name
from md_sections import write_page
from mgqe.trainer.config import TrainConfig, config_hash
from mgqe.trainer.experiments.suite import METHODS, make_config
from mgqe.trainer.models.factory import build_model
from mgqe.trainer.train import (
    is_eval_epoch,
    load_data,
    make_objective,
    make_optimizer,
    pick_device,
    seed_everything,
    train_epoch,
    vocab_sizes,
)

RANKING = ("gmf", "neumf", "sasrec")  # the backbones whose cells are timed (the Task 3 proxies take seconds)


def device_list(spec: str) -> list[str]:
    """'auto' -> cpu, plus cuda when torch sees a GPU; else the comma list, each name checked."""
    if spec == "auto":
        return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    names = [s.strip() for s in spec.split(",") if s.strip()]
    if not names:
        raise ValueError("--devices names no device")
    for n in names:
        if n != "cpu" and not (n == "cuda" or (n.startswith("cuda:") and n[5:].isdigit())):
            raise ValueError(f"--devices: unknown device {n!r} (use cpu, cuda or cuda:N)")
        if n.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"--devices: {n} asked for, but torch sees no CUDA device here")
    if len(set(names)) != len(names):
        raise ValueError(f"--devices names a device twice: {names}")
    return names


def n_evals(cfg: TrainConfig) -> int:
    """Validation / test passes of a full run of cfg: its in-loop validations, then the final valid + test."""
    return sum(1 for e in range(1, cfg.epochs + 1) if is_eval_epoch(cfg, e)) + 2


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def time_cell(backbone: str, method: str, device: str, args: argparse.Namespace, data: Any) -> dict[str, Any]:
    """Train `args.epochs` epochs of the suite's (backbone, method) cell on `device` and time them."""
    full = make_config(backbone, METHODS[method], 0, {})
    cfg = full.replace(epochs=args.epochs, device=device, threads=args.threads, data_dir=args.data_dir)
    dev = pick_device(cfg.device)
    torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    obj = make_objective(cfg, data)
    n_users, n_items = vocab_sizes(cfg, data)
    model = build_model(cfg, cfg.model_spec(n_users, n_items), n_items).to(dev)
    opt = make_optimizer(model, cfg)
    epochs: list[float] = []
    for epoch in range(1, cfg.epochs + 1):
        _sync(dev)
        t = time.perf_counter()
        train_epoch(model, obj, opt, cfg, epoch, dev)
        _sync(dev)
        epochs.append(time.perf_counter() - t)
    t = time.perf_counter()
    model.eval()  # DPQ/MGQE refresh every code here, as before each validation pass of a run
    obj.evaluate(model, "valid", dev, cfg.eval_batch)
    _sync(dev)
    eval_s = time.perf_counter() - t
    epoch_s = statistics.median(epochs[1:] if len(epochs) > 1 else epochs)
    evals = n_evals(full)
    return {"backbone": backbone, "method": method, "device": str(dev), "epoch_seconds": epochs,
            "epoch_s": epoch_s, "eval_s": eval_s, "full_epochs": full.epochs, "full_evals": evals,
            "projected_cell_s": full.epochs * epoch_s + evals * eval_s}


def measured(backbone: str, method: str, results: Path, seeds: range = range(3)) -> dict[str, Any] | None:
    """Mean training time of the suite's finished (backbone, method) cells in results/cache, or None."""
    recs = []
    for seed in seeds:
        p = results / "cache" / f"{config_hash(make_config(backbone, METHODS[method], seed, {}))}.json"
        if p.is_file():
            recs.append(json.loads(p.read_text()))
    if not recs:
        return None
    return {"cells": len(recs), "mean_s": statistics.fmean(float(r["seconds"]) for r in recs),
            "devices": sorted({str(r.get("provenance", {}).get("device", "?")) for r in recs})}


def machine() -> dict[str, Any]:
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpu": cpu_name(), "cores": os.cpu_count(), "gpu": gpu,
            "torch": torch.__version__, "python": platform.python_version()}


def markdown(res: dict[str, Any]) -> str:
    a, m = res["args"], res["machine"]
    lines = [
        "# Training time per device",
        "",
        f"Command: `{res['command']}`",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, GPU: {m['gpu'] or 'none'}; torch {m['torch']}; CPU rows "
        f"use {a['threads']} torch thread(s), as the suite does. Each cell trained {a['epochs']} epoch(s) of "
        "the suite's config (seed 0); `s / epoch` is the median epoch (the first left out when there are "
        "two or more), `eval s` one full-ranking validation pass. The projection is E x epoch + n_eval x "
        "eval (E epochs and n_eval passes of the full run); `measured` is the mean time of the suite's "
        "finished cells of that row in results/cache, trained on the device named there. On a shared "
        "machine the CPU times move with the load: read the ratios measured side by side in this run.",
        "",
        "A GPU row comes from a run on a machine with one: `bash bench/device_prepare.sh` here (wheels of "
        "the non-torch dependencies and the data file, into git-ignored folders), then `bash "
        "bench/device_bench.sh` there, which runs this benchmark on CPU and CUDA and writes this page.",
        "",
        "| backbone | method | device | s / epoch | eval s | E | n_eval | projected cell min "
        "| measured cell min (cells, device) | CPU / this device, per epoch |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    cpu = {(r["backbone"], r["method"]): r["epoch_s"] for r in res["rows"] if r["device"] == "cpu"}
    for r in res["rows"]:
        meas = r.get("measured")
        ms = (f"{meas['mean_s'] / 60:.1f} ({meas['cells']}, {'/'.join(meas['devices'])})" if meas else "—")
        c = cpu.get((r["backbone"], r["method"]))
        ratio = f"{c / r['epoch_s']:.1f}x" if c is not None and r["device"] != "cpu" else "—"
        lines.append(
            f"| {r['backbone']} | {r['method']} | {r['device']} | {r['epoch_s']:.2f} | {r['eval_s']:.2f} "
            f"| {r['full_epochs']} | {r['full_evals']} | {r['projected_cell_s'] / 60:.1f} | {ms} | {ratio} |"
        )
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--backbones", default="gmf,neumf,sasrec", help=f"comma list of {', '.join(RANKING)}")
    p.add_argument("--methods", default="FE,MGQE", help="comma list of the suite's method rows")
    p.add_argument("--devices", default="auto", help="auto (cpu, plus cuda when present) or a comma list of "
                   "cpu, cuda, cuda:N")
    p.add_argument("--epochs", type=int, default=2, help="epochs timed per cell (the first is left out of "
                   "the median when there are two or more)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (the suite uses 1)")
    p.add_argument("--data-dir", default=None, help="dataset folder (default: $MGQE_DATA_DIR)")
    p.add_argument("--results", type=Path, default=Path("results"),
                   help="results folder whose cache/ holds the suite's finished cells (for `measured`)")
    p.add_argument("--out-json", type=Path, default=None, help="write the results as JSON here")
    p.add_argument("--out-md", type=Path, default=None, help="write the results as Markdown here")
    p.add_argument("--md-from-json", type=Path, default=None,
                   help="measure nothing: rewrite --out-md from this earlier --out-json file")
    a = p.parse_args(argv)
    a.backbones = [b.strip() for b in a.backbones.split(",") if b.strip()]
    a.methods = [x.strip() for x in a.methods.split(",") if x.strip()]
    if not a.backbones or any(b not in RANKING for b in a.backbones):
        p.error(f"--backbones: choose from {', '.join(RANKING)}, got {a.backbones}")
    if not a.methods or any(x not in METHODS for x in a.methods):
        p.error(f"--methods: choose from {', '.join(METHODS)}, got {a.methods}")
    for name in ("epochs", "threads"):
        if getattr(a, name) < 1:
            p.error(f"--{name} must be >= 1, got {getattr(a, name)}")
    if a.md_from_json is None:
        try:
            a.devices = device_list(a.devices)
        except ValueError as e:
            p.error(str(e))
    elif a.out_md is None:
        p.error("--md-from-json needs --out-md")
    return a


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.md_from_json is not None:
        write_page(args.out_md, markdown(json.loads(args.md_from_json.read_text())))
        return 0
    rows = []
    for backbone in args.backbones:
        data = load_data(make_config(backbone, METHODS["FE"], 0, {"data_dir": args.data_dir}))
        for method in args.methods:
            for device in args.devices:
                r = time_cell(backbone, method, device, args, data)
                r["measured"] = measured(backbone, method, args.results)
                print(json.dumps({k: v for k, v in r.items() if k != "measured"}), file=sys.stderr)
                rows.append(r)
    res = {"command": shlex.join(["python", "bench/bench_device.py", *(argv if argv is not None else
                                                                       sys.argv[1:])]),
           "machine": machine(), "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}, "rows": rows}
    if args.out_json is not None:
        args.out_json.parent.mkdir(parents=True, exist_ok=True)
        args.out_json.write_text(json.dumps(res, indent=1) + "\n")
    if args.out_md is not None:
        write_page(args.out_md, markdown(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
