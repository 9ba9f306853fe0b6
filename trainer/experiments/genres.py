"""Figure 8: average code similarity between movies of four genres (the paper's Figure 8).

Similarity of two movies = share of code positions with the same code (MGQE: D sub-codes; SQ: d scalar
codes). Each genre takes up to 200 movies that carry it and none of the other three genres (so the groups
are disjoint), drawn with a fixed seed; the diagonal averages over distinct pairs only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mgqe.trainer.config import TrainConfig

GENRES = ("Sci-Fi", "Romance", "Animation", "Horror")
PER_GENRE = 200


def item_codes(arrays: dict[str, np.ndarray]) -> np.ndarray:
    """(n, D) integer codes of an exported item table (SQ: (n, d)); groups concatenated in id order."""
    if "item.codes" in arrays:
        return np.asarray(arrays["item.codes"])
    prefix = "item.codes.g"
    parts = sorted((k for k in arrays if k.startswith(prefix)), key=lambda k: int(k[len(prefix) :]))
    if not parts:
        raise ValueError("the item table has no codes (only SQ, DPQ and MGQE tables do)")
    widths = {arrays[k].shape[1] for k in parts}
    if len(widths) != 1:
        raise ValueError("groups with different D (unshared_d) have no common code positions to compare")
    return np.concatenate([arrays[k] for k in parts])


def genre_members(item_vocab: np.ndarray, movie_genres: dict[int, tuple[str, ...]], seed: int = 0,
                  ) -> list[np.ndarray]:
    """Internal item ids of each genre in GENRES (disjoint, at most PER_GENRE each)."""
    rng = np.random.default_rng(seed)
    out = []
    for g in GENRES:
        others = set(GENRES) - {g}
        ids = np.array([i for i, m in enumerate(item_vocab.tolist())
                        if g in movie_genres.get(m, ()) and not others & set(movie_genres.get(m, ()))],
                       dtype=np.int64)
        out.append(np.sort(rng.choice(ids, size=min(PER_GENRE, ids.size), replace=False)))
    return out


def similarity_matrix(codes: np.ndarray, members: list[np.ndarray]) -> np.ndarray:
    """(G, G) float64 mean share of equal code positions between genre groups (diagonal: distinct pairs)."""
    G = len(members)
    sim = np.zeros((G, G))
    for a in range(G):
        for b in range(G):
            ca, cb = codes[members[a]], codes[members[b]]
            eq = (ca[:, None, :] == cb[None, :, :]).mean(-1)  # (|a|, |b|)
            if a == b:
                n = eq.shape[0]
                sim[a, b] = (eq.sum() - np.trace(eq)) / max(n * (n - 1), 1)
            else:
                sim[a, b] = eq.mean()
    return sim


def genre_similarity(npz: Path, cfg: TrainConfig) -> tuple[np.ndarray, list[int], list[float]]:
    """Figure 8 matrix of one trained cell from its saved item arrays (run_cell writes item_arrays.npz),
    the number of movies per genre, and the share of them in the head group (MGQE: K_1 codes; the tail
    has fewer codes, so equal codes are likelier by chance there; SQ: 1.0)."""
    from mgqe.trainer.data.items import load_item_info

    with np.load(npz) as f:
        arrays = {k: f[k] for k in f.files}
    info = load_item_info(cfg.dataset, cfg.data_dir)
    movie_genres = dict(zip(info.ids.tolist(), info.genres, strict=True))
    members = genre_members(arrays["item_vocab"], movie_genres)
    head = arrays["item.codes.g0"].shape[0] if "item.codes.g0" in arrays else arrays["item_vocab"].size
    shares = [float((m < head).mean()) if m.size else 0.0 for m in members]
    return similarity_matrix(item_codes(arrays), members), [int(m.size) for m in members], shares
