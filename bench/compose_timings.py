"""Write docs/deploy.md's "Measured" paragraph from the timings the docker-compose test recorded.

tests/docker/test_compose_real.py (opt-in, `-m docker`) writes results/docker-compose-test.json after each
run. Two of its runs are kept: one after a code change (package layers rebuilt, dependency layers cached), as
results/docker-compose-test.json, and one with every layer cached, copied to
results/docker-compose-test-warm.json. This script puts their numbers into the marked section
`compose_timings` of docs/deploy.md (bench/md_sections.py), so the page never carries a typed number;
tests/bench/test_compose_timings.py checks that the committed page matches the committed records.

    .venv/bin/python bench/compose_timings.py

Exit status: 0 when the section was written, 2 when a record is missing or lacks a field.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from md_sections import markers, replace_section

NAME = "compose_timings"
ROOT = Path(__file__).resolve().parents[1]
# the seconds each record must hold: (its key, how the paragraph names the phase)
PHASES = (("build_server_s", "server image build"), ("build_trainer_s", "trainer image build"),
          ("up_to_ready_s", "up to ready"),
          ("retrain_and_swap_both_s", "retrain until both replicas serve v2"),
          ("rollback_both_s", "rollback on both"))


class RecordError(ValueError):
    """A timing record is missing, not JSON, or lacks a field the paragraph needs; the message says which."""


def load(path: Path) -> dict[str, Any]:
    """One record the test wrote; RecordError names the file and the missing field."""
    try:
        rec = json.loads(path.read_text())
    except FileNotFoundError:
        raise RecordError(f"{path}: no such record (run the docker-compose test first)") from None
    except json.JSONDecodeError as e:
        raise RecordError(f"{path}: not JSON ({e})") from None
    need = [("machine",), ("base_image",), ("when",), ("seconds", "total_s"),
            ("checked", "recommends_per_replica"), *(("seconds", k) for k, _ in PHASES)]
    for keys in need:
        obj: Any = rec
        for k in keys:
            if not isinstance(obj, dict) or k not in obj:
                raise RecordError(f"{path}: no field {'.'.join(keys)}")
            obj = obj[k]
    return rec


def section(changed: dict[str, Any], warm: dict[str, Any], changed_name: str, warm_name: str) -> str:
    """The marked section: the run after a code change in full, then the cached run's total."""
    begin, end = markers(NAME)
    s, w = changed["seconds"], warm["seconds"]
    phases = ", ".join(f"{label} {s[k]:.0f} s" for k, label in PHASES)
    per_c, per_w = changed["checked"]["recommends_per_replica"], warm["checked"]["recommends_per_replica"]
    return (
        f"{begin}\n"
        f"**Measured** (the test writes its timings and what it saw; this paragraph is generated from them "
        f"by `python bench/compose_timings.py`; {changed['machine']}, shared with other work, base image "
        f"`{changed['base_image']}`, `./wheels` present, `--scale server=2` on the host network). After a "
        f"code change (package layers rebuilt, dependency layers cached) the test passed in "
        f"{s['total_s']:.0f} s: {phases}; recommend requests per replica {per_c} "
        f"([`results/{changed_name}`](../results/{changed_name}), {changed['when']}). With every layer "
        f"cached it passed in {w['total_s']:.0f} s (recommends per replica {per_w}; "
        f"[`results/{warm_name}`](../results/{warm_name}), {warm['when']}).\n"
        f"{end}\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--changed", type=Path, default=ROOT / "results" / "docker-compose-test.json",
                   help="record of the run after a code change (default: %(default)s)")
    p.add_argument("--warm", type=Path, default=ROOT / "results" / "docker-compose-test-warm.json",
                   help="record of the run with every layer cached (default: %(default)s)")
    p.add_argument("--page", type=Path, default=ROOT / "docs" / "deploy.md",
                   help="the page whose compose_timings section is rewritten (default: %(default)s)")
    args = p.parse_args(argv)
    try:
        text = section(load(args.changed), load(args.warm), args.changed.name, args.warm.name)
    except RecordError as e:
        print(f"compose_timings: {e}", file=sys.stderr)
        return 2
    replace_section(args.page, NAME, text)
    print(f"wrote the {NAME} section of {args.page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
