"""Loaders on tiny hand-written files in every supported layout, and every named loading error."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from mgqe.trainer.data import (
    DataDirError,
    DataFormatError,
    DatasetNotFoundError,
    UnknownDatasetError,
    load_interactions,
    load_split,
    resolve_data_dir,
)

# official ml-1m lines; user 1 has a same-second tie (items 30 and 20 at t=300): line order decides
RATINGS_DAT = "1::10::5::100\n2::10::3::10\n1::30::4::300\n1::20::4::300\n2::30::1::20\n1::40::2::50\n"


def _write(path: Path, text: str, gz: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        with gzip.open(path.with_name(path.name + ".gz"), "wt") as f:
            f.write(text)
    else:
        path.write_text(text)


def test_official_ml1m_layout_time_order_and_ties(tmp_path: Path) -> None:
    _write(tmp_path / "ml-1m" / "ratings.dat", RATINGS_DAT)
    log = load_interactions("ml-1m", tmp_path)
    # user 1 by time: 40 (t=50), 10 (t=100), then the t=300 tie in line order: 30, 20
    assert log.users.tolist() == [1, 1, 1, 1, 2, 2]
    assert log.items.tolist() == [40, 10, 30, 20, 10, 30]
    assert log.source.endswith("ratings.dat")


def test_project_ml1m_layout_and_preference(tmp_path: Path) -> None:
    tsv = "user_id\tmovie_id\tseq_idx\n2\t7\t1\n1\t5\t0\n2\t6\t0\n1\t4\t1\n"
    _write(tmp_path / "ml-1m" / "interactions.tsv", tsv, gz=True)
    log = load_interactions("ml-1m", tmp_path)
    assert log.users.tolist() == [1, 1, 2, 2] and log.items.tolist() == [5, 4, 6, 7]
    # the official ratings.dat wins when both are present
    _write(tmp_path / "ml-1m" / "ratings.dat", RATINGS_DAT, gz=True)
    assert load_interactions("ml-1m", tmp_path).n_interactions == 6


def test_sasrec_with_and_without_id_maps(tmp_path: Path) -> None:
    sas = tmp_path / "ml-1m" / "sasrec"
    _write(sas / "ml-1m.txt", "1 1\n1 2\n1 3\n2 2\n2 3\n2 1\n")
    s = load_split("ml-1m-sasrec", tmp_path)
    assert "SASRec ids" in s.source and sorted(s.item_vocab.tolist()) == [1, 2, 3]
    _write(sas / "sas_to_original_users.txt", "1 5988\n2 5989\n")
    _write(sas / "sas_to_original_items.txt", "1 1198\n2 3552\n3 356\n")
    s = load_split("ml-1m-sasrec", tmp_path)
    assert "MovieLens ids" in s.source
    assert sorted(s.user_vocab.tolist()) == [5988, 5989]
    # user 5988 ends with SASRec item 3 -> 356, user 5989 ends with item 1 -> 1198
    by_user = dict(zip(s.user_vocab.tolist(), s.item_vocab[s.test].tolist(), strict=True))
    assert by_user == {5988: 356, 5989: 1198}
    _write(sas / "sas_to_original_items.txt", "1 1198\n2 3552\n")
    with pytest.raises(DataFormatError, match="no mapping for SASRec id 3"):
        load_interactions("ml-1m-sasrec", tmp_path)


def test_ml100k(tmp_path: Path) -> None:
    _write(tmp_path / "ml-100k" / "u.data", "3\t1\t5\t9\n3\t2\t5\t8\n3\t3\t1\t7\n", gz=True)
    log = load_interactions("ml-100k", tmp_path)
    assert log.items.tolist() == [3, 2, 1]  # sorted by timestamp 7, 8, 9


def test_resolve_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MGQE_DATA_DIR", raising=False)
    with pytest.raises(DataDirError, match=r"--data-dir DIR or set \$MGQE_DATA_DIR"):
        resolve_data_dir(None)
    monkeypatch.setenv("MGQE_DATA_DIR", str(tmp_path))
    assert resolve_data_dir(None) == tmp_path
    other = tmp_path / "other"
    other.mkdir()
    assert resolve_data_dir(other) == other  # the flag beats the environment
    with pytest.raises(DataDirError, match=r"nope \(from --data-dir\)"):
        resolve_data_dir(tmp_path / "nope")
    monkeypatch.setenv("MGQE_DATA_DIR", str(tmp_path / "gone"))
    with pytest.raises(DataDirError, match=r"from \$MGQE_DATA_DIR"):
        resolve_data_dir(None)


def test_missing_dataset_says_where_and_how(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError,
                       match=r"ml-1m/ratings\.dat.*interactions\.tsv.*download movielens-1m"):
        load_interactions("ml-1m", tmp_path)
    with pytest.raises(DatasetNotFoundError, match=r"ml-100k/u\.data.*download movielens-100k"):
        load_interactions("ml-100k", tmp_path)
    with pytest.raises(DatasetNotFoundError, match=r"sasrec/ml-1m\.txt.*kang205/SASRec"):
        load_interactions("ml-1m-sasrec", tmp_path)


def test_unknown_dataset_and_misplaced_generator_args(tmp_path: Path) -> None:
    with pytest.raises(UnknownDatasetError, match=r"ml-20m.*ml-1m, ml-1m-sasrec"):
        load_interactions("ml-20m", tmp_path)
    with pytest.raises(TypeError, match="only apply to dataset 'synthetic'"):
        load_interactions("ml-1m", tmp_path, n_items=5)


@pytest.mark.parametrize(("text", "match"), [
    ("1::10::5::100\n1::x::5::100\n", "integer fields only"),
    ("1::10::5::100\n1::10::5\n", "not a multiple of 4"),
    ("1::10::5::100::7::8::9::1\n", "1 lines but 2 rows"),
])
def test_malformed_ratings(tmp_path: Path, text: str, match: str) -> None:
    _write(tmp_path / "ml-1m" / "ratings.dat", text)
    with pytest.raises(DataFormatError, match=match):
        load_interactions("ml-1m", tmp_path)


def test_bad_header_and_bad_gzip(tmp_path: Path) -> None:
    _write(tmp_path / "ml-1m" / "interactions.tsv", "user\titem\tpos\n1\t2\t0\n", gz=True)
    with pytest.raises(DataFormatError, match="expected header"):
        load_interactions("ml-1m", tmp_path)
    (tmp_path / "ml-100k").mkdir()
    (tmp_path / "ml-100k" / "u.data.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DataFormatError, match="cannot read"):
        load_interactions("ml-100k", tmp_path)


def test_int64_everywhere(tmp_path: Path) -> None:
    _write(tmp_path / "ml-1m" / "ratings.dat", RATINGS_DAT)
    s = load_split("ml-1m", tmp_path)
    assert all(a.dtype == np.int64 for a in (s.train_items, s.valid, s.user_vocab, s.item_freq))
