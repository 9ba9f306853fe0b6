"""The raw interaction log every loader returns, before any split or remapping."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Interactions:
    """Implicit-feedback log in ORIGINAL ids.

    users: (N,) int64, grouped by user in ascending original id; within a user, rows are in time order
    items: (N,) int64 original item ids
    all_items: optional (n,) int64 sorted catalogue of original item ids; items in it that never occur
        still get an internal id (frequency 0). None = the catalogue is the set of items that occur.
    synthetic: True only for generated data; `label` then says so loudly.
    source: where it came from (files read, or the generator and its parameters)
    """

    name: str
    users: np.ndarray
    items: np.ndarray
    source: str
    synthetic: bool = False
    all_items: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.users.shape != self.items.shape or self.users.ndim != 1:
            raise ValueError(
                f"users {self.users.shape} and items {self.items.shape} must be equal 1-D shapes")

    @property
    def label(self) -> str:
        """Name for display: synthetic data can never pass for real data in any output."""
        return f"{self.name} [SYNTHETIC: generated, not real data]" if self.synthetic else self.name

    @property
    def n_interactions(self) -> int:
        return int(self.users.size)


def group_by_user(users: np.ndarray, items: np.ndarray, time: np.ndarray | None = None,
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Sort rows by (user, time, original row order): the stable tie rule of SASRec's preprocessing.

    users, items, time: (N,) int64. Returns (users, items) reordered.
    """
    order = np.arange(users.size) if time is None else np.argsort(time, kind="stable")
    order = order[np.argsort(users[order], kind="stable")]
    return users[order], items[order]
