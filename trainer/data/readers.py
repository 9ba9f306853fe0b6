"""Fast parsing of the whitespace/`::`/tab separated integer tables MovieLens ships (plain or .gz).

numpy's text parser (`np.fromstring(..., sep=" ")`) reads a million rows in well under a second, which
is why no parsed-array cache is kept: parsing is as fast as loading an .npz would be.
"""

from __future__ import annotations

import gzip
import warnings
from pathlib import Path

import numpy as np

from mgqe.trainer.data.errors import DataFormatError


def find_file(folder: Path, name: str) -> Path | None:
    """`folder/name` or `folder/name.gz`, whichever exists first; None if neither."""
    for cand in (folder / name, folder / f"{name}.gz"):
        if cand.is_file():
            return cand
    return None


def read_bytes(path: Path) -> bytes:
    """The file's bytes, transparently gunzipped when the name ends in .gz."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError) as e:  # gzip.BadGzipFile is an OSError
        raise DataFormatError(f"cannot read {path}: {e}") from e


def parse_int_table(raw: bytes, ncols: int, path: Path, sep: bytes | None = None,
                    skip_header: bool = False) -> np.ndarray:
    """Parse integer rows of exactly `ncols` fields. Returns (rows, ncols) int64.

    `sep` (e.g. b"::" or b"|") is turned into whitespace first; tabs, spaces and newlines all separate.
    """
    if skip_header:
        nl = raw.find(b"\n")
        raw = b"" if nl < 0 else raw[nl + 1 :]
    if sep is not None:
        raw = raw.replace(sep, b" ")
    raw = raw.strip()
    with warnings.catch_warnings():
        # numpy only warns (and truncates) on a non-integer token; make that an error we can name
        warnings.simplefilter("error", DeprecationWarning)
        try:
            flat = np.fromstring(raw.decode("latin-1"), dtype=np.int64, sep=" ")
        except (ValueError, DeprecationWarning) as e:
            raise DataFormatError(f"{path}: expected integer fields only ({e})") from e
    if flat.size % ncols:
        raise DataFormatError(f"{path}: {flat.size} integer fields is not a multiple of {ncols} columns")
    table = flat.reshape(-1, ncols)
    # a row with a missing field could still yield a multiple of ncols; count rows as well
    rows = raw.count(b"\n") + 1 if raw else 0
    if rows != table.shape[0]:
        raise DataFormatError(f"{path}: {rows} lines but {table.shape[0]} rows of {ncols} fields")
    return table
