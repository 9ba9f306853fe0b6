"""Size accounting: Table 1 on hand-computed cases for every method, and module <-> formula cross-checks."""

from __future__ import annotations

import pytest
from torch import nn

from mgqe.proto.config import EmbeddingConfig
from mgqe.proto.packing import packed_nbytes
from mgqe.proto.sizes import embedding_payload_bytes, embedding_size_bits
from mgqe.trainer.embeddings import (
    Embedding,
    build_embedding,
    dense_param_count,
    model_size_bits,
    size_ratio,
)

# n = 10 rows, d = 4; MGQE groups [0, 3) and [3, 10). Expected values are Table 1 written out by hand.
CASES: dict[str, tuple[EmbeddingConfig, int]] = {
    "fe": (EmbeddingConfig.fe(10, 4), 32 * 10 * 4),
    "lrf": (EmbeddingConfig.lrf(10, 4, rank=2), 32 * 10 * 2 + 32 * 2 * 4),
    "sq": (EmbeddingConfig.sq(10, 4, bits=8), 10 * 4 * 8 + 2 * 32 * 4),
    "sq3": (EmbeddingConfig.sq(10, 4, bits=3), 10 * 4 * 3 + 2 * 32 * 4),
    "dpq": (EmbeddingConfig.dpq(10, 4, D=2, K=4), 10 * 2 * 2 + 32 * 4 * 4),
    # shared centroids, K = [4, 2]: head codes 2 bits, tail 1 bit, one (D, 4, dsub) table = 32 * 4 * d
    "mgqe_shared_k": (
        EmbeddingConfig.mgqe(10, 4, bounds=[3, 10], D=4, K=[4, 2]),
        3 * 4 * 2 + 7 * 4 * 1 + 32 * 4 * 4,
    ),
    # private tables of 4 and 2 centroids: 32 * (4 + 2) * d
    "mgqe_unshared_k": (
        EmbeddingConfig.mgqe(10, 4, bounds=[3, 10], D=2, K=[4, 2], variant="unshared_k"),
        3 * 2 * 2 + 7 * 2 * 1 + 32 * (4 + 2) * 4,
    ),
    # D = [4, 2], K = 4: two private tables of 4 centroids each
    "mgqe_unshared_d": (
        EmbeddingConfig.mgqe(10, 4, bounds=[3, 10], D=[4, 2], K=4, variant="unshared_d"),
        3 * 4 * 2 + 7 * 2 * 2 + 32 * 4 * 4 * 2,
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_table1_hand_computed(name: str) -> None:
    cfg, expected = CASES[name]
    assert embedding_size_bits(cfg) == expected
    assert model_size_bits({"item": cfg}, dense_params=0) == expected


@pytest.mark.parametrize("name", list(CASES))
def test_module_state_matches_formula(name: str) -> None:
    """What the module exports is exactly what Table 1 counts: floats at 32 bits, codes at log2 K bits."""
    cfg, expected = CASES[name]
    emb = build_embedding(cfg)
    emb.finalize()
    arrays = emb.export_arrays("t")
    floats = sum(a.size for k, a in arrays.items() if a.dtype.kind == "f")
    assert floats == emb.dense_param_count()
    code_bits = 0
    code_bytes = 0
    for k, a in arrays.items():
        if a.dtype.kind != "u":
            continue
        bits = cfg.bits if cfg.method == "sq" else cfg.groups[int(k.rsplit(".g", 1)[1])].bits
        assert bits is not None
        code_bits += a.size * bits
        code_bytes += packed_nbytes(a.size, bits)
    assert 32 * floats + code_bits == expected
    assert 4 * floats + code_bytes == embedding_payload_bytes(cfg)


class _TwoTower(nn.Module):
    def __init__(self, user: Embedding, item: Embedding) -> None:
        super().__init__()
        self.user = user
        self.item = item
        self.out = nn.Linear(4, 1)  # 4 weights + 1 bias = 5 dense parameters


def test_model_size_counts_tables_and_dense_weights() -> None:
    user_cfg, user_bits = CASES["dpq"]
    item_cfg, item_bits = CASES["mgqe_shared_k"]
    model = _TwoTower(build_embedding(user_cfg), build_embedding(item_cfg))
    assert dense_param_count(model) == 5
    assert model_size_bits(model) == user_bits + item_bits + 32 * 5
    tables = {"user": model.user, "item": model.item}
    assert model_size_bits(tables, dense_params=5) == user_bits + item_bits + 160
    fe = _TwoTower(build_embedding(EmbeddingConfig.fe(10, 4)), build_embedding(EmbeddingConfig.fe(10, 4)))
    ref = model_size_bits(fe)
    assert ref == 2 * 32 * 10 * 4 + 32 * 5
    assert size_ratio(model, ref) == (user_bits + item_bits + 160) / ref


def test_mapping_without_dense_params_is_an_error() -> None:
    with pytest.raises(ValueError, match="dense_params is required"):
        model_size_bits({"item": CASES["fe"][0]})


def test_mapping_with_wrong_value_type_is_an_error() -> None:
    with pytest.raises(TypeError, match="table 'item'"):
        model_size_bits({"item": 3}, dense_params=0)  # type: ignore[dict-item]


def test_negative_dense_params_is_an_error() -> None:
    with pytest.raises(ValueError, match="dense_params must be >= 0"):
        model_size_bits({"item": CASES["fe"][0]}, dense_params=-1)


def test_non_positive_reference_is_an_error() -> None:
    with pytest.raises(ValueError, match="reference_bits"):
        size_ratio({"item": CASES["fe"][0]}, 0, dense_params=0)


def test_paper_dpq_ratio_on_ml1m_shape() -> None:
    """DPQ D=64, K=256, 6,040 users and 3,416 items, d=64, GMF (65 dense weights): 30.4% as in Table 3."""
    users, items, d = 6040, 3416, 64
    ref = model_size_bits({"u": EmbeddingConfig.fe(users, d), "i": EmbeddingConfig.fe(items, d)}, d + 1)
    dpq = model_size_bits({"u": EmbeddingConfig.dpq(users, d), "i": EmbeddingConfig.dpq(items, d)}, d + 1)
    assert round(100 * dpq / ref, 1) == 30.4
