"""Movie metadata loaders (movies.dat, u.item) and their errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mgqe.trainer.data import DataFormatError, DatasetNotFoundError, UnknownDatasetError
from mgqe.trainer.data.items import GENRES_100K, load_item_info

_REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("MGQE_DATA_DIR") or _REPO.parent / "shared" / "data")


def test_movies_dat_latin1(tmp_path: Path) -> None:
    (tmp_path / "ml-1m").mkdir()
    text = "2::Jumanji (1995)::Adventure|Fantasy\n1::Amélie (2001)::Comedy\n"
    (tmp_path / "ml-1m" / "movies.dat").write_bytes(text.encode("latin-1"))
    info = load_item_info("ml-1m", tmp_path)
    assert info.ids.tolist() == [1, 2]
    assert info.title_of(1) == "Amélie (2001)" and info.genres[1] == ("Adventure", "Fantasy")
    with pytest.raises(KeyError, match="movie id 3"):
        info.title_of(3)
    (tmp_path / "ml-1m" / "movies.dat").write_text("1::only two fields\n")
    with pytest.raises(DataFormatError, match=r"movies\.dat:1"):
        load_item_info("ml-1m", tmp_path)


def test_u_item(tmp_path: Path) -> None:
    (tmp_path / "ml-100k").mkdir()
    flags = ["0"] * 19
    flags[GENRES_100K.index("Drama")] = flags[GENRES_100K.index("War")] = "1"
    row = "|".join(["7", "Some Film (1996)", "01-Jan-1996", "", "http://x", *flags])
    (tmp_path / "ml-100k" / "u.item").write_text(row + "\n")
    info = load_item_info("ml-100k", tmp_path)
    assert info.title_of(7) == "Some Film (1996)" and info.genres[0] == ("Drama", "War")
    (tmp_path / "ml-100k" / "u.item").write_text(row.replace("|1|", "|2|", 1) + "\n")
    with pytest.raises(DataFormatError, match="19 genre flags"):
        load_item_info("ml-100k", tmp_path)


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="download movielens-1m"):
        load_item_info("ml-1m-sasrec", tmp_path)
    with pytest.raises(DatasetNotFoundError, match="download movielens-100k"):
        load_item_info("ml-100k", tmp_path)
    with pytest.raises(UnknownDatasetError, match="synthetic"):
        load_item_info("synthetic", tmp_path)


@pytest.mark.skipif(not (DATA / "ml-1m").is_dir(), reason=f"real MovieLens data not found at {DATA}")
def test_real_metadata_covers_every_rated_movie() -> None:
    from mgqe.trainer.data import load_split

    for name, listed in (("ml-1m", 3883), ("ml-100k", 1682)):
        info = load_item_info(name, DATA)
        assert info.ids.size == listed
        assert set(load_split(name, DATA).item_vocab.tolist()) <= set(info.ids.tolist())
