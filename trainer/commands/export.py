"""`mgqe-train export RUN_DIR OUT`: rebuild a finished run's best model and write it as an artifact."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = "Export the best checkpoint of a training run directory (from `mgqe-train train`) as an artifact."


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="run directory holding config.json and best.pt")
    p.add_argument("out", help="artifact path to write (e.g. model.mgqe)")
    p.add_argument("--data-dir", default=None, help="data directory for the id vocabularies "
                   "(default: the run's, else $MGQE_DATA_DIR)")


def run(args: argparse.Namespace) -> int:
    from mgqe.trainer.cli import CLIError
    from mgqe.trainer.export import export_run

    run_dir = Path(args.run_dir)
    if not (run_dir / "config.json").is_file() or not (run_dir / "best.pt").is_file():
        raise CLIError(f"{run_dir} is not a finished run directory (needs config.json and best.pt)")
    header = export_run(run_dir, Path(args.out), data_dir=args.data_dir)
    print(json.dumps({"artifact": args.out, "model_type": header.spec.model_type,
                      "metrics": header.metrics}))
    return 0
