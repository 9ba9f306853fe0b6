"""Loaders of the real datasets (MovieLens-1M in two layouts, the SASRec 5-core file, MovieLens-100k).

Layout under the data directory (flag > $MGQE_DATA_DIR):
    ml-1m/ratings.dat[.gz]           official GroupLens file `UserID::MovieID::Rating::Timestamp`
    ml-1m/interactions.tsv.gz        project copy `user_id movie_id seq_idx` (used if ratings.dat is absent)
    ml-1m/sasrec/ml-1m.txt[.gz]      SASRec 5-core `user item` lines, chronological per user
    ml-1m/sasrec/sas_to_original_{items,users}.txt   optional maps from SASRec ids to MovieLens ids
    ml-100k/u.data[.gz]              official `user \\t item \\t rating \\t timestamp`
Time order is a stable sort by timestamp: ties keep the original line order (SASRec's rule).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mgqe.trainer.data.errors import DataDirError, DataFormatError, DatasetNotFoundError, UnknownDatasetError
from mgqe.trainer.data.interactions import Interactions, group_by_user
from mgqe.trainer.data.readers import find_file, parse_int_table, read_bytes

DATASETS = ("ml-1m", "ml-1m-sasrec", "ml-100k", "synthetic")
ENV_DATA_DIR = "MGQE_DATA_DIR"

# dataset -> the download name that fetches it (see mgqe.trainer.data.download)
_DOWNLOAD_HINT = {"ml-1m": "movielens-1m", "ml-100k": "movielens-100k"}


def resolve_data_dir(data_dir: str | Path | None) -> Path:
    """The data directory: the explicit argument, else $MGQE_DATA_DIR; an error naming both otherwise."""
    if data_dir is None or str(data_dir) == "":
        env = os.environ.get(ENV_DATA_DIR, "")
        if not env:
            raise DataDirError(f"no data directory: pass --data-dir DIR or set ${ENV_DATA_DIR}")
        data_dir, origin = env, f"${ENV_DATA_DIR}"
    else:
        origin = "--data-dir"
    path = Path(data_dir).expanduser()
    if not path.is_dir():
        raise DataDirError(f"data directory {path} (from {origin}) does not exist or is not a directory")
    return path


def _missing(name: str, looked: list[Path]) -> DatasetNotFoundError:
    where = ", ".join(str(p) for p in looked)
    hint = _DOWNLOAD_HINT.get(name)
    how = (f"get it with `mgqe-train data download {hint} --data-dir {looked[0].parent}`"
           if hint else "copy the SASRec benchmark file data/ml-1m.txt (kang205/SASRec) there")
    return DatasetNotFoundError(f"dataset {name} not found: looked for {where} (optionally .gz); {how}")


def _ratings(path: Path, sep: bytes | None) -> Interactions:
    """Official ratings file -> (users, items) in stable time order."""
    t = parse_int_table(read_bytes(path), 4, path, sep=sep)
    users, items = group_by_user(t[:, 0], t[:, 1], t[:, 3])
    return Interactions("", users, items, source=str(path))


def load_ml1m(folder: Path) -> Interactions:
    """MovieLens-1M: 6,040 users, 3,706 items, 1,000,209 interactions."""
    official = find_file(folder, "ratings.dat")
    if official is not None:
        r = _ratings(official, b"::")
        return Interactions("ml-1m", r.users, r.items, source=r.source)
    tsv = find_file(folder, "interactions.tsv")
    if tsv is None:
        raise _missing("ml-1m", [folder / "ratings.dat", folder / "interactions.tsv"])
    raw = read_bytes(tsv)
    if not raw.startswith(b"user_id\tmovie_id\tseq_idx"):
        raise DataFormatError(f"{tsv}: expected header 'user_id<TAB>movie_id<TAB>seq_idx'")
    t = parse_int_table(raw, 3, tsv, skip_header=True)
    users, items = group_by_user(t[:, 0], t[:, 1], t[:, 2])
    return Interactions("ml-1m", users, items, source=str(tsv))


def _apply_map(ids: np.ndarray, path: Path) -> np.ndarray:
    t = parse_int_table(read_bytes(path), 2, path)
    table = np.full(int(max(t[:, 0].max(), ids.max())) + 1, -1, dtype=np.int64)
    table[t[:, 0]] = t[:, 1]
    out = table[ids]
    if (out < 0).any():
        bad = int(ids[np.flatnonzero(out < 0)[0]])
        raise DataFormatError(f"{path}: no mapping for SASRec id {bad}")
    return out


def load_ml1m_sasrec(folder: Path) -> Interactions:
    """The SASRec 5-core file: 6,040 users, 3,416 items, 999,611 interactions.

    Ids are mapped back to MovieLens ids when the two sas_to_original_*.txt maps sit beside the file
    (so vocabularies and the server speak MovieLens ids); otherwise SASRec's own 1-based ids are kept.
    """
    sas = folder / "sasrec"
    path = find_file(sas, "ml-1m.txt")
    if path is None:
        raise _missing("ml-1m-sasrec", [sas / "ml-1m.txt"])
    t = parse_int_table(read_bytes(path), 2, path)
    users, items = t[:, 0], t[:, 1]
    source = str(path)
    umap, imap = sas / "sas_to_original_users.txt", sas / "sas_to_original_items.txt"
    if umap.is_file() and imap.is_file():
        users, items = _apply_map(users, umap), _apply_map(items, imap)
        source += " (ids mapped to MovieLens ids)"
    else:
        source += " (SASRec ids)"
    users, items = group_by_user(users, items)
    return Interactions("ml-1m-sasrec", users, items, source=source)


def load_ml100k(folder: Path) -> Interactions:
    """MovieLens-100k: 943 users, 1,682 items, 100,000 interactions."""
    path = find_file(folder, "u.data")
    if path is None:
        raise _missing("ml-100k", [folder / "u.data"])
    r = _ratings(path, None)
    return Interactions("ml-100k", r.users, r.items, source=r.source)


def load_interactions(name: str, data_dir: str | Path | None = None,
                      **synthetic_kwargs: object) -> Interactions:
    """The interaction log of dataset `name` (one of DATASETS).

    `synthetic` needs no data directory; its keyword arguments go to `generate_zipf`.
    """
    if name == "synthetic":
        from mgqe.trainer.data.synthetic import generate_zipf

        return generate_zipf(**synthetic_kwargs)  # type: ignore[arg-type]
    if synthetic_kwargs:
        raise TypeError(f"generator arguments {sorted(synthetic_kwargs)} only apply to dataset 'synthetic'")
    if name not in DATASETS:
        raise UnknownDatasetError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    root = resolve_data_dir(data_dir)
    if name == "ml-1m":
        return load_ml1m(root / "ml-1m")
    if name == "ml-1m-sasrec":
        return load_ml1m_sasrec(root / "ml-1m")
    return load_ml100k(root / "ml-100k")
