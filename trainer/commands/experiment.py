"""`mgqe-train experiment NAME`: run the paper's tables/figures with per-cell caching."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

HELP = ("Run one of the paper's experiments (table3, table4, table5, table6, fig6, fig7, fig8) on ml-1m; "
        "finished cells are cached under RESULTS/cache and skipped on reruns.")


def _csv(s: str) -> list[str]:
    """Comma-separated names; a comma inside brackets belongs to the name (row labels like K=[256,64])."""
    return [x for x in re.split(r",(?![^\[]*\])", s) if x]


def add_arguments(p: argparse.ArgumentParser) -> None:
    from mgqe.trainer.experiments.suite import EXPERIMENTS

    p.add_argument("name", choices=EXPERIMENTS, help="which table or figure to produce")
    p.add_argument("--seeds", default="0,1,2",
                   help="seeds, comma-separated (default 0,1,2; fig7 and fig8 use the first)")
    p.add_argument("--backbones", type=_csv, default=None, help="restrict to these backbones, e.g. gmf,neumf")
    p.add_argument("--methods", type=_csv, default=None,
                   help="restrict to these rows, e.g. 'FE,MGQE ref-STE' (table6: variant labels such as "
                        "'unshared D=[64,32]', whose bracketed comma stays in the label; fig6: sweep "
                        "names); an unknown name is an error that lists the experiment's rows")
    p.add_argument("--results", default="results", help="results directory (default: results)")
    p.add_argument("--data-dir", default=None, help="data directory (default: $MGQE_DATA_DIR)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                   help="override a TrainConfig field in every cell, e.g. --set epochs=5 (changes the hash)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda[:N] (not part of the cell hash)")
    p.add_argument("--report-only", action="store_true", help="only regenerate the report from the cache")


def run(args: argparse.Namespace) -> int:
    from mgqe.trainer.cli import CLIError
    from mgqe.trainer.config import ConfigError
    from mgqe.trainer.data.errors import DataError
    from mgqe.trainer.experiments.report import MissingItemArraysError
    from mgqe.trainer.experiments.runner import report_stem, run_experiment

    try:
        seeds = [int(s) for s in _csv(args.seeds)]
    except ValueError as e:
        raise CLIError(f"--seeds must be comma-separated integers, got {args.seeds!r}") from e
    if not seeds:
        raise CLIError("--seeds is empty")
    overrides: dict[str, object] = {"device": args.device}
    if args.data_dir:
        overrides["data_dir"] = args.data_dir
    for kv in args.set:
        key, sep, val = kv.partition("=")
        if not sep:
            raise CLIError(f"--set expects KEY=VALUE, got {kv!r}")
        try:
            overrides[key] = json.loads(val)
        except json.JSONDecodeError:
            overrides[key] = val
    try:
        done = run_experiment(args.name, Path(args.results), seeds, args.backbones, args.methods, overrides,
                              report_only=args.report_only)
    except (ConfigError, DataError, MissingItemArraysError) as e:
        raise CLIError(str(e)) from e
    n_done = sum(r is not None for _, r in done)
    print(f"{args.name}: {n_done}/{len(done)} cells finished; report in "
          f"{args.results}/{report_stem(args.name, overrides)}.md")
    return 0
