"""Size accounting on top of mgqe.proto.sizes (Table 1): from a model or from table configs."""

from __future__ import annotations

from collections.abc import Mapping

from torch import nn

from mgqe.proto import sizes
from mgqe.proto.config import EmbeddingConfig

from .base import Embedding


def embedding_tables(model: nn.Module) -> dict[str, Embedding]:
    """Every Embedding submodule of `model` by its module path (the model itself -> "")."""
    return {name: m for name, m in model.named_modules() if isinstance(m, Embedding)}


def dense_param_count(model: nn.Module) -> int:
    """float32 parameters of `model` outside its embedding tables (the backbone's dense weights)."""
    inside = {id(p) for t in embedding_tables(model).values() for p in t.parameters()}
    return sum(p.numel() for p in model.parameters() if id(p) not in inside)


def model_size_bits(
    model_or_tables: nn.Module | Mapping[str, EmbeddingConfig | Embedding], dense_params: int | None = None
) -> int:
    """Serving size in bits: Table 1 for every embedding table plus 32 bits per dense parameter.

    model_or_tables: a backbone (its Embedding submodules are the tables; dense_params defaults to its
    other parameters) or a mapping name -> EmbeddingConfig / Embedding (dense_params then required).
    """
    if isinstance(model_or_tables, nn.Module):
        tables = {k: t.cfg for k, t in embedding_tables(model_or_tables).items()}
        if dense_params is None:
            dense_params = dense_param_count(model_or_tables)
    else:
        tables = {k: (t.cfg if isinstance(t, Embedding) else t) for k, t in model_or_tables.items()}
        for k, t in tables.items():
            if not isinstance(t, EmbeddingConfig):
                raise TypeError(f"table {k!r}: expected EmbeddingConfig or Embedding, got {type(t).__name__}")
        if dense_params is None:
            raise ValueError("dense_params is required when sizing a mapping of tables")
    if dense_params < 0:
        raise ValueError(f"dense_params must be >= 0, got {dense_params}")
    return sizes.model_size_bits(tables, dense_params)


def size_ratio(model: nn.Module | Mapping[str, EmbeddingConfig | Embedding], reference_bits: int,
               dense_params: int | None = None) -> float:
    """model_size_bits(model) / reference_bits (e.g. the same backbone with full embeddings)."""
    if reference_bits <= 0:
        raise ValueError(f"reference_bits must be > 0, got {reference_bits}")
    return model_size_bits(model, dense_params) / reference_bits
