"""Embedding modules: the common interface, DPQ/MGQE quantization semantics, SQ, LRF, error paths."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mgqe.proto.config import EmbeddingConfig
from mgqe.trainer.embeddings import (
    Embedding,
    QuantizedEmbedding,
    QuantOptions,
    ScalarQuantizedEmbedding,
    build_embedding,
)
from mgqe.trainer.embeddings.quantizer import _nearest_matmul, bn_assign, nearest_centroid

N, DIM = 40, 8
QUANT_CFGS = {
    "dpq": EmbeddingConfig.dpq(N, DIM, D=4, K=8),
    "dpq_dsub1": EmbeddingConfig.dpq(N, DIM, D=8, K=16),
    "shared_k": EmbeddingConfig.mgqe(N, DIM, bounds=[6, 20, N], D=8, K=[16, 8, 2]),
    "unshared_k": EmbeddingConfig.mgqe(N, DIM, bounds=[6, N], D=4, K=[16, 4], variant="unshared_k"),
    "unshared_d": EmbeddingConfig.mgqe(N, DIM, bounds=[6, N], D=[8, 2], K=8, variant="unshared_d"),
}
ALL_CFGS = {
    "fe": EmbeddingConfig.fe(N, DIM),
    "lrf": EmbeddingConfig.lrf(N, DIM, rank=3),
    "sq": EmbeddingConfig.sq(N, DIM, bits=4),
    **QUANT_CFGS,
}


def brute_force_codes(x: torch.Tensor, C: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Squared distances (b, D, K) by explicit differences, and their argmin (b, D)."""
    dist = ((x[:, :, None, :] - C[None]) ** 2).sum(-1)
    return dist, dist.argmin(-1)


def assert_nearest(x: torch.Tensor, C: torch.Tensor, codes: torch.Tensor) -> None:
    """codes pick a nearest centroid (compared by distance so exact ties cannot fail the test)."""
    dist, _ = brute_force_codes(x, C)
    chosen = dist.gather(-1, codes.long().unsqueeze(-1)).squeeze(-1)
    torch.testing.assert_close(chosen, dist.min(-1).values, rtol=0, atol=1e-12)


def train_steps(emb: Embedding, steps: int = 5, seed: int = 0) -> None:
    """A few Adam steps on a random regression target, batches with repeated ids."""
    g = torch.Generator().manual_seed(seed)
    target = torch.randn(N, DIM, generator=g) * 0.05
    opt = torch.optim.Adam(emb.parameters(), lr=0.01)
    emb.train()
    for _ in range(steps):
        ids = torch.randint(0, N, (32,), generator=g)
        loss = ((emb(ids) - target[ids]) ** 2).mean() + emb.aux_loss()
        opt.zero_grad()
        loss.backward()
        opt.step()


# ---- the common interface ------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(ALL_CFGS))
def test_forward_keeps_id_shape(name: str) -> None:
    torch.manual_seed(0)
    emb = build_embedding(ALL_CFGS[name])
    ids = torch.tensor([[0, 5, 39], [7, 7, 1]])
    for mode in (emb.train, emb.eval):
        mode()
        out = emb(ids)
        assert out.shape == (2, 3, DIM) and out.dtype == torch.float32
        # Same id -> same vector, wherever it sits in the batch.
        torch.testing.assert_close(out[1, 0], out[1, 1])
    assert emb(torch.zeros(0, dtype=torch.long)).shape == (0, DIM)


@pytest.mark.parametrize("name", list(ALL_CFGS))
def test_init_scale_is_paper_default(name: str) -> None:
    torch.manual_seed(0)
    emb = build_embedding(ALL_CFGS[name].model_copy(update={"n": 4000}) if name in ("fe", "lrf", "sq")
                          else ALL_CFGS[name])
    std = emb.train()(torch.arange(emb.cfg.n)).std().item()
    assert 0.005 < std < 0.02  # N(0, 0.01) for the table's output


@pytest.mark.parametrize("name", list(ALL_CFGS))
def test_aux_loss_is_zero_by_default(name: str) -> None:
    emb = build_embedding(ALL_CFGS[name]).train()
    emb(torch.arange(10))
    assert emb.aux_loss().item() == 0.0


# ---- DPQ / MGQE ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(QUANT_CFGS))
def test_ste_gradients_reach_full_embedding_and_centroids(name: str) -> None:
    torch.manual_seed(1)
    emb = build_embedding(QUANT_CFGS[name]).train()
    ids = torch.tensor([3, 3, 17, 39])
    w = torch.randn(len(ids), DIM)
    (emb(ids) * w).sum().backward()
    assert isinstance(emb, QuantizedEmbedding)
    # Straight-through: d out / d x is the identity, so each looked-up row gets the summed output gradient.
    expected = torch.zeros(N, DIM).index_add_(0, ids, w)
    torch.testing.assert_close(emb.weight.grad, expected)
    cgrads = [p.grad for name_, p in emb.named_parameters() if "centroids" in name_]
    assert cgrads and any(g is not None and g.abs().sum() > 0 for g in cgrads)


@pytest.mark.parametrize("name", list(QUANT_CFGS))
def test_train_forward_outputs_chosen_centroids_and_writes_codes(name: str) -> None:
    torch.manual_seed(2)
    emb = build_embedding(QUANT_CFGS[name]).train()
    assert isinstance(emb, QuantizedEmbedding)
    ids = torch.arange(N).flip(0)
    x = emb.weight.detach().clone()
    out = emb(ids).detach()
    for i, g in enumerate(emb.groups):
        C = emb.group_table(i).detach()
        xg = x[g.start : g.stop].view(g.size, g.D, -1)
        codes = emb.group_codes(i).long()
        assert_nearest(xg, C, codes)
        decoded = C[torch.arange(g.D), codes].reshape(g.size, DIM)
        torch.testing.assert_close(out.flip(0)[g.start : g.stop], decoded)


def test_tail_rows_never_pick_centroids_beyond_their_k() -> None:
    torch.manual_seed(3)
    cfg = QUANT_CFGS["shared_k"]
    emb = build_embedding(cfg).train()
    assert isinstance(emb, QuantizedEmbedding)
    # Adversarial start: every tail row sits exactly on a centroid its group may NOT use.
    with torch.no_grad():
        for g in cfg.groups[1:]:
            forbidden = emb.centroids[:, g.K :, 0]  # (D, K_max - K_i)
            pick = torch.arange(g.size) % forbidden.shape[1]
            emb.weight[g.start : g.stop] = forbidden[:, pick].t()
    emb(torch.arange(N))
    train_steps(emb, steps=10)
    emb.finalize()
    for i, g in enumerate(cfg.groups):
        assert int(emb.group_codes(i).max()) < g.K
        assert int(emb.group_codes(i).min()) >= 0
    emb.eval()
    out = emb(torch.arange(cfg.groups[-1].start, N)).view(-1, cfg.groups[-1].D)
    allowed = emb.centroids[:, : cfg.groups[-1].K, 0].detach()  # (D, K_tail)
    assert bool((out[:, :, None] == allowed[None]).any(-1).all())


@pytest.mark.parametrize("name", list(QUANT_CFGS))
def test_buffer_codes_equal_fresh_assignment_after_training(name: str) -> None:
    torch.manual_seed(4)
    emb = build_embedding(QUANT_CFGS[name])
    assert isinstance(emb, QuantizedEmbedding)
    train_steps(emb, steps=8)
    emb.finalize()
    for i, g in enumerate(emb.groups):
        x = emb.weight.detach()[g.start : g.stop].view(g.size, g.D, -1)
        C = emb.group_table(i).detach()
        assert_nearest(x, C, emb.group_codes(i))
        _, fresh = brute_force_codes(x, C)
        assert bool((fresh == emb.group_codes(i).long()).all())


@pytest.mark.parametrize("name", list(QUANT_CFGS))
def test_eval_forward_decodes_exported_arrays_like_the_server(name: str) -> None:
    torch.manual_seed(5)
    emb = build_embedding(QUANT_CFGS[name])
    train_steps(emb, steps=3)
    emb.eval()
    arrays = emb.export_arrays("item")
    cfg = emb.cfg
    expected = np.zeros((N, DIM), np.float32)
    for i, g in enumerate(cfg.groups):
        codes = arrays[f"item.codes.g{i}"]
        assert codes.shape == (g.size, g.D) and codes.dtype == np.uint8
        C = arrays["item.centroids"][:, : g.K] if cfg.shared else arrays[f"item.centroids.g{i}"]
        dsub = DIM // g.D
        for j in range(g.D):  # the docstring's decode formula, literally
            expected[g.start : g.stop, j * dsub : (j + 1) * dsub] = C[j, codes[:, j]]
    got = emb(torch.arange(N)).detach().numpy()
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("name", list(QUANT_CFGS))
def test_grouped_and_naive_lookup_agree(name: str) -> None:
    torch.manual_seed(6)
    a = build_embedding(QUANT_CFGS[name]).train()
    b = build_embedding(QUANT_CFGS[name]).train()
    b.load_state_dict(a.state_dict())
    assert isinstance(a, QuantizedEmbedding) and isinstance(b, QuantizedEmbedding)
    ids = torch.tensor([[39, 0, 7], [7, 21, 5]])
    w = torch.randn(2, 3, DIM)
    ya, yb = a(ids), b.forward_naive(ids)
    torch.testing.assert_close(ya, yb)
    (ya * w).sum().backward()
    (yb * w).sum().backward()
    for (k, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa.grad, pb.grad, msg=k)
    for (k, ba), bb in zip(a.named_buffers(), b.buffers(), strict=True):
        assert torch.equal(ba, bb), k
    a.eval()
    b.eval()
    torch.testing.assert_close(a(ids), b.forward_naive(ids))


def test_eval_forward_does_not_change_codes_or_read_weights() -> None:
    torch.manual_seed(7)
    emb = build_embedding(QUANT_CFGS["shared_k"]).eval()
    assert isinstance(emb, QuantizedEmbedding)
    before = {k: v.clone() for k, v in emb.state_dict().items() if "codes" in k}
    out1 = emb(torch.arange(N))
    with torch.no_grad():
        emb.weight.add_(1.0)  # the serving decode must not depend on the training weights
    out2 = emb(torch.arange(N))
    torch.testing.assert_close(out1, out2)
    for k, v in emb.state_dict().items():
        if "codes" in k:
            assert torch.equal(v, before[k])


def test_centroid_loss_matches_formula() -> None:
    torch.manual_seed(8)
    emb = build_embedding(QUANT_CFGS["dpq"], quant=QuantOptions(centroid_loss=0.5)).train()
    assert isinstance(emb, QuantizedEmbedding)
    ids = torch.tensor([4, 4, 9, 30])
    out = emb(ids)
    uniq = ids.unique()
    x = emb.weight.detach()[uniq]
    c = out.detach()[[0, 2, 3]]  # the chosen centroids of rows 4, 9, 30
    expected = 0.5 * ((c - x) ** 2).mean()
    torch.testing.assert_close(emb.aux_loss(), expected)
    emb.aux_loss().backward()
    assert emb.centroids.grad is not None and emb.centroids.grad.abs().sum() > 0
    assert emb.weight.grad is None  # stop_gradient on x
    emb.eval()
    emb(ids)
    assert emb.aux_loss().item() == 0.0


def test_one_dimensional_search_matches_matmul_search() -> None:
    torch.manual_seed(9)
    x = torch.randn(500, 6, 1)
    C = torch.randn(6, 32, 1)
    fast = nearest_centroid(x, C)
    assert_nearest(x, C, fast)
    assert torch.equal(fast, _nearest_matmul(x, C))


def test_bn_assignment_matches_its_definition() -> None:
    torch.manual_seed(10)
    x = torch.randn(64, 3, 2) * 0.01
    C = torch.randn(3, 8, 2) * 0.01
    eps = 1e-3
    r = -brute_force_codes(x, C)[0]  # (b, D, K)
    norm = (r - r.mean(0)) / torch.sqrt(r.var(0, unbiased=False) + eps)
    torch.testing.assert_close(bn_assign(x, C, eps), norm.argmax(-1))


def test_bn_assignment_buffer_after_finalize_uses_group_statistics() -> None:
    torch.manual_seed(11)
    emb = build_embedding(QUANT_CFGS["shared_k"], quant=QuantOptions(bn_assign=True))
    assert isinstance(emb, QuantizedEmbedding)
    train_steps(emb, steps=5)
    emb.finalize()
    for i, g in enumerate(emb.groups):
        x = emb.weight.detach()[g.start : g.stop].view(g.size, g.D, -1)
        expected = bn_assign(x, emb.group_table(i).detach(), 1e-3)
        assert torch.equal(emb.group_codes(i).long(), expected)


def test_codes_survive_state_dict_round_trip() -> None:
    torch.manual_seed(12)
    a = build_embedding(QUANT_CFGS["unshared_d"])
    train_steps(a, steps=3)
    b = build_embedding(QUANT_CFGS["unshared_d"])
    b.load_state_dict(a.state_dict())
    a.eval()
    b.eval()
    torch.testing.assert_close(a(torch.arange(N)), b(torch.arange(N)))


def test_large_k_uses_wide_code_buffers() -> None:
    cfg = EmbeddingConfig.dpq(4, 2, D=1, K=65536)
    emb = build_embedding(cfg)
    assert isinstance(emb, QuantizedEmbedding)
    assert emb.group_codes(0).dtype == torch.int32
    assert emb.export_arrays("t")["t.codes.g0"].dtype == np.uint16


# ---- FE, LRF, SQ ---------------------------------------------------------------------------------
def test_lrf_is_product_of_factors() -> None:
    emb = build_embedding(ALL_CFGS["lrf"])
    ids = torch.tensor([2, 9])
    arr = emb.export_arrays("user")
    torch.testing.assert_close(emb(ids), torch.from_numpy(arr["user.A"][[2, 9]] @ arr["user.B"]))


def test_sq_trains_as_fe_then_dequantizes() -> None:
    torch.manual_seed(13)
    emb = build_embedding(ALL_CFGS["sq"])
    assert isinstance(emb, ScalarQuantizedEmbedding)
    ids = torch.arange(N)
    torch.testing.assert_close(emb(ids), emb.weight)
    emb.finalize()
    arr = emb.export_arrays("item")
    lo, hi, codes = arr["item.lo"], arr["item.hi"], arr["item.codes"]
    levels = 2**4 - 1
    assert codes.dtype == np.uint8 and int(codes.max()) <= levels
    decoded = lo + codes * (hi - lo) / levels
    np.testing.assert_allclose(emb(ids).detach().numpy(), decoded, rtol=0, atol=1e-7)
    w = emb.weight.detach().numpy()
    assert np.all(np.abs(decoded - w) <= (hi - lo) / levels / 2 + 1e-7)
    np.testing.assert_array_equal(lo, w.min(0))
    np.testing.assert_array_equal(hi, w.max(0))


def test_sq_constant_dimension_decodes_exactly() -> None:
    emb = build_embedding(EmbeddingConfig.sq(5, 2, bits=8))
    assert isinstance(emb, ScalarQuantizedEmbedding)
    with torch.no_grad():
        emb.weight[:, 1] = 0.25
    emb.finalize()
    torch.testing.assert_close(emb(torch.arange(5))[:, 1], torch.full((5,), 0.25))


# ---- error paths ---------------------------------------------------------------------------------
def test_float_ids_are_rejected() -> None:
    with pytest.raises(TypeError, match="integer"):
        build_embedding(ALL_CFGS["fe"])(torch.tensor([1.0]))


@pytest.mark.parametrize("bad", [-1, N])
def test_out_of_range_ids_are_rejected(bad: int) -> None:
    for name in ("fe", "shared_k"):
        with pytest.raises(IndexError, match=f"id {bad} is out of range"):
            build_embedding(ALL_CFGS[name])(torch.tensor([0, bad]))


def test_sq_export_before_finalize_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="finalize"):
        build_embedding(ALL_CFGS["sq"]).export_arrays("item")


def test_quant_options_on_non_quantized_method_are_rejected() -> None:
    with pytest.raises(ValueError, match="dpq/mgqe only"):
        build_embedding(ALL_CFGS["fe"], quant=QuantOptions())


@pytest.mark.parametrize("method", ["dpq", "dpq_dsub1", "shared_k", "unshared_k", "unshared_d"])
def test_reference_ste_trains_centroids_by_the_centroid_loss_only(method: str) -> None:
    """centroid_task_grad=False: the task loss reaches the full embeddings exactly as by default, the
    centroids get nothing from it; their gradient is the centroid loss's alone."""
    ids = torch.tensor([4, 4, 9, 30, 2])
    grads = {}
    for task_grad in (True, False):
        torch.manual_seed(3)
        emb = build_embedding(QUANT_CFGS[method], quant=QuantOptions(centroid_loss=0.5,
                                                                     centroid_task_grad=task_grad)).train()
        assert isinstance(emb, QuantizedEmbedding)
        out = emb(ids)
        (out.sin().sum()).backward()  # a task loss; the centroid loss is not added
        tables = [emb.centroids] if emb.shared else list(emb.group_centroids)
        grads[task_grad] = (emb.weight.grad.clone(), [t.grad for t in tables])  # type: ignore[union-attr]
        if not task_grad:
            emb.zero_grad()
            emb(ids)
            emb.aux_loss().backward()
            assert sum(float(t.grad.abs().sum()) for t in tables if t.grad is not None) > 0
    torch.testing.assert_close(grads[True][0], grads[False][0])
    assert any(g is not None and float(g.abs().sum()) > 0 for g in grads[True][1])
    assert all(g is None or float(g.abs().sum()) == 0 for g in grads[False][1])


def test_non_positive_init_std_is_rejected() -> None:
    with pytest.raises(ValueError, match="init_std"):
        build_embedding(ALL_CFGS["fe"], init_std=0.0)


def test_bad_quant_options_are_rejected() -> None:
    with pytest.raises(ValueError, match="centroid_loss"):
        QuantOptions(centroid_loss=-1.0)
    with pytest.raises(ValueError, match="bn_eps"):
        QuantOptions(bn_eps=0.0)
    with pytest.raises(ValueError, match="nothing trains the centroids"):
        QuantOptions(centroid_task_grad=False)


def test_quantized_module_rejects_other_methods() -> None:
    with pytest.raises(ValueError, match="dpq or mgqe"):
        QuantizedEmbedding(ALL_CFGS["fe"])


def test_entering_eval_refreshes_stale_codes() -> None:
    torch.manual_seed(14)
    emb = build_embedding(QUANT_CFGS["shared_k"])
    assert isinstance(emb, QuantizedEmbedding)
    emb.train()
    emb(torch.arange(N))  # every row gets a code from the current state...
    with torch.no_grad():
        emb.centroids.mul_(-1.0)  # ...which the next "optimizer step" makes stale
    stale = [emb.group_codes(i).clone() for i in range(len(emb.groups))]
    emb.eval()
    changed = False
    for i, g in enumerate(emb.groups):
        x = emb.weight.detach()[g.start : g.stop].view(g.size, g.D, -1)
        assert_nearest(x, emb.group_table(i).detach(), emb.group_codes(i))
        changed |= not torch.equal(stale[i], emb.group_codes(i))
    assert changed
    before = [emb.group_codes(i).clone() for i in range(len(emb.groups))]
    emb.eval()  # already in eval mode: no refresh, the buffers stay as they are
    with torch.no_grad():
        emb.weight.add_(1.0)
    emb.eval()
    assert all(torch.equal(b, emb.group_codes(i)) for i, b in enumerate(before))
