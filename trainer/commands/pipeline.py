"""`mgqe-train pipeline`: train -> evaluate -> quality gate -> export -> publish into the artifact store."""

from __future__ import annotations

import argparse
import os
import sys

HELP = ("Train a model from a pipeline config, evaluate it, check the quality gate, export the artifact "
        "and publish it as the next version in the artifact store (exit 1 when the gate fails, publishing "
        "nothing).")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, metavar="FILE",
                        help="pipeline TOML with [pipeline], [gate], [train] (e.g. configs/main.toml)")
    parser.add_argument("--store", default=None, metavar="DIR",
                        help="artifact store directory (default: [pipeline].store, else ./store)")
    parser.add_argument("--model-name", default=None, metavar="NAME",
                        help="model name in the store (default: [pipeline].model_name)")
    parser.add_argument("--dataset", default=None, metavar="NAME",
                        help="override [train].dataset (ml-1m, ml-1m-sasrec, ml-100k, or synthetic: "
                        "generated data, used only when named here or in the config)")
    parser.add_argument("--data-dir", default=None, metavar="DIR",
                        help="data directory holding ml-1m/ or ml-100k/ (default: [train].data_dir, else "
                        "$MGQE_DATA_DIR)")
    parser.add_argument("--epochs", type=int, default=None, metavar="N", help="override [train].epochs")
    parser.add_argument("--seed", type=int, default=None, metavar="N", help="override [train].seed")
    parser.add_argument("--device", default=None, metavar="DEV",
                        help="override [train].device: auto (CUDA when available), cpu, cuda, cuda:N")
    parser.add_argument("--out-dir", default=None, metavar="DIR",
                        help="training run directory (default: [pipeline].out_dir, else runs/pipeline/NAME)")
    parser.add_argument("--keep", type=int, default=None, metavar="N",
                        help="versions to keep in the store (default: [pipeline].keep, else 5; CURRENT is "
                        "always kept)")
    parser.add_argument("--no-download", action="store_true",
                        help="never download a missing dataset (fail with instructions instead)")
    parser.add_argument("--no-publish", action="store_true",
                        help="train, gate and export, but do not publish (the artifact stays in the run dir)")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch progress output")


def run(args: argparse.Namespace) -> int:
    from mgqe.proto.store import StoreError
    from mgqe.trainer.cli import CLIError
    from mgqe.trainer.config import ConfigError
    from mgqe.trainer.pipeline import GateFailedError, PipelineError, load_pipeline_config, with_overrides

    try:
        cfg = load_pipeline_config(args.config)
        train = {k: v for k, v in (("dataset", args.dataset), ("data_dir", args.data_dir),
                                   ("epochs", args.epochs), ("seed", args.seed), ("device", args.device))
                 if v is not None}
        if args.quiet:
            train["progress"] = False
        over = {k: v for k, v in (("store", args.store), ("model_name", args.model_name),
                                  ("out_dir", args.out_dir), ("keep", args.keep)) if v is not None}
        if args.keep is not None and args.keep < 1:
            raise ConfigError(f"--keep must be >= 1, got {args.keep}")
        if args.no_download:
            over["download"] = False
        cfg = with_overrides(cfg, train=train, **over)
    except (ConfigError, StoreError) as e:
        raise CLIError(str(e)) from e

    from mgqe.trainer.pipeline import run_pipeline

    rank = int(os.environ.get("RANK", "0"))

    def log(msg: str) -> None:
        if rank == 0:
            print(f"[pipeline] {msg}", flush=True)

    try:
        res = run_pipeline(cfg, publish=not args.no_publish, log=log)
    except GateFailedError as e:
        print(f"mgqe-train pipeline: {e}", file=sys.stderr)
        return 1
    except (PipelineError, ConfigError, StoreError) as e:
        raise CLIError(str(e)) from e
    except OSError as e:  # e.g. an unwritable run directory or store: name the path, no traceback
        if e.filename is None:
            raise
        raise CLIError(f"{e.strerror}: {e.filename} (check --out-dir and --store)") from e
    if rank == 0 and res.version:
        print(f"published {res.model_name} {res.version} to {cfg.store}")
    return 0
