"""DPQ quantizer choices, measured (issue 3): plain nearest centroid (the MGQE paper) vs the DPQ reference
code's batch-normalised assignment, and the reference code's centroid loss on vs off.

Two measurements, every variant on the same seed and data:
1. reconstruction: a DPQ table learns a fixed target matrix (low-rank + noise, Zipf(1) lookups, MSE, Adam);
   reported: eval-mode (code-based) reconstruction error relative to the target's variance, and the share
   of buffer codes that differ from a fresh plain nearest-centroid assignment of the final weights.
2. gmf (optional, --gmf-epochs > 0): GMF with DPQ user and item tables on MovieLens-1M (SASRec 5-core file),
   the project's protocol (mgqe.trainer.train.train_model: full ranking, best validation epoch); test
   HR@10 / NDCG@10 in percent.

    nice -n 10 .venv/bin/python bench/dpq_choices.py --gmf-epochs 20 \
        --out-json results/dpq_choices.json --out-md docs/dpq-choices.md
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import torch

from mgqe.proto.config import EmbeddingConfig
from mgqe.trainer.embeddings import QuantizedEmbedding, QuantOptions, build_embedding
from mgqe.trainer.embeddings.quantizer import nearest_centroid

VARIANTS = {  # name -> (centroid_loss weight, bn_assign)
    "plain": (0.0, False),
    "plain+closs": (1.0, False),
    "bn": (0.0, True),
    "bn+closs": (1.0, True),
}


def plain_disagreement(emb: QuantizedEmbedding) -> float:
    """Share of buffer code entries that differ from a fresh plain nearest-centroid assignment."""
    diff = total = 0
    for i, g in enumerate(emb.groups):
        x = emb.weight.detach()[g.start : g.stop].view(g.size, g.D, -1)
        fresh = nearest_centroid(x, emb.group_table(i).detach())
        diff += int((fresh != emb.group_codes(i).long()).sum())
        total += fresh.numel()
    return diff / total


def reconstruction(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    n, d = args.rec_n, 64
    gen = torch.Generator().manual_seed(args.seed)
    target = (torch.randn(n, 8, generator=gen) @ torch.randn(8, d, generator=gen)) * 0.01
    target += 0.002 * torch.randn(n, d, generator=gen)
    p = 1.0 / torch.arange(1, n + 1, dtype=torch.float64)
    batches = [torch.multinomial(p / p.sum(), args.rec_batch, replacement=True, generator=gen)
               for _ in range(args.rec_steps)]
    out: dict[str, dict[str, float]] = {}
    for name, (closs, bn) in VARIANTS.items():
        torch.manual_seed(args.seed)
        emb = build_embedding(EmbeddingConfig.dpq(n, d, D=args.D, K=args.K),
                              quant=QuantOptions(centroid_loss=closs, bn_assign=bn))
        assert isinstance(emb, QuantizedEmbedding)
        opt = torch.optim.Adam(emb.parameters(), lr=1e-3)
        emb.train()
        t = time.perf_counter()
        for ids in batches:
            loss = ((emb(ids) - target[ids]) ** 2).mean() + emb.aux_loss()
            opt.zero_grad()
            loss.backward()
            opt.step()
        seconds = time.perf_counter() - t
        with torch.no_grad():
            # The buffer as training left it (decoded without entering eval mode, which would refresh it).
            buf = torch.cat([emb._decode(i, emb.group_codes(i)).flatten(1) for i in range(len(emb.groups))])
            before = float(((buf - target) ** 2).mean() / target.var())
            stale = plain_disagreement(emb)
            emb.eval()  # refreshes every code, as finalize() does
            after = float(((emb(torch.arange(n)) - target) ** 2).mean() / target.var())
            differ = plain_disagreement(emb)
        out[name] = {"rel_err_buffer": before, "rel_err_finalized": after,
                     "buffer_vs_plain_share": stale, "finalized_vs_plain_share": differ,
                     "train_seconds": seconds}
        print(name, json.dumps(out[name]), flush=True)
    return out


def gmf(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    from mgqe.trainer.config import TrainConfig
    from mgqe.trainer.models.factory import embedding_modules
    from mgqe.trainer.train import load_data, train_model

    out: dict[str, dict[str, float]] = {}
    data = None
    for name in args.gmf_variants:
        closs, bn = VARIANTS[name]
        cfg = TrainConfig(model="gmf", method="dpq", D=(args.D,), K=(args.K,), centroid_loss=closs,
                          bn_assign=bn, epochs=args.gmf_epochs, seed=args.seed, progress=False,
                          out_dir=str(args.run_dir / name), data_dir=args.data_dir)
        data = load_data(cfg) if data is None else data
        res = train_model(cfg, data=data)
        tables = [t for t in embedding_modules(res.model).values() if isinstance(t, QuantizedEmbedding)]
        out[name] = {
            "test_hr10": res.metrics["test"]["hr@10"], "test_ndcg10": res.metrics["test"]["ndcg@10"],
            "valid_hr10": res.metrics["valid"]["hr@10"], "best_epoch": res.best_epoch,
            "finalized_vs_plain_share": sum(plain_disagreement(t) for t in tables) / len(tables),
            "seconds": res.seconds,
        }
        print(name, json.dumps(out[name]), flush=True)
    return out


def markdown(res: dict) -> str:
    a = res["args"]
    lines = [
        "# DPQ quantizer choices",
        "",
        f"Command: `{res['command']}`",
        "",
        f"DPQ D={a['D']}, K={a['K']}, d=64, seed {a['seed']}. `closs` = the reference code's centroid loss "
        "mean((c - stop_gradient(x))^2), weight 1; `bn` = the reference code's batch-normalised assignment "
        "(eps 1e-3, batch statistics in training, whole-table statistics in finalize); `plain` = the MGQE "
        "paper's argmin. The task loss trains both x and the centroids through the straight-through "
        "estimator in every variant.",
        "",
        f"## Reconstruction ({a['rec_n']:,} rows, {a['rec_steps']} Adam steps of {a['rec_batch']} Zipf ids)",
        "",
        "Relative error = mean squared error of the code-based (eval) embeddings / variance of the target. "
        "`vs plain` = share of code entries that differ from a fresh plain nearest-centroid assignment of "
        "the final weights (buffer: as left by training, each row's code from its last lookup; finalized: "
        "after `eval()`, which refreshes all codes as `finalize()` does).",
        "",
        "| variant | rel. error, buffer | rel. error, finalized | buffer vs plain | finalized vs plain |",
        "|---|---|---|---|---|",
    ]
    for k, r in res["reconstruction"].items():
        lines.append(f"| {k} | {r['rel_err_buffer']:.4f} | {r['rel_err_finalized']:.4f} "
                     f"| {r['buffer_vs_plain_share']:.1%} | {r['finalized_vs_plain_share']:.1%} |")
    if res.get("gmf"):
        lines += [
            "",
            f"## GMF on MovieLens-1M (SASRec 5-core), {a['gmf_epochs']} epochs, DPQ user and item tables",
            "",
            "| variant | test HR@10 | test NDCG@10 | valid HR@10 | best epoch | finalized vs plain "
            "| seconds |",
            "|---|---|---|---|---|---|---|",
        ]
        for k, r in res["gmf"].items():
            lines.append(f"| {k} | {r['test_hr10']:.2f} | {r['test_ndcg10']:.2f} | {r['valid_hr10']:.2f} "
                         f"| {r['best_epoch']} | {r['finalized_vs_plain_share']:.1%} | {r['seconds']:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--D", type=int, default=64, help="DPQ subspaces")
    p.add_argument("--K", type=int, default=256, help="DPQ centroids per subspace")
    p.add_argument("--seed", type=int, default=0, help="seed of data, init and sampling")
    p.add_argument("--rec-n", type=int, default=3416, help="rows of the reconstruction table")
    p.add_argument("--rec-steps", type=int, default=1500, help="Adam steps of the reconstruction")
    p.add_argument("--rec-batch", type=int, default=1024, help="ids per reconstruction step")
    p.add_argument("--gmf-epochs", type=int, default=0, help="GMF epochs per variant (0 = skip GMF)")
    p.add_argument("--gmf-variants", nargs="+", choices=list(VARIANTS), default=["plain", "plain+closs"],
                   help="variants trained in the GMF comparison (bn costs ~50x per step on CPU)")
    p.add_argument("--data-dir", default=None, help="MovieLens data folder (default: $MGQE_DATA_DIR)")
    p.add_argument("--run-dir", type=Path, default=Path("runs/dpq_choices"), help="GMF run folders")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--out-json", type=Path, default=None, help="write the results as JSON here")
    p.add_argument("--out-md", type=Path, default=None, help="write the results as Markdown here")
    args = p.parse_args(argv)
    for name in ("D", "K", "rec_n", "rec_steps", "rec_batch", "threads"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.gmf_epochs < 0:
        p.error("--gmf-epochs must be >= 0")
    torch.set_num_threads(args.threads)
    cmd = ["python", *sys.argv] if argv is None else ["python", "bench/dpq_choices.py", *argv]
    res: dict = {"command": " ".join(shlex.quote(x) for x in cmd),
                 "torch": torch.__version__,
                 "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                 "reconstruction": reconstruction(args)}
    if args.gmf_epochs:
        res["gmf"] = gmf(args)
    for path, text in ((args.out_json, json.dumps(res, indent=1) + "\n"), (args.out_md, markdown(res))):
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
