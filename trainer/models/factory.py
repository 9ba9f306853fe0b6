"""Build a backbone from a TrainConfig with every embedding table made by `build_embedding`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from mgqe.proto.config import EmbeddingConfig, ModelSpec

from ..config import TrainConfig
from .gmf import GMF
from .neumf import NeuMF
from .relevance import Relevance
from .sasrec import SASRec

if TYPE_CHECKING:  # the embeddings package is imported lazily at run time (see _make_table)
    from ..embeddings import Embedding

EMBEDDING_ATTRS = ("user", "item")


def _make_table(table: EmbeddingConfig, cfg: TrainConfig) -> nn.Module:
    from mgqe.trainer.embeddings import QuantOptions, build_embedding

    quant = None
    if table.method in ("dpq", "mgqe"):
        quant = QuantOptions(centroid_loss=cfg.centroid_loss, bn_assign=cfg.bn_assign,
                             centroid_task_grad=cfg.centroid_task_grad)
    return build_embedding(table, init_std=cfg.init_std, quant=quant)


def build_model(cfg: TrainConfig, spec: ModelSpec, n_items: int) -> nn.Module:
    """The backbone for `cfg` whose tables are those of `spec` (see TrainConfig.model_spec)."""
    item = _make_table(spec.tables["item"], cfg)
    if cfg.model == "gmf":
        return GMF(_make_table(spec.tables["user"], cfg), item, cfg.d, n_items, task=cfg.task)
    if cfg.model == "neumf":
        return NeuMF(_make_table(spec.tables["user"], cfg), item, cfg.d, n_items, mlp=cfg.mlp)
    if cfg.model == "sasrec":
        return SASRec(item, cfg.d, n_items, max_len=cfg.max_len, n_blocks=cfg.n_blocks, n_heads=cfg.n_heads,
                      dropout=cfg.dropout, pos_init_std=cfg.pos_init_std)
    return Relevance(item, cfg.d, n_items)


def dense_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The backbone's non-embedding parameters by state_dict key (the artifact's `dense.<name>` arrays)."""
    return {
        k: v for k, v in model.state_dict().items()
        if k.split(".", 1)[0] not in EMBEDDING_ATTRS and v.is_floating_point()
    }


def dense_param_count(model: nn.Module) -> int:
    """Float32 weights the server needs besides the embedding tables (Table 1's dense term)."""
    return sum(v.numel() for v in dense_state_dict(model).values())


def embedding_modules(model: nn.Module) -> dict[str, Embedding]:
    """{'user': table, 'item': table} present on the model (each built by `build_embedding`)."""
    return {a: getattr(model, a) for a in EMBEDDING_ATTRS if hasattr(model, a)}
