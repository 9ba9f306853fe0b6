"""The fused CPU lookup for dsub = d / D > 1 (kernels.search_sub, quantize_group_sub, centroid_grad_sub)
against its documented rule, the torch path of Algorithm 1 and float64 brute force.

The torch path ranks centroids by a float32 baddbmm of x . c - ||c||^2 / 2, the kernel by float32 direct
distances, so codes may differ where two centroids are (nearly) equidistant. The tests therefore check:
the kernel reproduces its rule bit for bit (a numpy transcription, ties included); it agrees with
`quantizer.nearest_centroid` wherever the best and second-best float64 distances differ by more than a
small margin (MARGIN); and along training runs whose batches hold no near-tie (asserted), values, code
buffers and gradients equal the torch path's, as in test_fused_lookup.py for dsub = 1.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_fused_lookup import centroid_loss_twins, step_twins, twin_tables  # same folder (rootdir import)

from mgqe.proto.config import EmbeddingConfig
from mgqe.trainer.embeddings import QuantizedEmbedding, kernels
from mgqe.trainer.embeddings.fused import fused_supported
from mgqe.trainer.embeddings.quantizer import _nearest_matmul, nearest_centroid

N, DIM = 60, 8
# A near-tie: best and second-best float64 distances d1 <= d2 with d2 - d1 <= MARGIN * (||x||^2 + max_k
# ||c_k||^2). That scale is the one of the rounding error of torch's float32 x . c - ||c||^2 / 2 (the kernel's
# direct distances are more accurate), so outside near-ties both must pick the same centroid; 1e-6 is about
# dsub * float32 eps for dsub = 16.
MARGIN = 1e-6
SUB_CFGS = {
    "dpq_dsub2": EmbeddingConfig.dpq(N, DIM, D=4, K=16),
    "dpq_dsub4": EmbeddingConfig.dpq(N, DIM, D=2, K=16),
    "shared_k_dsub2": EmbeddingConfig.mgqe(N, DIM, bounds=[6, 20, N], D=4, K=[16, 8, 2]),
    "unshared_k_dsub2": EmbeddingConfig.mgqe(N, DIM, bounds=[6, N], D=4, K=[16, 4], variant="unshared_k"),
    # mixed dsub across groups, as the experiments' `unshared D=[64,32]` (dsub 1 and 2)
    "unshared_d_1_2": EmbeddingConfig.mgqe(N, DIM, bounds=[6, N], D=[8, 4], K=16, variant="unshared_d"),
    "unshared_d_2_8": EmbeddingConfig.mgqe(N, DIM, bounds=[6, N], D=[4, 1], K=8, variant="unshared_d"),
}


def rule_codes(x: np.ndarray, C: np.ndarray) -> np.ndarray:
    """The kernel's documented rule in numpy: x (b, D, dsub), C (D, K, dsub) float32 -> (b, D) int64.
    float32 (x_s - c_s)^2 summed left to right over s, each op rounded to float32; the first least index."""
    dist = np.zeros((x.shape[0], C.shape[0], C.shape[1]), np.float32)
    for s in range(x.shape[2]):
        t = x[:, :, None, s] - C[None, :, :, s]
        dist = dist + t * t
    return dist.argmin(-1)


def gaps(x: np.ndarray, C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x (b, D, dsub), C (D, K, dsub) float32 -> the float64 argmin (b, D) and the gap between the two least
    float64 distances, (d2 - d1) / (||x||^2 + max_k ||c_k||^2) (b, D) (see MARGIN)."""
    x64, c64 = x.astype(np.float64), C.astype(np.float64)
    d = ((x64[:, :, None] - c64[None]) ** 2).sum(-1)
    two = np.sort(d, -1)[..., :2] if C.shape[1] > 1 else np.concatenate([d, d + 1], -1)
    scale = (x64**2).sum(-1) + (c64**2).sum(-1).max(-1)[None]
    return d.argmin(-1), (two[..., 1] - two[..., 0]) / np.maximum(scale, 1e-300)


def search(x: np.ndarray, C: np.ndarray, K: int | None = None) -> np.ndarray:
    """kernels.search_sub over all rows of x (b, D, dsub) -> (b, D) int64."""
    b = x.shape[0]
    K = C.shape[1] if K is None else K
    return kernels.search_sub(np.ascontiguousarray(x.reshape(b, -1)), np.arange(b), kernels.sub_tables(C),
                              K).T.astype(np.int64)


def sub_cases(rng: np.random.Generator) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, x (b, D, dsub), C (D, K, dsub)) float32: shapes of the experiments and the awkward ones (K = 1,
    more rows than a block, duplicated centroids, rows exactly on centroids)."""
    out = []
    for D, K, dsub, b in ((32, 256, 2, 600), (16, 256, 4, 300), (8, 64, 8, 300), (4, 16, 2, 7), (3, 1, 3, 5),
                          (2, 5, 16, 513)):
        C = (rng.standard_normal((D, K, dsub)) * 0.01).astype(np.float32)
        x = (rng.standard_normal((b, D, dsub)) * 0.012).astype(np.float32)
        out.append((f"gauss D={D} K={K} dsub={dsub} b={b}", x, C))
        dup = np.repeat(C[:, : -(-K // 4)], 4, axis=1)[:, :K].copy()  # each centroid 4 times in a row
        on = x.copy()
        on[: b // 2] = dup[np.arange(D), rng.integers(0, dup.shape[1], (b // 2, D))]  # exactly on centroids
        out.append((f"duplicated D={D} K={K} dsub={dsub}", on, dup))
        rounded = (np.round(x * 200) / 200).astype(np.float32)  # many exact ties between distances
        c_rounded = (np.round(C * 200) / 200).astype(np.float32)
        out.append((f"rounded D={D} K={K} dsub={dsub}", rounded, c_rounded))
    return out


def test_search_sub_is_its_documented_rule_ties_included() -> None:
    """Bit for bit the numpy transcription of the rule (float32 direct distances, first least index), on
    exact ties between duplicated centroids and between rounded distances too; also for a K-prefix."""
    rng = np.random.default_rng(0)
    for name, x, C in sub_cases(rng):
        np.testing.assert_array_equal(search(x, C), rule_codes(x, C), err_msg=name)
        K = max(1, C.shape[1] // 2)  # a shared table's smaller group searches the first K only
        np.testing.assert_array_equal(search(x, C, K), rule_codes(x, C[:, :K]), err_msg=f"{name} K={K}")


def test_search_sub_nan_distances_never_win() -> None:
    """A NaN centroid is never chosen; a row with a NaN coordinate (all its distances NaN) gets code 0."""
    rng = np.random.default_rng(3)
    C = (rng.standard_normal((3, 8, 2)) * 0.01).astype(np.float32)
    x = (rng.standard_normal((20, 3, 2)) * 0.01).astype(np.float32)
    C[:, 5, 1] = np.nan
    x[:3, :, 0] = C[:, 5, 0]  # next to the NaN centroid (its finite coordinate)
    x[3:5, :, 0] = np.nan
    codes = search(x, C)
    assert not (codes == 5).any()
    np.testing.assert_array_equal(codes[3:5], 0)
    finite = np.delete(C, 5, axis=1)  # elsewhere: the nearest of the finite centroids
    ref = search(x[5:], finite)
    np.testing.assert_array_equal(codes[5:], ref + (ref >= 5))


def test_search_sub_agrees_with_torch_and_float64_outside_near_ties() -> None:
    """Where the two least float64 distances differ by more than MARGIN (`gaps`), the kernel's code is
    the float64 argmin and torch's code (`quantizer._nearest_matmul`, the GPU rule), on most entries;
    elsewhere it still picks a least-distance centroid up to float32 rounding. With duplicated centroids
    (4 copies in a row, which tie exactly) the codes are compared as copy groups and the gaps taken between
    distinct centroids."""
    rng = np.random.default_rng(1)
    for name, x, C in sub_cases(rng):
        if name.startswith("rounded"):
            continue  # built to tie; covered by the rule test
        ours = search(x, C)
        ref = _nearest_matmul(torch.from_numpy(x), torch.from_numpy(C)).numpy()  # torch's rule (GPU)
        copies = 4 if name.startswith("duplicated") else 1
        distinct = C[:, ::copies]
        assert np.array_equal(distinct.repeat(copies, 1)[:, : C.shape[1]], C), name
        exact, rel = gaps(x, distinct)
        clear = rel > MARGIN
        assert clear.mean() > 0.99, name
        np.testing.assert_array_equal(ours[clear] // copies, exact[clear], err_msg=name)
        np.testing.assert_array_equal(ours[clear] // copies, ref[clear] // copies, err_msg=name)
        d = ((x[:, :, None].astype(np.float64) - C[None].astype(np.float64)) ** 2).sum(-1)
        chosen = np.take_along_axis(d, ours[..., None], -1)[..., 0]
        np.testing.assert_allclose(chosen, d.min(-1), rtol=1e-5, atol=1e-12, err_msg=name)


def test_cpu_nearest_centroid_is_the_kernel_rule() -> None:
    """On CPU, evaluation and export refresh codes with `nearest_centroid`, which for dsub > 1 runs the fused
    lookup's own search, so refreshed codes are the ones training assigned (ties included)."""
    rng = np.random.default_rng(3)
    for name, x, C in sub_cases(rng):
        got = nearest_centroid(torch.from_numpy(x), torch.from_numpy(C))
        assert got.dtype == torch.int64 and got.shape == x.shape[:2], name
        np.testing.assert_array_equal(got.numpy(), rule_codes(x, C), err_msg=name)


def test_kernel_is_exact_where_the_torch_expansion_cancels() -> None:
    """Rows and centroids far from the origin relative to their spread: torch's x . c - ||c||^2 / 2 in float32
    loses the distance differences to cancellation and misassigns rows even with clear gaps, while the
    kernel's direct differences still give the float64 argmin. (A documented difference from the torch
    path, not a tolerance: the fused codes are the nearer ones.)"""
    rng = np.random.default_rng(2)
    C = (rng.standard_normal((8, 64, 2)) * 0.01 + 1.0).astype(np.float32)
    x = (rng.standard_normal((2000, 8, 2)) * 0.01 + 1.0).astype(np.float32)
    exact, _ = gaps(x, C)
    d = np.sort(((x[:, :, None].astype(np.float64) - C[None].astype(np.float64)) ** 2).sum(-1), -1)
    clear = (d[..., 1] - d[..., 0]) / d[..., 1] > 1e-3  # gaps clear relative to the distances themselves
    ref = _nearest_matmul(torch.from_numpy(x), torch.from_numpy(C)).numpy()  # torch's rule (GPU)
    np.testing.assert_array_equal(search(x, C)[clear], exact[clear])
    assert (ref[clear] != exact[clear]).mean() > 0.01  # the torch rule's error this test documents


def assert_no_near_ties(emb: QuantizedEmbedding, ids: torch.Tensor) -> None:
    """The rows `ids` have a clear nearest centroid in every subspace (the precondition for equal codes)."""
    flat = ids.reshape(-1).unique()
    for i, g in enumerate(emb.groups):
        rows = flat[(flat >= g.start) & (flat < g.stop)]
        if rows.numel() == 0 or g.K < 2:
            continue
        x = emb.weight.detach()[rows].view(-1, g.D, DIM // g.D).numpy()
        _, rel = gaps(x, emb.group_table(i).detach().numpy())
        assert rel.min() > MARGIN, f"near-tie in group {i}: the test data must avoid it"


@pytest.mark.parametrize("name", sorted(SUB_CFGS))
def test_fused_dsub_matches_torch_path_over_training(name: str) -> None:
    """dsub > 1 (and mixed dsub): at every state along a training run equal values, code buffers and
    gradients (up to float summation order) as the torch path, with the fused path in use."""
    a, b = twin_tables(SUB_CFGS[name])
    assert fused_supported(a) and any(DIM // g.D > 1 for g in a.groups)
    opt = torch.optim.Adam(a.parameters(), lr=0.01)
    g = torch.Generator().manual_seed(1)
    target = torch.randn(N, DIM, generator=g) * 0.05
    for step in range(6):
        ids = torch.randint(0, N, (3, 17), generator=g)  # 2-d ids with repeats, like SASRec sequences
        ids[0, :4] = 2  # one row many times
        step_twins(a, b, ids, target, step, before=assert_no_near_ties)
        opt.step()


@pytest.mark.parametrize("name", ["shared_k_dsub2", "unshared_k_dsub2", "dpq_dsub2", "unshared_d_1_2"])
@pytest.mark.parametrize("task_grad", [True, False])
def test_fused_dsub_centroid_loss_and_reference_ste_match_torch_path(name: str, task_grad: bool) -> None:
    """With the centroid loss (either STE form) the fused path gives the torch path's values, loss and
    gradients (up to float summation order), along a few Adam steps whose batches hold no near-tie."""
    centroid_loss_twins(SUB_CFGS[name], task_grad, before=assert_no_near_ties)


@pytest.mark.parametrize("name", ["shared_k_dsub2", "unshared_d_1_2"])
def test_fused_dsub_buffer_equals_fresh_assignment_of_looked_up_rows(name: str) -> None:
    """Looked-up rows carry the codes of a fresh assignment (`fresh_codes`, the torch rule) wherever the
    nearest centroid is clear, and tail rows never get a code >= K_i."""
    a, _ = twin_tables(SUB_CFGS[name])
    a(torch.arange(N))
    for i, grp in enumerate(a.groups):
        x = a.weight.detach()[grp.start : grp.stop].view(grp.size, grp.D, -1).numpy()
        _, rel = gaps(x, a.group_table(i).detach().numpy())
        clear = torch.from_numpy(rel > MARGIN)
        assert bool(clear.all()), "generated data without near-ties"
        assert torch.equal(a.group_codes(i).long()[clear], a.fresh_codes(i)[clear]), f"group {i}"
        assert int(a.group_codes(i).max()) < grp.K


def test_centroid_grad_sub_is_a_scatter_add() -> None:
    """centroid_grad_sub accumulates gu's dsub-wide slices into the (D, K, dsub) table at the codes."""
    rng = np.random.default_rng(5)
    U, D, K, dsub = 50, 4, 6, 3
    gu = rng.standard_normal((U, D * dsub)).astype(np.float32)
    codes = rng.integers(0, K, (U, D)).astype(np.int32)
    got = np.ones((D, K, dsub), np.float32)
    kernels.centroid_grad_sub(gu, codes, got)
    ref = np.ones((D, K, dsub), np.float64)
    for u in range(U):
        for j in range(D):
            ref[j, codes[u, j]] += gu[u, j * dsub : (j + 1) * dsub]
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
