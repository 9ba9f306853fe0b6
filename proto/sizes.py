"""Model size in bits, as the paper's Table 1 counts it (serving-time bits, float32 = 32 bits).

    FE    32 n d
    LRF   32 n r + 32 r d
    SQ    n d b                      (+ 2 * 32 d for the per-dimension min/max the decoder needs)
    DPQ   n D log2K + 32 K d
    MGQE  sum_i |V_i| D_i log2K_i + centroids
          shared:   32 K_max d       unshared: sum_i 32 K_i d

The artifact stores exactly these bits: codes of each group are bit-packed contiguously and padded only to
the next whole byte (see ARTIFACT.md), so `embedding_payload_bytes` is what the file's code and float
buffers hold, byte for byte.
"""

from __future__ import annotations

from collections.abc import Mapping

from .config import EmbeddingConfig

FLOAT_BITS = 32


def code_bits(cfg: EmbeddingConfig) -> int:
    """Bits of the integer codes alone (0 for fe/lrf)."""
    if cfg.method == "sq":
        assert cfg.bits is not None
        return cfg.n * cfg.d * cfg.bits
    if cfg.method in ("dpq", "mgqe"):
        return sum(g.size * g.D * g.bits for g in cfg.groups)
    return 0


def float_bits(cfg: EmbeddingConfig) -> int:
    """Bits of the float32 parameters of the table (weights, factors, centroids, SQ ranges)."""
    n, d = cfg.n, cfg.d
    if cfg.method == "fe":
        return FLOAT_BITS * n * d
    if cfg.method == "lrf":
        assert cfg.rank is not None
        return FLOAT_BITS * (n * cfg.rank + cfg.rank * d)
    if cfg.method == "sq":
        return FLOAT_BITS * 2 * d
    if cfg.shared:
        return FLOAT_BITS * cfg.K_max * d
    return FLOAT_BITS * sum(g.K * d for g in cfg.groups)


def embedding_size_bits(cfg: EmbeddingConfig) -> int:
    """Table 1 size of one embedding table in bits."""
    return code_bits(cfg) + float_bits(cfg)


def code_buffer_bytes(cfg: EmbeddingConfig) -> list[int]:
    """Bytes of each packed code buffer as stored: one buffer per group (or one for sq), each padded
    to a whole byte."""
    if cfg.method == "sq":
        assert cfg.bits is not None
        return [(cfg.n * cfg.d * cfg.bits + 7) // 8]
    if cfg.method in ("dpq", "mgqe"):
        return [(g.size * g.D * g.bits + 7) // 8 for g in cfg.groups]
    return []


def embedding_payload_bytes(cfg: EmbeddingConfig) -> int:
    """Bytes the artifact's buffers hold for this table (codes padded per buffer to a byte)."""
    return sum(code_buffer_bytes(cfg)) + float_bits(cfg) // 8


def model_size_bits(tables: Mapping[str, EmbeddingConfig], dense_params: int) -> int:
    """Whole-model serving size: all embedding tables plus `dense_params` float32 weights."""
    return sum(embedding_size_bits(t) for t in tables.values()) + FLOAT_BITS * dense_params
