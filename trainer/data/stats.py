"""Dataset statistics: counts and the item-frequency profile (how concentrated interactions are)."""

from __future__ import annotations

import math

import numpy as np

from mgqe.trainer.data.interactions import Interactions

TOP_FRACTIONS = (0.01, 0.1, 0.2, 0.5)


def dataset_stats(log: Interactions) -> dict[str, object]:
    """Users, items, interactions and the share of interactions held by the top 1/10/20/50% of items.

    Counts are over the whole log (before the split); items are the ones that occur at least once
    (a synthetic catalogue's never-drawn ids are reported separately as `catalogue_items`).
    """
    _, item_counts = np.unique(log.items, return_counts=True)
    _, user_counts = np.unique(log.users, return_counts=True)
    counts = np.sort(item_counts)[::-1]
    total = int(counts.sum())
    cum = np.cumsum(counts)
    shares = {}
    for f in TOP_FRACTIONS:
        top = max(1, math.ceil(f * counts.size - 1e-9))
        share = 100.0 * float(cum[top - 1]) / max(total, 1)
        shares[f"top_{round(f * 100):g}pct_items_share"] = round(share, 2)
    out: dict[str, object] = {
        "dataset": log.label,
        "synthetic": log.synthetic,
        "source": log.source,
        "users": int(user_counts.size),
        "items": int(counts.size),
        "interactions": total,
        "density_pct": round(100.0 * total / max(user_counts.size * counts.size, 1), 3),
        "per_user_min": int(user_counts.min()) if total else 0,
        "per_user_median": float(np.median(user_counts)) if total else 0.0,
        "per_user_max": int(user_counts.max()) if total else 0,
        "per_item_max": int(counts[0]) if total else 0,
        "items_with_1_interaction": int((counts == 1).sum()),
        **shares,
    }
    if log.all_items is not None:
        out["catalogue_items"] = int(log.all_items.size)
    return out
