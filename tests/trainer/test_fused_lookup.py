"""The fused CPU lookup (kernels.py + fused.py) against the torch path of Algorithm 1 and brute force."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

from mgqe.proto.config import EmbeddingConfig
from mgqe.trainer.embeddings import QuantizedEmbedding, QuantOptions, build_embedding, kernels
from mgqe.trainer.embeddings.fused import fused_supported
from mgqe.trainer.embeddings.quantizer import _nearest_1d_torch

N, DIM = 60, 8
FUSED_CFGS = {
    "dpq": EmbeddingConfig.dpq(N, DIM, D=8, K=16),
    "shared_k": EmbeddingConfig.mgqe(N, DIM, bounds=[6, 20, N], D=8, K=[16, 8, 2]),
    "unshared_k": EmbeddingConfig.mgqe(N, DIM, bounds=[6, N], D=8, K=[16, 4], variant="unshared_k"),
    "two_centroids": EmbeddingConfig.mgqe(N, DIM, bounds=[6, N], D=8, K=[4, 2]),
}


def twin_tables(cfg: EmbeddingConfig, seed: int = 0, quant: QuantOptions | None = None,
                ) -> tuple[QuantizedEmbedding, QuantizedEmbedding]:
    """Two identical tables; the first looks up through the fused path, the second through the torch path."""
    torch.manual_seed(seed)
    a = build_embedding(cfg, quant=quant)
    b = build_embedding(cfg, quant=quant)
    b.load_state_dict(a.state_dict())
    assert isinstance(a, QuantizedEmbedding) and isinstance(b, QuantizedEmbedding)
    a.train()
    b.train()
    return a, b


def brute_force_codes(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    """x (b, D), c (D, K) -> (b, D) float64 squared distance to the nearest centroid."""
    return ((x[:, :, None].astype(np.float64) - c[None].astype(np.float64)) ** 2).min(-1)


def step_twins(a: QuantizedEmbedding, b: QuantizedEmbedding, ids: torch.Tensor, target: torch.Tensor,
               step: int, aux: bool = False,
               before: Callable[[QuantizedEmbedding, torch.Tensor], None] | None = None) -> None:
    """Sync b to a, look `ids` up through the fused (a) and torch (b) paths and check equal values and code
    buffers, then backpropagate a squared loss to `target` (N, d) float32 (plus the centroid loss when
    `aux`) and check equal gradients up to float summation order. A parameter with no gradient on one side
    counts as a zero gradient (a private table that no id of the batch used). `before(a, ids)` runs after
    the sync (test_fused_dsub.py checks there that the batch holds no near-tie)."""
    b.load_state_dict(a.state_dict())
    if before is not None:
        before(a, ids)
    ea, eb = a(ids), b._lookup_grouped(ids.reshape(-1)).view(*ids.shape, a.cfg.d)
    torch.testing.assert_close(ea, eb, rtol=0, atol=0, msg=f"values differ at step {step}")
    for i in range(len(a.groups)):
        assert torch.equal(a.group_codes(i), b.group_codes(i)), f"group {i} codes at step {step}"
    if aux:
        assert float(a.aux_loss().detach()) > 0
        torch.testing.assert_close(a.aux_loss(), b.aux_loss(), rtol=1e-5, atol=1e-9)
    for emb, e in ((a, ea), (b, eb)):
        emb.zero_grad()
        loss = ((e - target[ids]) ** 2).sum()
        (loss + emb.aux_loss() if aux else loss).backward()
    for (na, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        assert aux or (pa.grad is not None and pb.grad is not None), na
        ga = pa.grad if pa.grad is not None else torch.zeros_like(pa)
        gb = pb.grad if pb.grad is not None else torch.zeros_like(pb)
        torch.testing.assert_close(ga, gb, rtol=1e-5, atol=1e-7, msg=f"{na} grad at {step}")


@pytest.mark.parametrize("name", sorted(FUSED_CFGS))
def test_fused_matches_torch_path_over_training(name: str) -> None:
    """At every state along a training run: equal values, equal code buffers, and gradients of the weights and
    centroids equal up to float summation order. (The torch twin is re-synced each step, because that
    summation order alone makes two Adam trajectories drift apart.)"""
    a, b = twin_tables(FUSED_CFGS[name])
    assert fused_supported(a)
    opt = torch.optim.Adam(a.parameters(), lr=0.01)
    g = torch.Generator().manual_seed(1)
    target = torch.randn(N, DIM, generator=g) * 0.05
    for step in range(6):
        ids = torch.randint(0, N, (3, 17), generator=g)  # 2-d ids with repeats, like SASRec sequences
        ids[0, :4] = 2  # one row many times
        step_twins(a, b, ids, target, step)
        opt.step()


@pytest.mark.parametrize("name", ["shared_k", "unshared_k", "dpq"])
@pytest.mark.parametrize("task_grad", [True, False])
def test_fused_centroid_loss_and_reference_ste_match_torch_path(name: str, task_grad: bool) -> None:
    """With the centroid loss (either STE form) the fused path gives the torch path's values, loss and
    gradients (up to float summation order), along a few Adam steps."""
    centroid_loss_twins(FUSED_CFGS[name], task_grad)


def centroid_loss_twins(cfg: EmbeddingConfig, task_grad: bool,
                        before: Callable[[QuantizedEmbedding, torch.Tensor], None] | None = None) -> None:
    """Five Adam steps of twin tables of `cfg` with the centroid loss (weight 0.3, the task loss reaching the
    centroids or not), each checked by `step_twins` (with its `before` hook)."""
    quant = QuantOptions(centroid_loss=0.3, centroid_task_grad=task_grad)
    a, b = twin_tables(cfg, quant=quant)
    assert fused_supported(a)
    opt = torch.optim.Adam(a.parameters(), lr=0.01)
    g = torch.Generator().manual_seed(2)
    target = torch.randn(N, DIM, generator=g) * 0.05
    for step in range(5):
        ids = torch.randint(0, N, (40,), generator=g)
        step_twins(a, b, ids, target, step, aux=True, before=before)
        opt.step()


def test_fused_buffer_equals_fresh_assignment_of_looked_up_rows() -> None:
    """Rows looked up in a step carry exactly the codes a fresh nearest-centroid assignment gives, and tail
    rows never get a code >= K_i."""
    a, _ = twin_tables(FUSED_CFGS["shared_k"])
    ids = torch.arange(N)
    a(ids)
    for i, grp in enumerate(a.groups):
        assert torch.equal(a.group_codes(i).long(), a.fresh_codes(i)), f"group {i}"
        assert int(a.group_codes(i).max()) < grp.K


@pytest.mark.parametrize("cfg", [
    FUSED_CFGS["unshared_k"],
    # mixed dsub (the missing tail group has dsub 2), as the experiments' `unshared D=[64,32]`
    EmbeddingConfig.mgqe(N, DIM, bounds=[6, N], D=[8, 4], K=16, variant="unshared_d"),
], ids=["unshared_k", "unshared_d_1_2"])
def test_fused_batch_missing_a_group_still_gives_zero_centroid_grads(cfg: EmbeddingConfig) -> None:
    """A batch with ids of one group only: the other group's private table gets a zero (not missing) grad."""
    a, b = twin_tables(cfg)
    ids = torch.tensor([0, 1, 1, 5])  # head group only
    a(ids).sum().backward()
    b._lookup_grouped(ids).sum().backward()
    for pa, pb in zip(a.group_centroids, b.group_centroids, strict=True):
        assert pa.grad is not None
        torch.testing.assert_close(pa.grad, pb.grad if pb.grad is not None else torch.zeros_like(pa))
    assert float(a.group_centroids[1].grad.abs().sum()) == 0.0  # type: ignore[union-attr]


@pytest.mark.parametrize("cfg", [
    FUSED_CFGS["shared_k"],
    # dsub > 1 groups (quantize_group_sub) and mixed dsub; the weight gradient does not depend on the codes,
    # so no near-tie guard is needed here
    EmbeddingConfig.mgqe(N, DIM, bounds=[6, N], D=[8, 4], K=16, variant="unshared_d"),
], ids=["shared_k", "unshared_d_1_2"])
def test_fused_weight_grad_is_the_full_embedding_grad_bit_for_bit(cfg: EmbeddingConfig) -> None:
    """The straight-through weight gradient (reduce_rows + scatter_rows) equals torch's full-embedding
    backward of the same ids exactly, with many repeats of some ids (one torch thread: its summation
    order)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        a, _ = twin_tables(cfg)
        assert fused_supported(a)
        g = torch.Generator().manual_seed(4)
        ids = torch.cat([torch.randint(0, N, (500,), generator=g), torch.zeros(300, dtype=torch.long)])
        ids = ids[torch.randperm(len(ids), generator=g)]
        up = torch.randn(len(ids), DIM, generator=g)
        (a(ids) * up).sum().backward()
        w = a.weight.detach().clone().requires_grad_(True)
        (torch.nn.functional.embedding(ids, w) * up).sum().backward()
        assert a.weight.grad is not None and w.grad is not None
        assert torch.equal(a.weight.grad, w.grad)
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize(
    ("cfg", "options", "why"),
    [
        (FUSED_CFGS["shared_k"], QuantOptions(bn_assign=True), "batch-norm assignment"),
        (EmbeddingConfig.dpq(N, DIM, D=4, K=8), QuantOptions(bn_assign=True), "batch-norm, dsub = 2"),
    ],
)
def test_fused_path_is_skipped_where_it_does_not_apply(cfg: EmbeddingConfig, options: QuantOptions,
                                                       why: str) -> None:
    emb = QuantizedEmbedding(cfg, options=options)
    assert not fused_supported(emb), why


def centroid_cases(rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    """(name, c (D, K) float32) tables with the shapes that break search code: ties, clusters, heavy tails."""
    cases = []
    for K in (1, 2, 3, 5, 16, 64, 255, 256, 300):
        c = (rng.standard_normal((6, K)) * 0.01).astype(np.float32)
        cases.append((f"gauss K={K}", c))
        cases.append((f"duplicates K={K}", (np.round(c * 300) / 300).astype(np.float32)))
        clustered = c.copy()
        clustered[:, : K // 2] = clustered[:, :1]
        cases.append((f"cluster K={K}", clustered))
        cases.append((f"heavy tails K={K}", (rng.standard_normal((6, K)) ** 5).astype(np.float32)))
        cases.append((f"all equal K={K}", np.full((6, K), 0.5, np.float32)))
    return cases


def test_kernel_is_exact_nearest_and_equals_torch_rule_ties_included() -> None:
    """The compiled search picks a nearest centroid for every coordinate (checked by distance against brute
    force) and the very same index as the torch rule used on GPUs, ties between equal centroids included."""
    rng = np.random.default_rng(0)
    for name, c in centroid_cases(rng):
        D, K = c.shape
        x = (rng.standard_normal((300, D)) * 0.012).astype(np.float32)
        x[:40] = c[np.arange(D), rng.integers(0, K, (40, D))]  # exactly on centroids
        x[40:60] = np.float32(1e30)  # far outside the grid
        x[60:80] = -np.float32(1e30)
        ref = _nearest_1d_torch(torch.from_numpy(x), torch.from_numpy(c)).numpy()
        for cells in (-1, 0, 3):  # default grid, binary search, a grid coarser than the table
            perm = kernels.identity_perm(D, K)
            codes = kernels.nearest_rows(x, perm, kernels.search_tables(c, perm, cells))
            chosen = ((x.astype(np.float64) - c[np.arange(D), codes].astype(np.float64)) ** 2)
            np.testing.assert_array_equal(chosen, brute_force_codes(x, c), err_msg=f"{name} cells={cells}")
            np.testing.assert_array_equal(codes, ref, err_msg=f"{name} cells={cells}")


def adversarial_inputs(c: np.ndarray) -> np.ndarray:
    """(b, D) float32 values around every decision boundary of centroids c (D, K) float32: the float32
    nearest to each float64 midpoint of sorted neighbours and its 2 float32 neighbours either side (one of
    them the last value below the midpoint, one the first above), the centroids themselves and their
    neighbours, +-0, the smallest subnormals and +-FLT_MAX (no infinities: the rule is for finite rows)."""
    v = np.sort(c.astype(np.float64), axis=1)
    mids = ((v[:, 1:] + v[:, :-1]) * 0.5).astype(np.float32)  # (D, K - 1), rounded to nearest
    cols = [mids, c]
    with np.errstate(over="ignore"):  # neighbours of +-FLT_MAX overflow to +-inf; dropped below
        for base in (mids, c):
            lo = hi = base
            for _ in range(2):
                lo, hi = np.nextafter(lo, np.float32(-np.inf)), np.nextafter(hi, np.float32(np.inf))
                cols += [lo, hi]
    tiny = np.float32(1e-45)  # the smallest positive subnormal
    fmax = np.finfo(np.float32).max
    special = np.array([0.0, -0.0, tiny, -tiny, fmax, -fmax], np.float32)
    cols.append(np.broadcast_to(special, (c.shape[0], special.size)))
    x = np.concatenate(cols, axis=1).T  # (b, D)
    return np.ascontiguousarray(x[np.isfinite(x).all(1)])


def test_search_at_midpoints_and_their_float32_neighbours_equals_torch_rule() -> None:
    """The grid and binary search give the float64 rule's code (torch searchsorted on float64 midpoints) for
    every value next to a decision boundary, also where midpoints are not float32 values (centroids one ulp
    apart, subnormals, near FLT_MAX), with duplicated centroids and values outside the grid."""
    rng = np.random.default_rng(11)
    fmax = np.finfo(np.float32).max
    one_ulp = np.nextafter(np.float32(1), np.float32(2))
    two_ulp = np.nextafter(one_ulp, np.float32(2))
    cases = [(name, c) for name, c in centroid_cases(rng) if c.shape[1] >= 2]
    cases += [
        ("ulp neighbours", np.array([[1.0, one_ulp, two_ulp, 3.0]] * 3, np.float32)),
        ("subnormals", np.array([[0.0, 1e-45, 3e-45, -1e-45, -0.0, 7e-45]] * 2, np.float32)),
        ("extremes", np.array([[-fmax, fmax, 0.0, -fmax, 1e30, -1e-30], [fmax, fmax, -fmax, 1.0, 1.0, 0.5]],
                              np.float32)),
        ("duplicated", np.repeat((rng.standard_normal((4, 8)) * 0.01).astype(np.float32), 5, axis=1)),
    ]
    for name, c in cases:
        D, K = c.shape
        x = adversarial_inputs(c)
        ref = _nearest_1d_torch(torch.from_numpy(x), torch.from_numpy(c)).numpy()
        for cells in (-1, 0, 3, 7):  # default grid, binary search, grids coarser than the table
            perm = kernels.identity_perm(D, K)
            codes = kernels.nearest_rows(x, perm, kernels.search_tables(c, perm, cells))
            np.testing.assert_array_equal(codes, ref, err_msg=f"{name} cells={cells}")


def test_search_tables_order_does_not_depend_on_the_previous_order() -> None:
    """The insertion sort from a stale order gives the stable argsort, so codes never depend on history."""
    rng = np.random.default_rng(3)
    c = (np.round(rng.standard_normal((4, 64)) * 20) / 20).astype(np.float32)  # many exact ties
    stale = np.stack([rng.permutation(64) for _ in range(4)]).astype(np.int64)
    kernels.search_tables(c, stale)
    np.testing.assert_array_equal(stale, np.argsort(c, axis=1, kind="stable"))


def test_sorted_tables_is_the_stable_argsort_signed_zeros_and_nans_included() -> None:
    """The int64 (value, index) keys of sorted_tables order like a stable sort: -0.0 and +0.0 tie (index
    decides), negatives before positives, NaNs last in index order; codes equal the torch rule."""
    c = np.array([[0.0, -0.0, 1.0, -1.0, -0.0, 0.0, -2.5, 2.5],
                  [np.nan, 3.0, -np.inf, np.nan, -1e-30, 1e-30, np.inf, -3.0],
                  [-1.0, -1.0, -2.0, -2.0, -0.5, -0.5, -1.0, -2.0]], np.float32)
    c[1, 3] = -c[1, 3]  # a NaN with the sign bit set
    perm, _ = kernels.sorted_tables(c, 100)
    np.testing.assert_array_equal(perm, torch.sort(torch.from_numpy(c), dim=1, stable=True).indices.numpy())
    finite = c[[0, 2]]
    x = np.random.default_rng(9).standard_normal((50, 2)).astype(np.float32) * 2
    x[:5] = 0.0
    x[5:10] = -0.0
    perm, tabs = kernels.sorted_tables(finite, 50)
    np.testing.assert_array_equal(kernels.nearest_rows(x, perm, tabs),
                                  _nearest_1d_torch(torch.from_numpy(x), torch.from_numpy(finite)).numpy())


def reference_grid(
    mids: np.ndarray, lo: np.ndarray, scale: np.ndarray, G: int
) -> tuple[np.ndarray, np.ndarray]:
    """first (D, G) = #midpoints in cells before g, R (D,) = most midpoints in one cell, by counting (numpy),
    with the cell rule of kernels._cell; mids (D, K - 1) float64 sorted."""
    y = (mids - lo[:, None]) * scale[:, None]
    cells = np.where(y >= 0, np.minimum(np.floor(np.where(y >= 0, y, 0)), G - 1), 0).astype(np.int64)
    occ = np.stack([np.bincount(r, minlength=G) for r in cells])
    first = np.concatenate([np.zeros((len(occ), 1), np.int64), np.cumsum(occ, 1)[:, :-1]], 1)
    return first, occ.max(1)


def test_grid_equals_counting_reference() -> None:
    """search_tables's one-pass grid equals counting the midpoints per cell, ties and clusters included."""
    rng = np.random.default_rng(5)
    for name, c in centroid_cases(rng):
        D, K = c.shape
        if K < 2:
            continue
        perm = kernels.identity_perm(D, K)
        mids, first, lo, scale, R = kernels.search_tables(c, perm, -1)
        ref_first, ref_R = reference_grid(mids[:, : K - 1], lo, scale, first.shape[1])
        np.testing.assert_array_equal(first, ref_first, err_msg=name)
        np.testing.assert_array_equal(R, ref_R, err_msg=name)


def test_prefix_tables_equal_a_fresh_sort_ties_included() -> None:
    """A shared table's smaller group: the order derived from the full table's sort equals a fresh stable sort
    of the first K centroids, and so do all search tables and codes."""
    rng = np.random.default_rng(7)
    for name, c in centroid_cases(rng):
        D, Kmax = c.shape
        full, _ = kernels.sorted_tables(c, 10_000)
        x = (rng.standard_normal((200, D)) * 0.012).astype(np.float32)
        for K in sorted(k for k in {1, 2, Kmax // 4, Kmax // 2, Kmax} if 1 <= k <= Kmax):
            for rows in (1, 10_000):  # binary search and grid
                perm, tabs = kernels.prefix_tables(c, full, K, rows)
                fresh_perm, fresh = kernels.sorted_tables(c[:, :K], rows)
                np.testing.assert_array_equal(perm, np.argsort(c[:, :K], axis=1, kind="stable"), err_msg=name)
                np.testing.assert_array_equal(perm, fresh_perm, err_msg=name)
                for u, v in zip(tabs, fresh, strict=True):
                    if K >= 2 and kernels.grid_cells(rows, K):  # else `first` is left unset and unused
                        np.testing.assert_array_equal(u, v, err_msg=name)
                np.testing.assert_array_equal(kernels.nearest_rows(x, perm, tabs),
                                              kernels.nearest_rows(x, fresh_perm, fresh), err_msg=name)


def test_expand_and_reduce_rows_equal_numpy_bit_for_bit() -> None:
    """expand_rows is a gather, reduce_rows a scatter-add in batch order (float32, the sums of np.add.at)."""
    rng = np.random.default_rng(11)
    tslot = rng.integers(0, 37, 500).astype(np.int64)
    dec = rng.standard_normal((37, 8)).astype(np.float32)
    grad = rng.standard_normal((500, 8)).astype(np.float32)
    np.testing.assert_array_equal(kernels.expand_rows(dec, tslot), dec[tslot])
    ref = np.zeros((37, 8), np.float32)
    np.add.at(ref, tslot, grad)
    np.testing.assert_array_equal(kernels.reduce_rows(grad, tslot, 37), ref)
