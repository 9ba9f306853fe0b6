"""Optional known items (known.indptr / known.items, CSR of each user's training items): round trip, writer
and reader errors (KnownItemsError and the layout errors), size report category."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from test_artifact_damage import expect, expect_on_data, relayout, split

import mgqe.proto
from artifact_factory import gmf_spec, random_arrays, random_known
from artifact_factory import tiny_table as table
from mgqe.proto.artifact import KNOWN_INDPTR, KNOWN_ITEMS, read_artifact, write_artifact
from mgqe.proto.cli import main, size_report
from mgqe.proto.config import ModelSpec
from mgqe.proto.errors import (
    ArrayMismatchError,
    KnownItemsError,
    MissingArrayError,
    UnexpectedArrayError,
)


@pytest.fixture
def spec() -> ModelSpec:
    return gmf_spec("mgqe", n_users=7, n_items=10)


@pytest.fixture
def with_known(tmp_path: Path, spec: ModelSpec) -> Path:
    path = tmp_path / "known.mgqe"
    write_artifact(path, spec, random_arrays(spec, seed=1) | random_known(spec, seed=2))
    return path


def test_round_trip(with_known: Path, spec: ModelSpec) -> None:
    known = random_known(spec, seed=2)
    art = read_artifact(with_known)
    indptr, items = art.arrays[KNOWN_INDPTR], art.arrays[KNOWN_ITEMS]
    assert indptr.dtype == np.int64 and items.dtype == np.int32
    np.testing.assert_array_equal(indptr, known[KNOWN_INDPTR])
    np.testing.assert_array_equal(items, known[KNOWN_ITEMS])
    names = [b.name for b in art.header.buffers]  # after the vocabularies, before the dense weights
    assert names.index("vocab.user") < names.index(KNOWN_INDPTR) < names.index(KNOWN_ITEMS)
    assert names.index(KNOWN_ITEMS) < min(i for i, n in enumerate(names) if n.startswith("dense."))


def test_header_with_known_items_matches_the_schema(with_known: Path) -> None:
    schema = json.loads(Path(mgqe.proto.__file__).with_name("header.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(split(with_known)[0])


def test_without_known_items_reads_as_before(tmp_path: Path, spec: ModelSpec) -> None:
    path = tmp_path / "plain.mgqe"
    write_artifact(path, spec, random_arrays(spec, seed=1))
    assert not {KNOWN_INDPTR, KNOWN_ITEMS} & set(read_artifact(path).arrays)


def test_size_report_counts_known_items_apart(tmp_path: Path, with_known: Path, spec: ModelSpec) -> None:
    plain = tmp_path / "plain.mgqe"
    write_artifact(plain, spec, random_arrays(spec, seed=1))
    rep_k = size_report(read_artifact(with_known).header, with_known.stat().st_size)
    rep_p = size_report(read_artifact(plain).header, plain.stat().st_size)
    nnz = random_known(spec, seed=2)[KNOWN_ITEMS].size
    assert rep_k["known_items_bytes"] == 8 * (spec.tables["user"].n + 1) + 4 * nnz
    assert rep_k["known_items"] == nnz and rep_p["known_items"] is None and rep_p["known_items_bytes"] == 0
    parts = ("prefix_and_header_bytes", "embedding_payload_bytes", "vocabulary_bytes", "dense_bytes",
             "known_items_bytes", "alignment_padding_bytes")
    assert sum(rep_k[k] for k in parts) == with_known.stat().st_size
    # serving metadata, not model weights: the Table 1 figures are those of the same model without them
    for key in ("embedding_payload_bytes", "model_table1_bits", "dense_params"):
        assert rep_k[key] == rep_p[key]
    assert rep_k["tables"] == rep_p["tables"]


def test_inspect_shows_known_items(with_known: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(with_known)]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if "known items" in x)
    nnz = read_artifact(with_known).arrays[KNOWN_ITEMS].size
    assert f"{nnz:,} user-item pairs" in line


# ---- writer -------------------------------------------------------------------------------------------


def _csr(indptr: list[int], items: list[int]) -> dict[str, np.ndarray]:
    return {KNOWN_INDPTR: np.array(indptr, np.int64), KNOWN_ITEMS: np.array(items, np.int64)}


# 7 users, 10 items
@pytest.mark.parametrize(
    ("known", "match"),
    [
        (_csr([1, 1, 1, 1, 1, 1, 1, 1], [3]), "starts at 1"),
        (_csr([0, 2, 1, 2, 2, 2, 2, 2], [3, 4]), "decreases at user row 1"),
        (_csr([0, 1, 1, 1, 1, 1, 1, 1], [3, 4]), "ends at 1, known.items has 2"),
        (_csr([0, 1, 2, 2, 2, 2, 2, 2], [3, 10]), r"in \[0, 10\), got \[3, 10\]"),
        (_csr([0, 1, 2, 2, 2, 2, 2, 2], [-1, 3]), r"in \[0, 10\)"),
        # unsigned offsets: a decrease must not wrap around into a huge step
        (
            {KNOWN_INDPTR: np.array([0, 2, 1, 2, 2, 2, 2, 2], np.uint64), KNOWN_ITEMS: np.arange(2)},
            "decreases at user row 1",
        ),
    ],
)
def test_writer_known_items_error(tmp_path: Path, spec: ModelSpec, known: dict, match: str) -> None:
    path = tmp_path / "bad.mgqe"
    with pytest.raises(KnownItemsError, match=match):
        write_artifact(path, spec, random_arrays(spec) | known)
    assert not path.exists()


@pytest.mark.parametrize(
    ("known", "match"),
    [
        (_csr([0, 0, 0], []), r"known\.indptr.*needs \(8,\)"),
        ({KNOWN_INDPTR: np.zeros(8, np.int64), KNOWN_ITEMS: np.zeros((0, 2), np.int64)}, "must be 1-D"),
        ({KNOWN_INDPTR: np.zeros(8, np.int64), KNOWN_ITEMS: np.zeros(0, np.float32)}, "must hold integers"),
        ({KNOWN_INDPTR: np.zeros(8, bool), KNOWN_ITEMS: np.zeros(0, np.int32)}, "must hold integers"),
    ],
)
def test_writer_known_items_mismatch(tmp_path: Path, spec: ModelSpec, known: dict, match: str) -> None:
    with pytest.raises(ArrayMismatchError, match=match):
        write_artifact(tmp_path / "bad.mgqe", spec, random_arrays(spec) | known)


@pytest.mark.parametrize("name", [KNOWN_INDPTR, KNOWN_ITEMS])
def test_writer_known_items_need_both(tmp_path: Path, spec: ModelSpec, name: str) -> None:
    known = random_known(spec)
    with pytest.raises(MissingArrayError, match="known items need both"):
        write_artifact(tmp_path / "bad.mgqe", spec, random_arrays(spec) | {name: known[name]})


def test_writer_known_items_need_a_user_table(tmp_path: Path) -> None:
    spec = ModelSpec(model_type="relevance", d=8, tables={"item": table("mgqe", 10, 8)})
    known = _csr([0, 1], [3])
    with pytest.raises(UnexpectedArrayError, match="need a 'user' table; model type 'relevance'"):
        write_artifact(tmp_path / "bad.mgqe", spec, random_arrays(spec) | known)


# ---- reader -------------------------------------------------------------------------------------------


def _set_int(name: str, dtype: str, pos: int, value: int):  # type: ignore[no-untyped-def]
    """A relayout data edit: entry `pos` of buffer `name` (of `dtype`) set to `value`."""

    def edit(buf: str, chunk: bytes) -> bytes:
        if buf != name:
            return chunk
        a = np.frombuffer(chunk, dtype).copy()
        a[pos] = value
        return a.tobytes()

    return edit


@pytest.mark.parametrize(
    ("name", "dtype", "pos", "value", "match"),
    [
        (KNOWN_INDPTR, "<i8", 0, 1, "starts at 1"),
        (KNOWN_INDPTR, "<i8", -1, 10**6, "ends at 1000000"),
        (KNOWN_ITEMS, "<i4", 0, 10, r"in \[0, 10\)"),
        (KNOWN_ITEMS, "<i4", 0, -5, r"in \[0, 10\)"),
    ],
)
def test_reader_known_items_error(
    with_known: Path, name: str, dtype: str, pos: int, value: int, match: str
) -> None:
    # fresh checksums: only the known-items check (after the checksums) can fail
    damaged = relayout(with_known, lambda bs: bs, _set_int(name, dtype, pos, value))
    expect_on_data(damaged, KnownItemsError, match)


def test_reader_decreasing_indptr(tmp_path: Path, spec: ModelSpec) -> None:
    path = tmp_path / "k.mgqe"
    write_artifact(path, spec, random_arrays(spec) | _csr([0, 1, 2, 2, 2, 2, 2, 2], [3, 4]))
    expect_on_data(relayout(path, lambda bs: bs, _set_int(KNOWN_INDPTR, "<i8", 1, 3)), KnownItemsError,
                   "decreases at user row 1")


def test_reader_known_items_wrong_dtype(tmp_path: Path, spec: ModelSpec) -> None:
    path = tmp_path / "k.mgqe"
    write_artifact(path, spec, random_arrays(spec) | _csr([0, 1, 2, 2, 2, 2, 2, 2], [3, 4]))

    def edit(bs: list[dict]) -> list[dict]:
        for b in bs:
            if b["name"] == KNOWN_ITEMS:  # the same 8 bytes read as one int64
                b.update(dtype="int64", shape=[1])
        return bs

    expect(relayout(path, edit), ArrayMismatchError, r"known\.items.*int64.*int32")


def test_reader_indptr_shape_differs_from_user_table(with_known: Path) -> None:
    def edit(bs: list[dict]) -> list[dict]:
        for b in bs:
            if b["name"] == KNOWN_INDPTR:
                b["shape"] = [b["shape"][0] - 1]
        return bs

    def cut(name: str, chunk: bytes) -> bytes:
        return chunk[:-8] if name == KNOWN_INDPTR else chunk

    expect(relayout(with_known, edit, cut), ArrayMismatchError, "known.indptr")


def test_reader_known_items_alone(with_known: Path) -> None:
    drop = lambda bs: [b for b in bs if b["name"] != KNOWN_INDPTR]  # noqa: E731
    expect(relayout(with_known, drop), MissingArrayError, "known items need both")


def test_reader_known_items_without_user_table(tmp_path: Path, with_known: Path) -> None:
    header, _ = split(with_known)
    other = tmp_path / "rel.mgqe"
    spec = ModelSpec(model_type="relevance", d=8, tables={"item": table("mgqe", 10, 8)})
    write_artifact(other, spec, random_arrays(spec))
    known = [b for b in header["buffers"] if b["name"] in (KNOWN_INDPTR, KNOWN_ITEMS)]
    _, data = split(with_known)
    chunks = {b["name"]: data[b["offset"] : b["offset"] + b["nbytes"]] for b in known}
    expect(
        relayout(other, lambda bs: [*bs, *known], lambda n, c: chunks.get(n, c)),
        UnexpectedArrayError,
        "need a 'user' table",
    )
