"""Embedding compression methods as drop-in PyTorch modules: ids (...) -> (..., d) float32.

    build_embedding(cfg)   FE, LRF, SQ, DPQ or MGQE (shared_k, unshared_k, unshared_d) from a config
    Embedding              the common interface: forward, aux_loss, finalize, export_arrays, dense_param_count
    model_size_bits        Table 1 size of a model (its tables + dense weights), via mgqe.proto.sizes
"""

from .base import Embedding, check_ids
from .factory import build_embedding
from .full import FullEmbedding
from .lowrank import LowRankEmbedding
from .quantized import QuantizedEmbedding, QuantOptions
from .scalar import ScalarQuantizedEmbedding
from .size import dense_param_count, embedding_tables, model_size_bits, size_ratio

__all__ = [
    "Embedding",
    "FullEmbedding",
    "LowRankEmbedding",
    "QuantOptions",
    "QuantizedEmbedding",
    "ScalarQuantizedEmbedding",
    "build_embedding",
    "check_ids",
    "dense_param_count",
    "embedding_tables",
    "model_size_bits",
    "size_ratio",
]
