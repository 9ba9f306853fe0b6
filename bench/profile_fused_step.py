"""Where an MGQE training step's time goes, next to the FE step (issue 3): a profiling aid, not a benchmark.

The GMF-style step of bench_lookup.py (user and item tables -> dot -> BCE -> backward -> Adam), FE and MGQE,
interleaved per batch; prints the median CPU time (this thread) of each phase of the step and, per step, the
time spent in each compiled kernel of the fused lookup (kernels.py, wrapped with timers, which adds ~1 us per
call). Nothing is written to disk.

    nice -n 5 .venv/bin/python bench/profile_fused_step.py --batch 1024
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
import bench_lookup as bl
from mgqe.trainer.embeddings import kernels

KERNELS = ("unique_slots", "sorted_tables", "prefix_tables", "sort_keys", "build_tables", "quantize_group",
           "expand_rows", "reduce_rows", "scatter_rows", "centroid_grad")


def wrap_kernels(acc: dict[str, list[float]]) -> None:
    """Replace the kernels' module attributes with timed wrappers (fused.py calls them as kernels.X)."""
    for name in KERNELS:
        f = getattr(kernels, name)

        def timed(*a: object, _f: Callable[..., object] = f, _n: str = name) -> object:
            t = time.thread_time()
            r = _f(*a)
            acc[_n].append(time.thread_time() - t)
            return r

        setattr(kernels, name, timed)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--items", type=int, default=3416)
    p.add_argument("--steps", type=int, default=200)
    a = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    args = bl.parse_args([])
    gen = torch.Generator().manual_seed(0)
    acc: dict[str, list[float]] = defaultdict(list)
    wrap_kernels(acc)
    models = {m: bl._GMFStep(m, a.items, args).train() for m in ("fe", "mgqe")}
    opts = {m: torch.optim.Adam(models[m].parameters(), lr=1e-3) for m in models}
    batches = [(bl.zipf_ids(bl.N_USERS, a.batch, gen), bl.zipf_ids(a.items, a.batch, gen),
                torch.randint(0, 2, (a.batch,), generator=gen).float()) for _ in range(a.steps)]
    loss_fn = nn.BCEWithLogitsLoss()
    phases: dict[str, dict[str, list[float]]] = {m: defaultdict(list) for m in models}

    def step(m: str, b: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> None:
        model, opt = models[m], opts[m]
        u, i, y = b
        t = [time.thread_time()]
        eu = model.user(u)
        t.append(time.thread_time())
        ei = model.item(i)
        t.append(time.thread_time())
        loss = loss_fn(model.out(eu * ei).squeeze(-1), y)
        t.append(time.thread_time())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        t.append(time.thread_time())
        opt.step()
        t.append(time.thread_time())
        for k, name in enumerate(("user_fwd", "item_fwd", "dot+loss", "backward", "adam")):
            phases[m][name].append(t[k + 1] - t[k])
        phases[m]["total"].append(t[-1] - t[0])

    for m in models:  # warm-up
        for b in batches[:5]:
            step(m, b)
    acc.clear()
    phases = {m: defaultdict(list) for m in models}
    for b in batches:
        for m in models:
            step(m, b)
    for m in models:
        print(f"{m:5s}", " ".join(f"{k}={1e3 * statistics.median(v):.3f}" for k, v in phases[m].items()))
    fe, mg = (statistics.median(phases[m]["total"]) for m in ("fe", "mgqe"))
    print(f"MGQE / FE (medians) {mg / fe:.2f}x; per-step kernel time (ms, nested calls counted in both):")
    for k, v in acc.items():
        print(f"  {k:15s} calls/step={len(v) / len(batches):.0f} ms/step={1e3 * sum(v) / len(batches):.3f}")


if __name__ == "__main__":
    main()
