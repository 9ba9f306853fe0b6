"""The training loop: `train_model(config) -> TrainResult`.

One run = load data -> build the backbone with the configured embedding method -> train with Adam, evaluating
on validation every `eval_every` epochs (JSON lines in `<out_dir>/metrics.jsonl`) -> early stop on the
validation metric (HR@10, or no selection for regression) -> reload the best epoch -> `finalize()` every
embedding table (SQ quantizes, DPQ/MGQE refresh codes) -> evaluate valid and test on the final codes.

Checkpoints in `<out_dir>`: `last.pt` (model + optimizer state_dicts, the loop state and the torch RNG state,
loaded with weights_only=True), `best.pt` (model state_dict of the best epoch), `state.json` (epoch, best
metric, history, config hash: a readable copy of last.pt's loop state). Every file is written to a temporary
name and renamed, so a run killed at any point leaves complete files of one finished epoch.
`train_model(cfg, resume=True)` continues from `last.pt` when its config hash matches, and ends with the same
weights as the run left alone (same batches from the per-epoch sampling stream, same dropout from the
restored RNG).
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from mgqe.proto.config import ModelSpec
from mgqe.proto.sizes import model_size_bits

from .config import ConfigError, TrainConfig, config_hash
from .models.factory import build_model, dense_param_count, embedding_modules
from .objectives import Objective, PairData, PointwiseRanking, Regression, SequentialRanking


@dataclass
class TrainResult:
    """What a finished run returns.

    model: the trained backbone, finalized (codes refreshed / SQ quantized), in eval mode, on CPU
    spec: the ModelSpec of the artifact; data: SplitData (ranking) or PairData (regression)
    metrics: final {"valid": {...}, "test": {...}} measured on the finalized model
    history: per evaluated epoch {"epoch", "loss", "valid": {...}, "seconds"}
    size: {"bits", "fe_bits", "percent"} by Table 1 with the dense weights
    """

    config: TrainConfig
    model: nn.Module
    spec: ModelSpec
    data: Any
    metrics: dict[str, dict[str, float]]
    history: list[dict[str, Any]]
    best_epoch: int
    size: dict[str, float]
    out_dir: Path
    seconds: float
    provenance: dict[str, Any] = field(default_factory=dict)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} requested but CUDA is not available")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def load_data(cfg: TrainConfig) -> Any:
    """SplitData for ranking tasks, PairData for rating / relevance regression."""
    if cfg.task == "ranking":
        from mgqe.trainer.data.loaders import load_interactions
        from mgqe.trainer.data.protocol import leave_last_out

        kw = dict(cfg.data_kwargs) if cfg.dataset == "synthetic" else {}
        return leave_last_out(load_interactions(cfg.dataset, cfg.data_dir, **kw))
    from mgqe.trainer.data.relevance import load_item_relevance, load_rating_regression

    # the 90/10 split is fixed (data_kwargs may set seed / min_coraters); the training seed varies the model
    if cfg.task == "rating":
        r = load_rating_regression(cfg.data_dir, **cfg.data_kwargs)
        return PairData(r.name, (r.train_users, r.train_items, r.train_ratings),
                        (r.test_users, r.test_items, r.test_ratings), r.n_users, r.n_items,
                        r.user_vocab, r.item_vocab, r.source)
    v = load_item_relevance(cfg.data_dir, **cfg.data_kwargs)
    return PairData(v.name, (v.train_a, v.train_b, v.train_y), (v.test_a, v.test_b, v.test_y),
                    v.n_items, v.n_items, v.item_vocab, v.item_vocab, v.source)


def make_objective(cfg: TrainConfig, data: Any) -> Objective:
    if cfg.task in ("rating", "relevance"):
        return Regression(data)
    if cfg.model == "sasrec":
        return SequentialRanking(data, cfg.max_len)
    return PointwiseRanking(data, cfg.n_neg, cfg.neg_filter)


def vocab_sizes(cfg: TrainConfig, data: Any) -> tuple[int, int]:
    """(n_users, n_items) of the model's tables; relevance pairs index items on both sides."""
    if isinstance(data, PairData):
        return (data.n_a, data.n_b) if cfg.task == "rating" else (0, data.n_a)
    return data.n_users, data.n_items


def model_size(spec: ModelSpec, dense: int) -> dict[str, float]:
    """Table 1 size of the whole model and its percentage of the same backbone with full embeddings."""
    from mgqe.proto.config import EmbeddingConfig

    fe = {k: EmbeddingConfig.fe(t.n, t.d) for k, t in spec.tables.items()}
    bits, fe_bits = model_size_bits(spec.tables, dense), model_size_bits(fe, dense)
    return {"bits": bits, "fe_bits": fe_bits, "percent": 100.0 * bits / fe_bits}


def _git_commit() -> str:
    head = Path(__file__).resolve().parents[1] / ".git"
    try:
        ref = (head / "HEAD").read_text().strip()
        if ref.startswith("ref: "):
            p = head / ref[5:]
            if p.is_file():
                return p.read_text().strip()
            for line in (head / "packed-refs").read_text().splitlines():
                if line.endswith(ref[5:]):
                    return line.split()[0]
        return ref
    except OSError:
        return "unknown"


def _save_json(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, path)


def _save_torch(obj: Any, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)  # a kill mid-save leaves the previous complete checkpoint


def _better(a: float, b: float | None, higher: bool) -> bool:
    return b is None or (a > b if higher else a < b)


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Adam:
    """Adam over every parameter, with the config's lr, weight decay and second-moment decay."""
    return torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=(0.9, cfg.adam_beta2),
                            weight_decay=cfg.weight_decay)


def is_eval_epoch(cfg: TrainConfig, epoch: int) -> bool:
    """Whether a run validates after `epoch` (1-based): every eval_every-th epoch and the last."""
    return epoch % cfg.eval_every == 0 or epoch == cfg.epochs


def train_epoch(model: nn.Module, obj: Objective, opt: torch.optim.Optimizer, cfg: TrainConfig, epoch: int,
                device: torch.device) -> float:
    """One pass over the training data in train mode (task loss plus every table's aux_loss, one Adam step
    per batch); returns the mean training loss per example. Raises FloatingPointError if it is not finite."""
    model.train()
    rng = np.random.default_rng([cfg.seed, epoch])  # per-epoch stream: a resumed run samples the same
    total, count = 0.0, 0
    bar = tqdm(obj.epoch(rng, cfg.batch_size, device), total=obj.n_batches(cfg.batch_size),
               desc=f"epoch {epoch}/{cfg.epochs}", disable=not cfg.progress, leave=False)
    for batch in bar:
        loss = obj.loss(model, batch)
        for emb in embedding_modules(model).values():
            loss = loss + emb.aux_loss()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += float(loss.detach()) * batch[0].shape[0]
        count += batch[0].shape[0]
        bar.set_postfix(loss=f"{total / max(count, 1):.4f}")
    if not math.isfinite(total):
        raise FloatingPointError(f"training loss is not finite at epoch {epoch}")
    return total / max(count, 1)


def train_model(cfg: TrainConfig, resume: bool = False, data: Any = None) -> TrainResult:
    """Train `cfg` end to end and return the finalized model with its metrics (see module docstring).

    data: pre-loaded SplitData / PairData (experiments reuse one load across cells); loaded from cfg if None.
    resume: continue from `<out_dir>/last.pt` (error if its config hash differs from cfg's).
    """
    t0 = time.time()
    device = pick_device(cfg.device)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    data = load_data(cfg) if data is None else data
    obj = make_objective(cfg, data)
    n_users, n_items = vocab_sizes(cfg, data)
    spec = cfg.model_spec(n_users, n_items)
    model = build_model(cfg, spec, n_items).to(device)
    opt = make_optimizer(model, cfg)

    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    h = config_hash(cfg)
    log_path, state_path = out / "metrics.jsonl", out / "state.json"
    history: list[dict[str, Any]] = []
    start, best, best_epoch, stale = 1, None, 0, 0
    if resume and (out / "last.pt").is_file() and state_path.is_file():
        st = json.loads(state_path.read_text())
        if st.get("config_hash") != h:
            raise ConfigError(f"cannot resume {out}: it holds config {st.get('config_hash')}, "
                              f"this config is {h}")
        ck = torch.load(out / "last.pt", map_location=device, weights_only=True)
        # the loop state saved with the weights (state.json may be one epoch behind after a kill)
        st = ck.get("state", st)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        if "rng" in ck:  # dropout continues the stream the uninterrupted run would have used
            torch.set_rng_state(ck["rng"].cpu())
        start, best, best_epoch, stale = st["epoch"] + 1, st["best"], st["best_epoch"], st["stale"]
        history = st["history"]
        # drop log lines of an epoch that was logged but not checkpointed before the interruption
        log_path.write_text("".join(json.dumps(rec) + "\n" for rec in history))
    else:
        log_path.write_text("")
    _save_json(out / "config.json", {"config": cfg.to_dict(), "config_hash": h})

    for epoch in range(start, cfg.epochs + 1):
        te = time.time()
        loss = train_epoch(model, obj, opt, cfg, epoch, device)
        rec: dict[str, Any] = {"epoch": epoch, "loss": loss, "train_seconds": time.time() - te}
        if is_eval_epoch(cfg, epoch):
            model.eval()
            rec["valid"] = obj.evaluate(model, "valid", device, cfg.eval_batch)
            v = rec["valid"][obj.primary]
            if obj.primary == "rmse" or _better(v, best, obj.higher_is_better):
                # regression has no validation split: keep the last epoch rather than select on test
                best, best_epoch, stale = v, epoch, 0
                _save_torch(model.state_dict(), out / "best.pt")
            else:
                stale += 1
        history.append(rec)
        with log_path.open("a") as f:
            f.write(json.dumps(rec) + "\n")
        state = {"config_hash": h, "epoch": epoch, "best": best, "best_epoch": best_epoch, "stale": stale,
                 "history": history}
        _save_torch({"model": model.state_dict(), "optimizer": opt.state_dict(), "state": state,
                     "rng": torch.get_rng_state()}, out / "last.pt")
        _save_json(state_path, state)
        if cfg.progress:
            tqdm.write(json.dumps(rec))
        if cfg.patience and stale >= cfg.patience:
            break

    if (out / "best.pt").is_file():
        model.load_state_dict(torch.load(out / "best.pt", map_location=device, weights_only=True))
    return finish_run(cfg, model, spec, data, obj, device, history, best_epoch, out, h, t0)


def finish_run(
    cfg: TrainConfig, model: nn.Module, spec: ModelSpec, data: Any, obj: Objective, device: torch.device,
    history: list[dict[str, Any]], best_epoch: int, out: Path, h: str, t0: float,
    extra_provenance: dict[str, Any] | None = None,
) -> TrainResult:
    """After the best epoch's weights are loaded: finalize() the tables (SQ quantizes, DPQ/MGQE refresh
    codes), evaluate valid + test on what will be served, and write result.json. Shared by single-process
    and DDP training so both report and export exactly the same way."""
    model.eval()
    for emb in embedding_modules(model).values():
        emb.finalize()
    metrics = {w: obj.evaluate(model, w, device, cfg.eval_batch) for w in ("valid", "test")}
    model = model.cpu()
    size = model_size(spec, dense_param_count(model))
    seconds = time.time() - t0
    prov = {
        "dataset": getattr(data, "label", getattr(data, "name", cfg.dataset)),
        "config": cfg.to_dict(), "config_hash": h, "git_commit": _git_commit(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "best_epoch": best_epoch,
        "device": str(device), "train_seconds": seconds, **(extra_provenance or {}),
    }
    result = {"metrics": metrics, "best_epoch": best_epoch, "size": size, "seconds": seconds,
              "provenance": prov}
    _save_json(out / "result.json", result)
    return TrainResult(config=cfg, model=model, spec=spec, data=data, metrics=metrics, history=history,
                       best_epoch=best_epoch, size=size, out_dir=out, seconds=seconds, provenance=prov)
