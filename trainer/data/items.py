"""Movie metadata (titles, genres) for MovieLens-1M (`movies.dat`) and MovieLens-100k (`u.item`).

Both files are latin-1. Used to show human-readable recommendations; never needed for training.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mgqe.trainer.data.errors import DataFormatError, DatasetNotFoundError, UnknownDatasetError
from mgqe.trainer.data.loaders import resolve_data_dir
from mgqe.trainer.data.readers import find_file, read_bytes

# u.genre order: the 19 flags at the end of each u.item row
GENRES_100K = ("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
               "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
               "Sci-Fi", "Thriller", "War", "Western")


@dataclass(frozen=True)
class ItemInfo:
    """ids: (n,) int64 original movie ids (ascending); titles[k], genres[k] describe ids[k]."""

    ids: np.ndarray
    titles: tuple[str, ...]
    genres: tuple[tuple[str, ...], ...]

    def title_of(self, movie_id: int) -> str:
        k = int(np.searchsorted(self.ids, movie_id))
        if k >= self.ids.size or self.ids[k] != movie_id:
            raise KeyError(f"movie id {movie_id} not in the metadata")
        return self.titles[k]


def _lines(path: Path) -> list[str]:
    return [ln for ln in read_bytes(path).decode("latin-1").splitlines() if ln.strip()]


def _movies_dat(path: Path) -> ItemInfo:
    rows = []
    for n, ln in enumerate(_lines(path), 1):
        parts = ln.split("::")
        if len(parts) != 3 or not parts[0].isdigit():
            raise DataFormatError(f"{path}:{n}: expected 'MovieID::Title::Genre|Genre', got {ln[:60]!r}")
        rows.append((int(parts[0]), parts[1], tuple(g for g in parts[2].split("|") if g)))
    return _pack(rows)


def _u_item(path: Path) -> ItemInfo:
    rows = []
    for n, ln in enumerate(_lines(path), 1):
        parts = ln.split("|")
        flags = parts[5:]
        if len(parts) != 24 or not parts[0].isdigit() or any(f not in ("0", "1") for f in flags):
            raise DataFormatError(f"{path}:{n}: expected 24 '|'-separated fields ending in 19 genre flags")
        genres = tuple(g for g, f in zip(GENRES_100K, flags, strict=True) if f == "1")
        rows.append((int(parts[0]), parts[1], genres))
    return _pack(rows)


def _pack(rows: list[tuple[int, str, tuple[str, ...]]]) -> ItemInfo:
    rows.sort(key=lambda r: r[0])
    return ItemInfo(np.array([r[0] for r in rows], dtype=np.int64), tuple(r[1] for r in rows),
                    tuple(r[2] for r in rows))


def load_item_info(name: str, data_dir: str | Path | None = None) -> ItemInfo:
    """Titles and genres of dataset `name` ("ml-1m", "ml-1m-sasrec" (MovieLens ids) or "ml-100k")."""
    root = resolve_data_dir(data_dir)
    if name in ("ml-1m", "ml-1m-sasrec"):
        path = find_file(root / "ml-1m", "movies.dat")
        if path is None:
            raise DatasetNotFoundError(f"{root / 'ml-1m' / 'movies.dat'} not found; get it with "
                                       f"`mgqe-train data download movielens-1m --data-dir {root}`")
        return _movies_dat(path)
    if name == "ml-100k":
        path = find_file(root / "ml-100k", "u.item")
        if path is None:
            raise DatasetNotFoundError(f"{root / 'ml-100k' / 'u.item'} not found; get it with "
                                       f"`mgqe-train data download movielens-100k --data-dir {root}`")
        return _u_item(path)
    raise UnknownDatasetError(
        f"no item metadata for dataset {name!r}; ml-1m, ml-1m-sasrec and ml-100k have it")
