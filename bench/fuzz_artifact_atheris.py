"""Coverage-guided fuzzing of the artifact reader with atheris (libFuzzer for Python), issue 8.

Every input is written to a file under /dev/shm (the reader takes paths) and read with `read_header` and
`read_artifact` (checksums on, then off, so mutated payloads also reach decoding). The only allowed outcome
besides success is a named `ArtifactError`; anything else is a crash that libFuzzer reports and saves.
Memory is bounded by libFuzzer's -rss_limit_mb (the run fails past it) and the peak RSS is reported.
The seeds are valid artifacts of every model type and table method, written by the real writer.

    .venv/bin/pip install atheris      # optional: not in the dev extra (wheels for CPython on Linux/macOS)
    .venv/bin/python bench/fuzz_artifact_atheris.py --runs 200000 --seconds 600
        -> docs/reliability-fuzz-artifact.{json,md}: inputs tried, outcomes by error class, peak RSS
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from machine import cpu_name

ROOT = Path(__file__).resolve().parents[1]
STATS_EVERY = 500


def write_seeds(folder: Path) -> list[Path]:
    """Valid artifacts: every model type with MGQE tables, GMF with every other table method."""
    sys.path.insert(0, str(ROOT / "tests" / "server"))
    from artifact_factory import HPARAMS, write_model

    kw = {"n_users": 12, "n_items": 20, "d": 8}
    seeds = [write_model(folder / f"{m}.mgqe", m, **kw) for m in HPARAMS]  # type: ignore[arg-type]
    for method in ("fe", "lrf", "sq", "dpq", "mgqe_odd"):
        seeds.append(write_model(folder / f"gmf-{method}.mgqe", "gmf", method, **kw))  # type: ignore[arg-type]
    return seeds


def child(corpus: Path, stats_path: Path, libfuzzer_args: list[str]) -> None:
    """The fuzzing process: libFuzzer drives `one_input` until -runs or -max_total_time."""
    import atheris

    with atheris.instrument_imports():
        from mgqe.proto import artifact
        from mgqe.proto.errors import ArtifactError

    target = Path(tempfile.mkdtemp(prefix="mgqe-atheris-", dir="/dev/shm" if Path("/dev/shm").is_dir()
                                   else None)) / "input.mgqe"
    outcomes: Counter[str] = Counter()
    t0 = time.monotonic()

    def save() -> None:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
        stats = {"inputs": sum(outcomes.values()), "outcomes": dict(outcomes.most_common()),
                 "peak_rss_kib": peak, "seconds": round(time.monotonic() - t0, 1)}
        tmp = stats_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(stats))
        os.replace(tmp, stats_path)

    def one_input(data: bytes) -> None:
        target.write_bytes(data)
        try:
            artifact.read_header(target)
            artifact.read_artifact(target, verify_checksums=False)
            artifact.read_artifact(target)
            outcomes["ok"] += 1
        except ArtifactError as e:  # the named errors are the contract; anything else propagates: a crash
            outcomes[type(e).__name__] += 1
        if sum(outcomes.values()) % STATS_EVERY == 0:
            save()

    import atexit

    atexit.register(save)
    atheris.Setup([sys.argv[0], *libfuzzer_args, str(corpus)], one_input)
    atheris.Fuzz()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=200_000, help="most inputs to try (libFuzzer -runs)")
    p.add_argument("--seconds", type=int, default=600, help="time bound in s (libFuzzer -max_total_time)")
    p.add_argument("--rss-limit-mb", type=int, default=1024, help="fail if the fuzzer's RSS exceeds this")
    p.add_argument("--max-len", type=int, default=8192, help="largest input in bytes (libFuzzer -max_len)")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "reliability-fuzz-artifact",
                   help="output path without suffix (.json and .md are written)")
    p.add_argument("--child", nargs=2, metavar=("CORPUS", "STATS"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    lf = [f"-runs={args.runs}", f"-max_total_time={args.seconds}", f"-rss_limit_mb={args.rss_limit_mb}",
          f"-max_len={args.max_len}", "-print_final_stats=1"]
    if args.child:
        child(Path(args.child[0]), Path(args.child[1]), lf)
        return 0
    try:
        import atheris  # noqa: F401
    except ImportError:
        print("atheris is not installed: .venv/bin/pip install atheris", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="mgqe-atheris-") as tmp:
        corpus, stats_path = Path(tmp) / "corpus", Path(tmp) / "stats.json"
        corpus.mkdir()
        seeds = write_seeds(corpus)
        t0 = time.monotonic()
        proc = subprocess.run(
            [sys.executable, __file__, "--runs", str(args.runs), "--seconds", str(args.seconds),
             "--rss-limit-mb", str(args.rss_limit_mb), "--max-len", str(args.max_len),
             "--child", str(corpus), str(stats_path)],
            capture_output=True, text=True, cwd=tmp, timeout=args.seconds + 120,
        )
        wall = time.monotonic() - t0
        stats = json.loads(stats_path.read_text()) if stats_path.is_file() else {}
        corpus_files = len(list(corpus.iterdir()))
    log = proc.stderr
    done = re.search(r"Done (\d+) runs in (\d+) second", log)
    cov = re.findall(r"cov: (\d+) ft: (\d+)", log)
    cmd = shlex.join([".venv/bin/python", "bench/fuzz_artifact_atheris.py",
                      *(argv if argv is not None else sys.argv[1:])])
    res = {
        "command": cmd,
        "machine": f"{cpu_name()}, {os.cpu_count()} CPUs, Python {platform.python_version()} "
                   "(2-core VM shared with other work)",
        "exit_code": proc.returncode,
        "crashed": proc.returncode != 0,
        "libfuzzer_runs": int(done.group(1)) if done else None,
        "inputs_counted": stats.get("inputs"),
        "outcomes": stats.get("outcomes"),
        "peak_rss_kib": stats.get("peak_rss_kib"),
        "rss_limit_mb": args.rss_limit_mb,
        "coverage_final": {"cov": int(cov[-1][0]), "ft": int(cov[-1][1])} if cov else None,
        "seeds": len(seeds),
        "corpus_after": corpus_files,
        "wall_seconds": round(wall, 1),
        "log_tail": log[-2000:] if proc.returncode else log[-600:],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(res, indent=1) + "\n")
    outcome_rows = "\n".join(f"| {k} | {v} |" for k, v in (res["outcomes"] or {}).items())
    md = (f"# Artifact reader fuzzing with atheris\n\nCommand: `{cmd}`  \nMachine: {res['machine']}\n\n"
          f"- inputs tried: **{res['libfuzzer_runs']}** (libFuzzer), {res['inputs_counted']} counted by the "
          f"target (stats saved every {STATS_EVERY}), in {res['wall_seconds']} s from {len(seeds)} seeds\n"
          f"- crashes (an exception other than ArtifactError, or RSS over {args.rss_limit_mb} MB): "
          f"**{'yes, exit ' + str(proc.returncode) if res['crashed'] else 'none'}**\n"
          f"- peak RSS of the fuzzing process: {(res['peak_rss_kib'] or 0) / 1024:.1f} MiB\n"
          f"- final coverage: {res['coverage_final']}; corpus grew to {corpus_files} inputs\n\n"
          f"| outcome | inputs |\n|---|---:|\n{outcome_rows}\n")
    args.out.with_suffix(".md").write_text(md)
    print(md)
    return 1 if res["crashed"] else 0


if __name__ == "__main__":
    sys.exit(main())
