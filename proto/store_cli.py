"""Store subcommands of `mgqe-artifact` (registered in proto/cli.py's COMMANDS):

    mgqe-artifact rollback MODEL [VERSION] [--store DIR]   move CURRENT back (default: the previous version)
    mgqe-artifact versions MODEL [--store DIR] [--json]    list the kept versions, marking CURRENT

The store is `--store`, else $MGQE_STORE, else ./store. Exit status 0 ok, 1 store error (its class name and
message on stderr), 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from . import store as st

ROLLBACK_HELP = "point a model's CURRENT at an earlier (or any kept) version; servers swap it in"
VERSIONS_HELP = "list a model's kept versions in the artifact store, marking the CURRENT one"


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="model name in the store (a directory under the store)")
    p.add_argument("--store", type=Path, default=None, metavar="DIR",
                   help="artifact store directory (default: $MGQE_STORE, else ./store)")


def _store(args: argparse.Namespace) -> Path:
    return args.store or Path(os.environ.get("MGQE_STORE") or "store")


def _fail(command: str, e: st.StoreError) -> int:
    print(f"mgqe-artifact {command}: {type(e).__name__}: {e}", file=sys.stderr)
    return 1


def rollback_arguments(p: argparse.ArgumentParser) -> None:
    _add_common(p)
    p.add_argument("version", metavar="VERSION", nargs="?", default=None,
                   help="version to make current, e.g. v3 (default: the newest kept version older than "
                   "CURRENT)")


def rollback(args: argparse.Namespace) -> int:
    try:
        before, after = st.rollback(_store(args), args.model, args.version)
    except st.StoreError as e:
        return _fail("rollback", e)
    print(f"{args.model}: CURRENT {before or '(none)'} -> {after} in {_store(args)}")
    return 0


def versions_arguments(p: argparse.ArgumentParser) -> None:
    _add_common(p)
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")


def versions(args: argparse.Namespace) -> int:
    try:
        infos = st.list_versions(_store(args), args.model)
    except st.StoreError as e:
        return _fail("versions", e)
    if args.json:
        print(json.dumps([{"version": i.version, "current": i.current, "bytes": i.bytes, "sha256": i.sha256,
                           "published_at": i.published_at, "path": str(i.path)} for i in infos], indent=1))
        return 0
    for i in infos:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(i.published_at)) if i.published_at else "?"
        mark, sha = "*" if i.current else " ", (i.sha256 or "?")[:12]
        print(f"{mark} {i.version:>6}  {i.bytes:>12,} B  {when} UTC  {sha}")
    return 0
