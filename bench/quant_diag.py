"""Where an MGQE/DPQ checkpoint (best.pt of a trainer run, GMF or NeuMF backbone) loses accuracy.

The command line is `bench/gmf_reference.py diag` (docs/gmf-gap.md); this module holds its logic. For each
table (users, items) it decodes every row from the saved codes and the shared per-dimension centroids and
reports the relative quantization error ||x - c|| / ||x|| per group (head, tail), where the tail's usable
centroids sit against the tail rows, and full-ranking HR@10 (valid / test) for three (user table, item
table) pairs: decoded rows (what is served), the full training weights x, and x for users with decoded items.

The backbone comes from the trainer's `config.json` next to best.pt. GMF scores with numpy
(Eu * w) @ Ei.T + b (as before NeuMF support, so GMF records stay identical; without config.json a checkpoint
without an MLP is taken as GMF). NeuMF is rebuilt with the trainer's own factory (an FE copy of the run's
config, so the embedding modules are plain tables), gets the checkpoint's dense `mlp.*` / `out.*` weights
and the chosen tables, and is ranked by the trainer's own objective (`PointwiseRanking.evaluate`).
"""

from __future__ import annotations

import itertools
import json
import sys
import time
from argparse import Namespace
from pathlib import Path
from typing import Any

import numpy as np
import torch

SUPPORTED_MODELS = ("gmf", "neumf")


class ReferenceError(ValueError):
    """A bad flag or input file for bench/gmf_reference.py (and its diag subcommand, this module)."""


def read_run_config(checkpoint: Path) -> dict[str, Any] | None:
    """The `config` object of the trainer's config.json next to `checkpoint`, or None when there is none."""
    p = checkpoint.parent / "config.json"
    if not p.is_file():
        return None
    try:
        cfg = json.loads(p.read_text())["config"]
        if not isinstance(cfg, dict):
            raise TypeError(f"'config' is a {type(cfg).__name__}")
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise ReferenceError(f"{p}: not a trainer config.json with a 'config' object ({e})") from e
    return cfg


def backbone(checkpoint: Path, sd: dict[str, torch.Tensor], run_cfg: dict[str, Any] | None) -> str:
    """'gmf' or 'neumf'; ReferenceError for another model, or for a NeuMF checkpoint without config.json."""
    if run_cfg is not None:
        model = run_cfg.get("model")
        if model not in SUPPORTED_MODELS:
            raise ReferenceError(f"--checkpoint {checkpoint}: model {model!r} (from config.json) is not "
                                 f"supported; diag handles {', '.join(SUPPORTED_MODELS)}")
        return str(model)
    if any(k.startswith("mlp.") for k in sd):  # the MLP sizes and the dataset are read from config.json
        raise ReferenceError(f"--checkpoint {checkpoint}: a NeuMF checkpoint needs the trainer's config.json "
                             f"next to it (model, mlp sizes, dataset); {checkpoint.parent / 'config.json'} "
                             "not found")
    return "gmf"  # GMF runs diagnosed before NeuMF support: the weights alone suffice


def decode_tables(sd: dict[str, torch.Tensor], k_last: int | None) -> tuple[
        dict[str, np.ndarray], dict[str, np.ndarray], dict[str, list[float]], dict[str, dict[str, float]]]:
    """Full weights W and decoded rows Q per side ('user', 'item'), each (n, d) float32, with the mean
    relative quantization error per group (head first) and the tail-centroid spread statistics.
    k_last: K of the last (tail) group from the run's config; None: the tail's largest code + 1."""
    W: dict[str, np.ndarray] = {}
    Q: dict[str, np.ndarray] = {}
    err: dict[str, list[float]] = {}
    spread: dict[str, dict[str, float]] = {}
    for side in ("user", "item"):
        C = sd[f"{side}.centroids"].numpy()  # (D, K, dsub) float32
        groups = [sd[k].numpy().astype(np.int64) for k in sorted(sd) if k.startswith(f"{side}.codes_g")]
        codes = np.concatenate(groups)  # (n, D) int64
        Q[side] = C[np.arange(C.shape[0])[None, :], codes].reshape(codes.shape[0], -1)  # (n, d)
        W[side] = sd[f"{side}.weight"].numpy()
        rel = np.linalg.norm(W[side] - Q[side], axis=1) / np.linalg.norm(W[side], axis=1)
        cuts = np.cumsum([0] + [g.shape[0] for g in groups])
        err[side] = [float(rel[lo:hi].mean()) for lo, hi in itertools.pairwise(cuts)]
        # where the tail's usable centroids (the first K_tail of the shared table) sit vs the tail rows
        k_tail = (k_last or int(groups[-1].max()) + 1) if len(groups) > 1 else C.shape[1]
        xt, ct = W[side][cuts[-2]:].reshape(-1, C.shape[0]), C[:, :k_tail, 0]  # dsub = 1 layout
        lo, hi = np.percentile(xt, 5, axis=0), np.percentile(xt, 95, axis=0)
        spread[side] = {"tail_x_abs_median": float(np.median(np.abs(xt))),
                        "tail_centroids_abs_median": float(np.median(np.abs(ct))),
                        "other_centroids_abs_median": float(np.median(np.abs(C[:, k_tail:, 0])))
                        if k_tail < C.shape[1] else float("nan"),
                        "tail_centroids_in_tail_5_95": float(((ct >= lo[:, None]) & (ct <= hi[:, None]))
                                                             .sum(1).mean())}
    return W, Q, err, spread


# table pair name -> (user table (n_users, d), item table (n_items, d)), float32
Tables = dict[str, tuple[np.ndarray, np.ndarray]]


def gmf_hr(sd: dict[str, torch.Tensor], split: Any, tables: Tables) -> dict[str, dict[str, float]]:
    """Valid / test HR@10 per table pair, scoring (Eu[u] * w) @ Ei.T + b in numpy."""
    from mgqe.trainer.metrics import evaluate_full_ranking

    w, b = sd["out.weight"].numpy()[0], sd["out.bias"].numpy()
    hr = {}
    for name, (Eu, Ei) in tables.items():
        def score(u: np.ndarray, Eu: np.ndarray = Eu, Ei: np.ndarray = Ei) -> np.ndarray:
            return (Eu[u] * w) @ Ei.T + b
        hr[name] = {k: evaluate_full_ranking(score, split, k)["hr@10"] for k in ("valid", "test")}
    return hr


def neumf_hr(sd: dict[str, torch.Tensor], cfg: Any, split: Any, tables: Tables,
             ) -> dict[str, dict[str, float]]:
    """Valid / test HR@10 per table pair with the trainer's NeuMF (its factory, dense weights from `sd`) and
    its own evaluation. cfg: the run's TrainConfig."""
    from mgqe.trainer.models.factory import EMBEDDING_ATTRS, build_model
    from mgqe.trainer.train import make_objective

    fe = cfg.replace(method="fe")  # same backbone, plain (n, d) tables to load the chosen rows into
    model = build_model(fe, fe.model_spec(split.n_users, split.n_items), split.n_items)
    dense = {k: v for k, v in sd.items() if k.split(".", 1)[0] not in EMBEDDING_ATTRS}
    obj, cpu = make_objective(cfg, split), torch.device("cpu")
    hr = {}
    for name, (Eu, Ei) in tables.items():
        try:  # strict: a dense weight missing from, or extra in, the checkpoint is an error
            model.load_state_dict({**dense, "user.weight": torch.from_numpy(Eu),
                                   "item.weight": torch.from_numpy(Ei)})
        except RuntimeError as e:
            raise ReferenceError(f"checkpoint does not fit the config's NeuMF ({e})") from e
        model.eval()
        with torch.no_grad():
            hr[name] = {k: obj.evaluate(model, k, cpu, cfg.eval_batch)["hr@10"] for k in ("valid", "test")}
    return hr


def load_run_config(run_cfg: dict[str, Any], data_root: Path) -> Any:
    """The run's TrainConfig with its data read from `data_root` (the run may have used $MGQE_DATA_DIR)."""
    from mgqe.trainer.config import ConfigError, from_dict

    try:
        return from_dict({**run_cfg, "data_dir": str(data_root)})
    except ConfigError as e:
        raise ReferenceError(f"config.json: {e}") from e


def run_diag(a: Namespace) -> dict[str, Any]:
    """The diag record of `a.checkpoint` (see the module docstring); a.data: the SASRec file, whose data root
    is three levels up (<root>/ml-1m/sasrec/ml-1m.txt.gz)."""
    from mgqe.trainer.config import TrainConfig
    from mgqe.trainer.train import load_data

    ck = Path(a.checkpoint)
    if not ck.is_file():
        raise ReferenceError(f"--checkpoint {a.checkpoint}: file not found")
    sd = torch.load(ck, map_location="cpu", weights_only=True)
    run_cfg = read_run_config(ck)  # written by the trainer next to best.pt
    model = backbone(ck, sd, run_cfg)
    if not all(k in sd for k in ("user.centroids", "item.centroids", "out.weight")):
        raise ReferenceError(f"--checkpoint {a.checkpoint}: not a {'GMF' if model == 'gmf' else 'NeuMF'} "
                             "with shared-centroid DPQ/MGQE tables")
    k_last = int(run_cfg["K"][-1]) if run_cfg is not None else None
    W, Q, err, spread = decode_tables(sd, k_last)
    tables: Tables = {"decoded": (Q["user"], Q["item"]), "full weights": (W["user"], W["item"]),
                      "full users, decoded items": (W["user"], Q["item"])}
    root = Path(a.data).parents[2]
    if model == "gmf":
        hr = gmf_hr(sd, load_data(TrainConfig(data_dir=str(root))), tables)
    else:
        assert run_cfg is not None  # backbone() requires it for NeuMF
        cfg = load_run_config(run_cfg, root)
        hr = neumf_hr(sd, cfg, load_data(cfg), tables)
    return {"label": a.label, "kind": "diag", "command": " ".join(sys.argv), "checkpoint": a.checkpoint,
            "rel_quant_error": err, "tail_spread": spread, "hr@10": hr,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
