"""Data-parallel training under torchrun: DistributedDataParallel with NCCL on GPUs, gloo on CPU.

    torchrun --nproc_per_node 2 .venv/bin/mgqe-train pipeline --config configs/main.toml
    torchrun --nnodes 2 --node_rank R --master_addr HOST --nproc_per_node 8 ... (multi-node, same config)

`train(cfg)` is the single entry point used by the pipeline: outside torchrun (WORLD_SIZE unset or 1) it is
exactly `mgqe.trainer.train.train_model(cfg)`. Under torchrun every rank builds the same model from the same
seed (DDP also broadcasts rank 0's parameters), draws the same global batches from the same per-epoch random
stream as `train_model`, and trains on its contiguous 1/world slice of each batch; DDP averages the
gradients, and each slice's loss is weighted by its share of the batch, so one step equals the
single-process step on the whole batch up to float summation order (the test checks this within tolerance).
Differences from `train_model`, by design: a batch smaller than the world size (at most one per epoch) is
skipped; no checkpoint resume; DPQ/MGQE code buffers are per rank during training (not broadcast; the codes
used for serving are recomputed from the synchronised weights by `finalize()`), so mid-training validation
of quantized models can differ slightly. Rank 0 evaluates, keeps the best epoch and returns the
TrainResult; the other ranks return None. Batch size is the GLOBAL batch size.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from mgqe.trainer.config import TrainConfig, config_hash
from mgqe.trainer.models.factory import build_model, embedding_modules
from mgqe.trainer.objectives import Objective
from mgqe.trainer.train import (
    TrainResult,
    finish_run,
    is_eval_epoch,
    load_data,
    make_objective,
    make_optimizer,
    seed_everything,
    train_model,
    vocab_sizes,
)


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def train(cfg: TrainConfig) -> TrainResult | None:
    """train_model(cfg) outside torchrun; distributed training under it (None on ranks other than 0)."""
    if world_size() <= 1:
        return train_model(cfg)
    return train_ddp(cfg)


class _Step(nn.Module):
    """Wraps model + objective so the whole loss runs inside DDP's forward (DDP hooks see every parameter).

    weight: the slice's share of the global batch times the world size, so DDP's gradient average equals the
    gradient of the global-batch mean loss.
    """

    def __init__(self, model: nn.Module, obj: Objective) -> None:
        super().__init__()
        self.model = model
        self.obj = obj

    def forward(self, weight: float, *batch: torch.Tensor) -> torch.Tensor:
        loss = self.obj.loss(self.model, batch)
        for emb in embedding_modules(self.model).values():
            loss = loss + emb.aux_loss()
        return loss * weight


def _device_and_backend(cfg: TrainConfig) -> tuple[torch.device, str]:
    local = int(os.environ.get("LOCAL_RANK", "0"))
    want_cuda = cfg.device.startswith("cuda") or (cfg.device == "auto" and torch.cuda.is_available())
    if want_cuda:
        torch.cuda.set_device(local)
        return torch.device("cuda", local), "nccl"
    return torch.device("cpu"), "gloo"


def train_ddp(cfg: TrainConfig) -> TrainResult | None:
    """One rank of a torchrun job (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_* set by torchrun)."""
    t0 = time.time()
    device, backend = _device_and_backend(cfg)
    # DDP imports torch._dynamo; imported while a process group exists, it keeps that group alive past
    # destroy_process_group, and the group's gloo threads then outlive it into interpreter teardown, where
    # a rank sometimes aborted ("terminate called without an active exception"). Imported first, it does not.
    import torch._dynamo  # noqa: F401

    dist.init_process_group(backend)
    try:
        return _train_ranks(cfg, device, backend, t0)
    finally:
        dist.destroy_process_group()


def _train_ranks(cfg: TrainConfig, device: torch.device, backend: str, t0: float) -> TrainResult | None:
    rank, world = dist.get_rank(), dist.get_world_size()
    lead = rank == 0
    seed_everything(cfg.seed)
    data = load_data(cfg)
    obj = make_objective(cfg, data)
    n_users, n_items = vocab_sizes(cfg, data)
    spec = cfg.model_spec(n_users, n_items)
    model = build_model(cfg, spec, n_items).to(device)
    # Code buffers are rank-local during training (see module docstring): no buffer sync at all. Newer
    # torch deprecates broadcast_buffers, but its replacement still syncs at init, which gloo cannot do for
    # the int16 code buffers ("Invalid scalar type"); the deprecation notice itself says to keep it.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*broadcast_buffers.*", category=FutureWarning)
        step = DistributedDataParallel(
            _Step(model, obj),
            device_ids=[device.index] if device.type == "cuda" else None,
            broadcast_buffers=False,
            # per-group centroid tables (unshared variants): a batch may miss a group entirely
            find_unused_parameters=cfg.method == "mgqe" and cfg.variant != "shared_k",
        )
    opt = make_optimizer(model, cfg)
    out = Path(cfg.out_dir)
    h = config_hash(cfg)
    if lead:
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.jsonl").write_text("")
        (out / "config.json").write_text(json.dumps({"config": cfg.to_dict(), "config_hash": h,
                                                     "world_size": world, "backend": backend}, indent=1))
    history: list[dict[str, Any]] = []
    best: float | None = None
    best_epoch, stale = 0, 0
    best_state: dict[str, torch.Tensor] | None = None

    for epoch in range(1, cfg.epochs + 1):
        model.train()
        te = time.time()
        rng = np.random.default_rng([cfg.seed, epoch])  # the same stream as train_model: same global batches
        total = torch.zeros(2, dtype=torch.float64, device=device)  # (loss sum, rows) over all ranks
        for batch in obj.epoch(rng, cfg.batch_size, device):
            n = batch[0].shape[0]
            if n < world:
                continue
            local = tuple(t.tensor_split(world)[rank] for t in batch)
            m = local[0].shape[0]
            loss = step(m * world / n, *local)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += torch.tensor([float(loss.detach()) * n / world, m], dtype=torch.float64, device=device)
        dist.all_reduce(total)
        mean_loss = float(total[0] / total[1].clamp(min=1))
        if not np.isfinite(mean_loss):
            raise FloatingPointError(f"training loss is not finite at epoch {epoch}")
        rec: dict[str, Any] = {"epoch": epoch, "loss": mean_loss, "train_seconds": time.time() - te}
        stop = [False]
        if is_eval_epoch(cfg, epoch):
            if lead:
                model.eval()
                rec["valid"] = obj.evaluate(model, "valid", device, cfg.eval_batch)
                v = rec["valid"][obj.primary]
                better = best is None or (v > best if obj.higher_is_better else v < best)
                if obj.primary == "rmse" or better:
                    best, best_epoch, stale = v, epoch, 0
                    best_state = {k: t.detach().clone() for k, t in model.state_dict().items()}
                else:
                    stale += 1
                stop[0] = bool(cfg.patience and stale >= cfg.patience)
            dist.broadcast_object_list(stop, src=0)  # every rank leaves the loop at the same epoch
        if lead:
            history.append(rec)
            with (out / "metrics.jsonl").open("a") as f:
                f.write(json.dumps(rec) + "\n")
            if cfg.progress:
                print(json.dumps(rec), flush=True)
        if stop[0]:
            break

    dist.barrier()
    if not lead:
        return None
    if best_state is not None:
        model.load_state_dict(best_state)
        torch.save(best_state, out / "best.pt")
    return finish_run(cfg, model, spec, data, obj, device, history, best_epoch, out, h, t0,
                      {"distributed": {"world_size": world, "backend": backend}})
