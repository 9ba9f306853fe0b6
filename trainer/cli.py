"""`mgqe-train`: the trainer's command line.

Each subcommand lives in its own module `mgqe.trainer.commands.<name>` exposing
    HELP: str
    add_arguments(parser: argparse.ArgumentParser) -> None
    run(args: argparse.Namespace) -> int
Modules are imported lazily so `mgqe-train data stats` does not pay for importing torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# subcommand -> module under mgqe.trainer.commands
COMMANDS: dict[str, str] = {
    "data": "data",
    "train": "train",
    "experiment": "experiment",
    "export": "export",
    "pipeline": "pipeline",
}


class CLIError(Exception):
    """A user error on the command line: printed as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mgqe-train",
        description="Train MGQE and baseline embeddings in recommender models, run the paper's experiments, "
        "export and publish artifacts.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, mod_name in COMMANDS.items():
        try:
            mod = importlib.import_module(f"mgqe.trainer.commands.{mod_name}")
        except ModuleNotFoundError as e:
            if e.name != f"mgqe.trainer.commands.{mod_name}":
                raise
            continue  # command not implemented in this build
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args))
    except CLIError as e:
        print(f"mgqe-train {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
