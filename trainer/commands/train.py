"""`mgqe-train train`: one training run from a TOML/JSON config and/or flags, optionally exported."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

HELP = ("Train one backbone with one embedding method (config file and/or flags); writes metrics.jsonl, "
        "checkpoints and result.json to --out-dir, and an artifact with --export.")

# flag -> (TrainConfig field, type, help)
FLAGS: dict[str, tuple[str, Any, str]] = {
    "--model": ("model", str, "backbone: gmf, neumf, sasrec or relevance"),
    "--task": ("task", str, "ranking (implicit), rating (gmf squared loss) or relevance"),
    "--method": ("method", str, "embedding method: fe, lrf, sq, dpq or mgqe"),
    "--dataset": ("dataset", str, "ml-1m-sasrec (default), ml-1m, ml-100k or synthetic"),
    "--data-dir": ("data_dir", str, "data directory (default: $MGQE_DATA_DIR)"),
    "--d": ("d", int, "embedding dimension (default 64)"),
    "--epochs": ("epochs", int, "training epochs (default 20)"),
    "--batch-size": ("batch_size", int, "training batch size (default 8192)"),
    "--lr": ("lr", float, "Adam learning rate (default 1e-3)"),
    "--seed": ("seed", int, "random seed (default 0)"),
    "--patience": ("patience", int, "stop after this many evaluations without improvement (0 = never)"),
    "--out-dir": ("out_dir", str, "run directory for logs and checkpoints (default runs/default)"),
    "--device": ("device", str, "auto (CUDA when available), cpu or cuda[:N]"),
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="TOML or JSON config file (a [train] table is used when present)")
    for flag, (_, typ, hlp) in FLAGS.items():
        p.add_argument(flag, type=typ, default=None, help=hlp)
    p.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                   help="set any other TrainConfig field, e.g. --set K=[256,16] --set head=[0.1]")
    p.add_argument("--resume", action="store_true", help="continue from OUT_DIR/last.pt (same config only)")
    p.add_argument("--export", metavar="PATH", help="write the trained model as an artifact to PATH")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def build_config(args: argparse.Namespace) -> Any:
    """Config file (if any) < flags < --set, validated as one TrainConfig."""
    from mgqe.trainer.cli import CLIError
    from mgqe.trainer.config import ConfigError, TrainConfig, from_dict, load_config

    try:
        base = load_config(args.config) if args.config else TrainConfig()
        raw = base.to_dict()
        for flag, (field, _, _) in FLAGS.items():
            v = getattr(args, flag[2:].replace("-", "_"))
            if v is not None:
                raw[field] = v
        for kv in args.set:
            key, sep, val = kv.partition("=")
            if not sep:
                raise CLIError(f"--set expects KEY=VALUE, got {kv!r}")
            try:
                raw[key] = json.loads(val)
            except json.JSONDecodeError:
                raw[key] = val
        if args.no_progress:
            raw["progress"] = False
        return from_dict(raw)
    except ConfigError as e:
        raise CLIError(str(e)) from e


def run(args: argparse.Namespace) -> int:
    from mgqe.trainer.cli import CLIError
    from mgqe.trainer.config import ConfigError
    from mgqe.trainer.data.errors import DataError
    from mgqe.trainer.export import export_artifact, flat_metrics
    from mgqe.trainer.train import train_model

    cfg = build_config(args)
    try:
        r = train_model(cfg, resume=args.resume)
    except (ConfigError, DataError) as e:
        raise CLIError(str(e)) from e
    print(json.dumps({"metrics": r.metrics, "size_percent": r.size["percent"], "best_epoch": r.best_epoch,
                      "seconds": round(r.seconds, 1), "out_dir": str(r.out_dir)}))
    if args.export:
        Path(args.export).parent.mkdir(parents=True, exist_ok=True)
        export_artifact(r.model, r.data, args.export, flat_metrics(r.metrics), r.provenance)
        print(f"artifact: {args.export}")
    return 0
