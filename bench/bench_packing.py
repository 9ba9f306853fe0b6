"""Benchmark bit packing and artifact reading (issue 5: unpacking >= 100M codes/s on one core).

Measures, in one run and side by side:
  - pack_codes / unpack_codes throughput (codes/s) for every width 1..16 on an (n, 64) code matrix;
  - a baseline unpacker (np.unpackbits to a bit matrix, then a dot with powers of two: the obvious vectorised
    way) and a plain copy of the same bytes (memory-bound ceiling), so ratios are measured, not assumed;
  - read_artifact of an MGQE artifact (D=64, K=[256, 64], 10% head) with and without checksum verification.
Times are the best of --repeats runs (min filters out interference on a shared machine).

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_packing.py --codes 10000000 --out docs/bench-packing
writes docs/bench-packing.json and docs/bench-packing.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from machine import cpu_name
from mgqe.proto.artifact import read_artifact, required_arrays, write_artifact
from mgqe.proto.config import EmbeddingConfig, ModelSpec
from mgqe.proto.packing import pack_codes, unpack_codes


def best_time(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def copy_bytes(buf: bytes) -> np.ndarray:
    """The floor: one copy of the packed bytes into a uint8 array."""
    return np.frombuffer(buf, np.uint8).copy()


def baseline_unpack(buf: bytes, n: int, D: int, bits: int) -> np.ndarray:
    """The obvious vectorised unpacker: expand to one byte per bit, then weight the bits."""
    count = n * D
    bitmat = np.unpackbits(np.frombuffer(buf, np.uint8), bitorder="little")[: count * bits].reshape(
        count, bits
    )
    weights = (1 << np.arange(bits)).astype(np.uint32)
    dtype = np.uint8 if bits <= 8 else np.uint16
    return (bitmat @ weights).astype(dtype).reshape(n, D)


def bench_widths(codes: int, repeats: int) -> list[dict[str, Any]]:
    D = 64
    n = codes // D
    rng = np.random.default_rng(0)
    rows = []
    for bits in range(1, 17):
        c = rng.integers(0, 1 << bits, size=(n, D), dtype=np.int64)
        buf = pack_codes(c, bits)
        assert np.array_equal(unpack_codes(buf, n, D, bits), c)
        assert np.array_equal(baseline_unpack(buf, n, D, bits), c)
        t_pack = best_time(partial(pack_codes, c, bits), repeats)
        t_unpack = best_time(partial(unpack_codes, buf, n, D, bits), repeats)
        t_base = best_time(partial(baseline_unpack, buf, n, D, bits), repeats)
        t_copy = best_time(partial(copy_bytes, buf), repeats)
        rows.append(
            {
                "bits": bits,
                "codes": n * D,
                "packed_bytes": len(buf),
                "pack_codes_per_s": n * D / t_pack,
                "unpack_codes_per_s": n * D / t_unpack,
                "baseline_unpack_codes_per_s": n * D / t_base,
                "unpack_speedup_vs_baseline": t_base / t_unpack,
                "copy_bytes_per_s": len(buf) / t_copy,
            }
        )
        rate = n * D / t_unpack / 1e6
        print(
            f"bits {bits:2d}: unpack {rate:8.0f} Mcodes/s, x{t_base / t_unpack:.1f} vs baseline", flush=True
        )
    return rows


def bench_read(n_items: int, repeats: int) -> dict[str, Any]:
    cfg = EmbeddingConfig.mgqe(n_items, 64, [n_items // 10, n_items], D=64, K=[256, 64])
    spec = ModelSpec(model_type="relevance", d=64, tables={"item": cfg})
    rng = np.random.default_rng(1)
    arrays: dict[str, np.ndarray] = {}
    for name, req in required_arrays(spec).items():
        if req.K is not None:
            arrays[name] = rng.integers(0, req.K, size=req.shape, dtype=np.uint8)
        elif req.dtype == "int64":
            arrays[name] = np.arange(req.shape[0], dtype=np.int64)
        else:
            arrays[name] = rng.standard_normal(req.shape).astype(np.float32)
    arrays["dense.out.weight"] = np.ones((1, 64), np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.mgqe"
        t_write = best_time(lambda: write_artifact(path, spec, arrays), 1)
        size = path.stat().st_size
        t_read = best_time(lambda: read_artifact(path), repeats)
        t_fast = best_time(lambda: read_artifact(path, verify_checksums=False), repeats)
    return {
        "n_items": n_items,
        "file_bytes": size,
        "codes": n_items * 64,
        "write_s": t_write,
        "read_verified_s": t_read,
        "read_unverified_s": t_fast,
    }


def machine() -> dict[str, Any]:
    return {"cpu": cpu_name(), "cores": os.cpu_count(), "python": sys.version.split()[0],
            "numpy": np.__version__}


def to_markdown(res: dict[str, Any]) -> str:
    m = res["machine"]
    lines = [
        "# Bit-packing and artifact-read benchmark",
        "",
        f"Command: `{res['command']}`  ",
        f"Machine: {m['cpu']}, {m['cores']} cores (a shared VM; other work ran at the same time), "
        f"Python {m['python']}, numpy {m['numpy']}; one thread. Best of {res['repeats']} runs. "
        "Generated by bench/bench_packing.py; numbers are not edited by hand.",
        "",
        f"## pack / unpack, {res['widths'][0]['codes']:,} codes (n x 64)",
        "",
        "Baseline: `np.unpackbits` to a bit matrix, then a dot with powers of two; ratios come from the same "
        "run. 8 and 16 bits are plain byte copies (no shifting), hence their outsized rates.",
        "",
        "| bits | unpack Mcodes/s | baseline unpack Mcodes/s | unpack speed-up | pack Mcodes/s |",
        "|-----:|----------------:|-------------------------:|----------------:|--------------:|",
    ]
    for r in res["widths"]:
        unpack, base = r["unpack_codes_per_s"] / 1e6, r["baseline_unpack_codes_per_s"] / 1e6
        lines.append(
            f"| {r['bits']} | {unpack:,.0f} | {base:,.0f} | {r['unpack_speedup_vs_baseline']:.1f}x "
            f"| {r['pack_codes_per_s'] / 1e6:,.0f} |"
        )
    slowest = min(res["widths"], key=lambda r: r["unpack_codes_per_s"])
    lines += [
        "",
        f"Slowest unpack: {slowest['unpack_codes_per_s'] / 1e6:,.0f} Mcodes/s at {slowest['bits']} bits "
        f"(target of issue 5: 100 Mcodes/s).",
        "",
        "## read_artifact, MGQE item table (d = D = 64, K = [256, 64], 10% head)",
        "",
        "| items | file | codes | write s | read s (SHA-256 verified) | read s (unverified) |",
        "|------:|-----:|------:|--------:|--------------------------:|--------------------:|",
    ]
    for r in res["reads"]:
        lines.append(
            f"| {r['n_items']:,} | {r['file_bytes'] / 2**20:,.1f} MiB | {r['codes']:,} | {r['write_s']:.3f} "
            f"| {r['read_verified_s']:.3f} | {r['read_unverified_s']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--codes", type=int, default=10_000_000, help="codes per width (rounded down to n x 64)")
    p.add_argument("--repeats", type=int, default=5, help="runs per measurement; the best is kept")
    p.add_argument(
        "--items", type=int, nargs="*", default=[3416, 1_000_000], help="item counts of the read benchmark"
    )
    p.add_argument("--out", type=Path, default=None, help="write OUT.json and OUT.md (default: print only)")
    args = p.parse_args(argv)
    if args.codes < 64 or args.repeats < 1 or any(n < 10 for n in args.items):
        p.error("--codes must be >= 64, --repeats >= 1, every --items value >= 10")
    res = {
        "command": " ".join(
            [
                *(f"{k}={os.environ[k]}" for k in ("OMP_NUM_THREADS",) if k in os.environ),
                "python",
                "bench/bench_packing.py",
                *(argv if argv is not None else sys.argv[1:]),
            ]
        ),
        "machine": machine(),
        "repeats": args.repeats,
        "widths": bench_widths(args.codes, args.repeats),
        "reads": [bench_read(n, args.repeats) for n in args.items],
    }
    md = to_markdown(res)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".json").write_text(json.dumps(res, indent=2) + "\n")
        args.out.with_suffix(".md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
