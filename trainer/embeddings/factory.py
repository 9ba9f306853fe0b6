"""build_embedding: EmbeddingConfig -> the module of its method."""

from __future__ import annotations

from mgqe.proto.config import EmbeddingConfig

from .base import Embedding
from .full import FullEmbedding
from .lowrank import LowRankEmbedding
from .quantized import QuantizedEmbedding, QuantOptions
from .scalar import ScalarQuantizedEmbedding


def build_embedding(
    cfg: EmbeddingConfig, *, init_std: float = 0.01, quant: QuantOptions | None = None
) -> Embedding:
    """The table for `cfg`, initialised N(0, init_std) (the paper's N(0, 0.01)).

    quant: DPQ/MGQE training options (centroid loss, batch-norm assignment); rejected for other methods so
    a misplaced option is not silently ignored.
    """
    if init_std <= 0:
        raise ValueError(f"init_std must be > 0, got {init_std}")
    if quant is not None and cfg.method not in ("dpq", "mgqe"):
        raise ValueError(f"quant options apply to dpq/mgqe only, not to method {cfg.method!r}")
    if cfg.method == "fe":
        return FullEmbedding(cfg, init_std=init_std)
    if cfg.method == "lrf":
        return LowRankEmbedding(cfg, init_std=init_std)
    if cfg.method == "sq":
        return ScalarQuantizedEmbedding(cfg, init_std=init_std)
    if cfg.method in ("dpq", "mgqe"):
        return QuantizedEmbedding(cfg, init_std=init_std, options=quant)
    raise ValueError(f"unknown embedding method {cfg.method!r}")  # unreachable while Method is validated
