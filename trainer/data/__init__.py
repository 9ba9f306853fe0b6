"""Data pipeline: loaders, the paper's leave-last-out protocol with popularity remapping, synthetic data.

    split = load_split("ml-1m-sasrec", data_dir)      # or $MGQE_DATA_DIR
    bounds = popularity_groups(split.n_items)          # [342, 3416]: top 10% head, rest tail
"""

from __future__ import annotations

from pathlib import Path

from mgqe.trainer.data.errors import (
    ChecksumError,
    DataDirError,
    DataError,
    DataFormatError,
    DatasetNotFoundError,
    UnknownDatasetError,
)
from mgqe.trainer.data.interactions import Interactions
from mgqe.trainer.data.loaders import DATASETS, ENV_DATA_DIR, load_interactions, resolve_data_dir
from mgqe.trainer.data.protocol import SplitData, leave_last_out, popularity_groups
from mgqe.trainer.data.relevance import RatingData, RelevanceData, load_item_relevance, load_rating_regression

__all__ = [
    "DATASETS",
    "ENV_DATA_DIR",
    "ChecksumError",
    "DataDirError",
    "DataError",
    "DataFormatError",
    "DatasetNotFoundError",
    "Interactions",
    "RatingData",
    "RelevanceData",
    "SplitData",
    "UnknownDatasetError",
    "leave_last_out",
    "load_interactions",
    "load_item_relevance",
    "load_rating_regression",
    "load_split",
    "popularity_groups",
    "resolve_data_dir",
]


def load_split(name: str, data_dir: str | Path | None = None, **synthetic_kwargs: object) -> SplitData:
    """Load dataset `name` (one of DATASETS) and apply the leave-last-out split and remapping.

    data_dir: explicit directory, else $MGQE_DATA_DIR (ignored for "synthetic", whose keyword
    arguments go to `mgqe.trainer.data.synthetic.generate_zipf`).
    """
    return leave_last_out(load_interactions(name, data_dir, **synthetic_kwargs))
