"""Backbones: dense parameter names/shapes of docs/architecture.md, forward passes, SASRec masking."""

from __future__ import annotations

import math

import pytest
import torch

from mgqe.trainer.config import MethodName, ModelName, TrainConfig
from mgqe.trainer.models import GMF, NeuMF, SASRec, build_model, dense_state_dict
from mgqe.trainer.models.factory import dense_param_count
from mgqe.trainer.models.sasrec import Block

N_USERS, N_ITEMS, D = 30, 20, 8


def make(model: ModelName, method: MethodName = "fe", **kw: object) -> torch.nn.Module:
    cfg = TrainConfig(model=model, method=method, d=D, D=(4,), K=(8, 4) if method == "mgqe" else (8,),
                      task="relevance" if model == "relevance" else "ranking", max_len=5, **kw)  # type: ignore[arg-type]
    torch.manual_seed(0)
    return build_model(cfg, cfg.model_spec(N_USERS, N_ITEMS), N_ITEMS).eval()


def shapes(m: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in dense_state_dict(m).items()}


def test_gmf_and_relevance_dense_names() -> None:
    for name in ("gmf", "relevance"):
        assert shapes(make(name)) == {"out.weight": (1, D), "out.bias": (1,)}


def test_neumf_dense_names() -> None:
    assert shapes(make("neumf", mlp=(12, 6, 3))) == {
        "mlp.0.weight": (12, 2 * D), "mlp.0.bias": (12,), "mlp.2.weight": (6, 12), "mlp.2.bias": (6,),
        "mlp.4.weight": (3, 6), "mlp.4.bias": (3,), "out.weight": (1, D + 3), "out.bias": (1,),
    }


def test_sasrec_dense_names() -> None:
    s = shapes(make("sasrec", n_blocks=2))
    assert s["pos.weight"] == (5, D)
    for b in range(2):
        assert s[f"blocks.{b}.attn.in_proj_weight"] == (3 * D, D)
        assert s[f"blocks.{b}.attn.in_proj_bias"] == (3 * D,)
        assert s[f"blocks.{b}.attn.out_proj.weight"] == (D, D)
        for ln in ("ln1", "ln2"):
            assert s[f"blocks.{b}.{ln}.weight"] == (D,) and s[f"blocks.{b}.{ln}.bias"] == (D,)
        for f in ("ffn1", "ffn2"):
            assert s[f"blocks.{b}.{f}.weight"] == (D, D) and s[f"blocks.{b}.{f}.bias"] == (D,)
    assert s["last_ln.weight"] == (D,)
    assert len(s) == 1 + 2 * 12 + 2
    m = make("sasrec")
    assert all(ln.eps == 1e-8 for ln in m.modules() if isinstance(ln, torch.nn.LayerNorm))


def test_dense_excludes_every_embedding_table() -> None:
    for method in ("fe", "lrf", "sq", "dpq", "mgqe"):
        m = make("gmf", method)
        assert all(not k.startswith(("user.", "item.")) for k in dense_state_dict(m))
        assert dense_param_count(m) == D + 1


@pytest.mark.parametrize("name", ["gmf", "neumf"])
def test_score_all_matches_pairwise_forward(name: ModelName) -> None:
    m = make(name)
    assert isinstance(m, GMF | NeuMF)
    users = torch.tensor([0, 3, 29])
    with torch.no_grad():
        full = m.score_all(users)
        pair = torch.stack([m(users, torch.full_like(users, j)) for j in range(N_ITEMS)], dim=1)
    assert full.shape == (3, N_ITEMS)
    torch.testing.assert_close(full, pair, rtol=1e-5, atol=1e-6)


def test_gmf_is_output_layer_of_elementwise_product() -> None:
    m = make("gmf")
    assert isinstance(m, GMF)
    u, i = torch.tensor([1, 2]), torch.tensor([4, 5])
    with torch.no_grad():
        want = (m.user(u) * m.item(i)) @ m.out.weight[0] + m.out.bias
        torch.testing.assert_close(m(u, i), want)


def test_neumf_needs_three_layers() -> None:
    with pytest.raises(ValueError, match="3 hidden layer sizes"):
        NeuMF(torch.nn.Embedding(2, D), torch.nn.Embedding(2, D), D, 2, mlp=(4, 2))


def test_sasrec_forward_follows_the_contract() -> None:
    """Recompute the documented forward by hand from the module's parameters."""
    m = make("sasrec", n_blocks=1)
    assert isinstance(m, SASRec)
    seq = torch.tensor([[N_ITEMS, N_ITEMS, 3, 7, 1]])  # left-padded
    with torch.no_grad():
        mask = (seq < N_ITEMS).float().unsqueeze(-1)
        E = m.item(torch.clamp(seq, max=N_ITEMS - 1)) * mask
        x = (E * math.sqrt(D) + m.pos.weight) * mask
        blk = m.blocks[0]
        assert isinstance(blk, Block)
        q = blk.ln1(x)
        causal = torch.triu(torch.ones(5, 5, dtype=torch.bool), diagonal=1)
        a, _ = blk.attn(q, x, x, attn_mask=causal)
        x = blk.ln2(q + a)
        x = (x + blk.ffn2(torch.relu(blk.ffn1(x)))) * mask
        h = m.last_ln(x)[:, -1]
        want = h @ m.item(torch.arange(N_ITEMS)).T
        torch.testing.assert_close(m.score_all(seq), want, rtol=1e-5, atol=1e-5)


def test_sasrec_is_causal_and_pad_is_outside_the_table() -> None:
    m = make("sasrec")
    assert isinstance(m, SASRec)
    a = torch.tensor([[N_ITEMS, 2, 3, 4, 5]])
    b = torch.tensor([[N_ITEMS, 2, 3, 4, 9]])
    with torch.no_grad():
        ha, hb = m.hidden(a), m.hidden(b)
    torch.testing.assert_close(ha[:, :4], hb[:, :4])  # earlier positions never see the last item
    assert not torch.allclose(ha[:, 4], hb[:, 4])
    assert m.embed_items(torch.tensor([N_ITEMS])).abs().sum() == 0


def test_sasrec_positional_init() -> None:
    """pos_init_std sets the positional table's N(0, std); unset it stays torch's N(0, 1) (earlier runs)."""
    default, small = make("sasrec"), make("sasrec", pos_init_std=0.01)
    assert isinstance(default, SASRec) and isinstance(small, SASRec)
    assert 0.8 < float(default.pos.weight.detach().std()) < 1.2
    assert 0.008 < float(small.pos.weight.detach().std()) < 0.012


def test_sasrec_rejects_wrong_length() -> None:
    m = make("sasrec")
    assert isinstance(m, SASRec)
    with pytest.raises(ValueError, match="max_len"):
        m.hidden(torch.zeros((1, 3), dtype=torch.long))
