"""Torch model -> artifact, through `mgqe.proto.artifact.write_artifact`.

`export_artifact(model, data, path, metrics, provenance)` writes what the server needs: the ModelSpec
(rebuilt from the model: backbone type, every table's EmbeddingConfig, backbone hparams), each table's
arrays (`user.*`, `item.*`: weights, factors, or codes + centroids after `finalize()`), the backbone's
dense weights as `dense.<state_dict key>` float32, the external-id vocabularies `vocab.user` /
`vocab.item` (entry i = original id of internal id i), and for GMF / NeuMF trained on a ranking split each
user's training items `known.indptr` / `known.items` (so the server's recommend can exclude them).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import numpy as np
from torch import nn

from mgqe.proto.artifact import ArtifactHeader, write_artifact
from mgqe.proto.config import ModelSpec, ModelType

from .config import TrainConfig
from .data.protocol import SplitData
from .models import GMF, NeuMF, Relevance, SASRec
from .models.factory import dense_state_dict, embedding_modules
from .models.sasrec import Block
from .objectives import PairData


class ExportError(ValueError):
    """The model or data cannot be exported (unknown backbone, vocabulary that does not fit the tables)."""


def spec_of(model: nn.Module) -> ModelSpec:
    """The ModelSpec of a trained backbone (its tables' EmbeddingConfig and the hparams the server needs)."""
    if not isinstance(model, (GMF, NeuMF, SASRec, Relevance)):
        raise ExportError(f"cannot export a {type(model).__name__}: not one of GMF, NeuMF, SASRec, Relevance")
    tables = {name: emb.cfg for name, emb in embedding_modules(model).items()}
    d = tables["item"].d
    hp: dict[str, Any]
    mt: ModelType
    if isinstance(model, GMF):
        mt, hp = "gmf", {"task": model.task}
    elif isinstance(model, NeuMF):
        mt, hp = "neumf", {"mlp": [m.out_features for m in model.mlp if isinstance(m, nn.Linear)]}
    elif isinstance(model, SASRec):
        mt = "sasrec"
        hp = {"max_len": model.max_len, "n_blocks": len(model.blocks),
              "n_heads": cast(Block, model.blocks[0]).attn.num_heads if len(model.blocks) else 1}
    else:
        mt, hp = "relevance", {}
    return ModelSpec(model_type=mt, d=d, tables=tables, hparams=hp)


def vocabularies(data: Any) -> dict[str, np.ndarray]:
    """{'user': (n_users,), 'item': (n_items,)} int64 original ids from SplitData, PairData or RatingData."""
    if isinstance(data, PairData):
        return {"user": data.a_vocab, "item": data.b_vocab}
    out = {}
    for t in ("user", "item"):
        v = getattr(data, f"{t}_vocab", None)
        if v is not None:
            out[t] = np.asarray(v, dtype=np.int64)
    return out


def model_arrays(model: nn.Module, data: Any) -> dict[str, np.ndarray]:
    """Every array of the artifact: tables, dense weights, vocabularies (codes unpacked, floats float32)."""
    arrays: dict[str, np.ndarray] = {}
    vocab = vocabularies(data)
    for name, emb in embedding_modules(model).items():
        arrays.update(emb.export_arrays(name))
        if name not in vocab:
            raise ExportError(f"the data has no {name} vocabulary to export with the {name} table")
        if vocab[name].shape != (emb.cfg.n,):
            raise ExportError(f"{name} vocabulary has {vocab[name].shape[0]} ids, "
                              f"the table has {emb.cfg.n} rows")
        arrays[f"vocab.{name}"] = vocab[name]
    for k, v in dense_state_dict(model).items():
        arrays[f"dense.{k}"] = v.detach().cpu().numpy().astype(np.float32)
    return arrays | known_items(model, data)


def known_items(model: nn.Module, data: Any) -> dict[str, np.ndarray]:
    """GMF / NeuMF on a ranking split: each user's training items by internal id as CSR,
    {'known.indptr': (n_users + 1,) int64, 'known.items': (nnz,) int32}; {} for other models and data
    (sasrec and relevance have no user table; rating data has no ranking split)."""
    if not isinstance(model, (GMF, NeuMF)) or not isinstance(data, SplitData):
        return {}
    return {"known.indptr": np.asarray(data.train_indptr, dtype=np.int64),
            "known.items": np.asarray(data.train_items, dtype=np.int32)}


def export_artifact(model: nn.Module, data: Any, path: str | Path, metrics: Mapping[str, float] | None = None,
                    provenance: Mapping[str, Any] | None = None) -> ArtifactHeader:
    """Write `model` (trained and finalized, e.g. TrainResult.model) as an artifact at `path`.

    data: the SplitData / PairData it was trained on (TrainResult.data), for the id vocabularies.
    metrics: flat {name: float}, e.g. flat_metrics(result.metrics); provenance: JSON-serialisable dict
    (TrainResult.provenance: dataset, config, git commit, time). Returns the header written.
    Raises ExportError for an unknown backbone or a vocabulary that does not match a table, and the
    proto ArtifactError subclasses for arrays that do not match the spec.
    """
    was_training = model.training
    model.eval()
    try:
        spec = spec_of(model)
        arrays = model_arrays(model, data)
    finally:
        model.train(was_training)
    return write_artifact(path, spec, arrays, metrics=dict(metrics or {}), provenance=dict(provenance or {}))


def flat_metrics(metrics: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """{'valid': {'hr@10': ..}, 'test': {..}} -> {'valid.hr@10': .., 'test.hr@10': ..} (counts dropped)."""
    return {f"{split}.{k}": float(v) for split, m in metrics.items() for k, v in m.items() if k != "users"}


def load_run(run_dir: Path, data_dir: str | None = None, data: Any = None,
             ) -> tuple[TrainConfig, Any, nn.Module]:
    """(config, data, model) of a run directory (config.json + best.pt): the model rebuilt on CPU with the
    best epoch's weights, in eval mode, its tables finalized (what is served and what the trainer tested).

    data_dir replaces the run's own data directory (e.g. on another machine); data, when given, is the run's
    dataset already loaded (load_data of its config), so that many runs of one dataset read it once."""
    import json

    import torch

    from .config import from_dict
    from .models.factory import build_model
    from .train import load_data, vocab_sizes

    saved = json.loads((run_dir / "config.json").read_text())
    cfg = from_dict(saved["config"])
    if data_dir is not None:
        cfg = cfg.replace(data_dir=data_dir)
    data = load_data(cfg) if data is None else data
    n_users, n_items = vocab_sizes(cfg, data)
    model = build_model(cfg, cfg.model_spec(n_users, n_items), n_items)
    model.load_state_dict(torch.load(run_dir / "best.pt", map_location="cpu", weights_only=True))
    model.eval()
    for emb in embedding_modules(model).values():
        emb.finalize()
    return cfg, data, model


def export_run(run_dir: Path, out: Path, data_dir: str | None = None) -> ArtifactHeader:
    """Rebuild the model of a run directory (config.json + best.pt), finalize it and export it to `out`.

    Metrics and provenance come from the run's result.json when present."""
    import json

    _, data, model = load_run(run_dir, data_dir)
    res_path = run_dir / "result.json"
    res = json.loads(res_path.read_text()) if res_path.is_file() else {}
    out.parent.mkdir(parents=True, exist_ok=True)
    return export_artifact(model, data, out, flat_metrics(res.get("metrics", {})), res.get("provenance", {}))
