"""A loaded, validated, immutable model and every operation the API offers on it (internal maths only).

`LoadedModel` answers in external ids: it maps ids in through the artifact vocabularies, scores with the
tables of decode.py, the backbones of nn.py and the top-k of scoring.py, and maps rows back out. It raises
`UnknownIdError` (HTTP 404) and `UnsupportedOperationError` (HTTP 409); the routes translate them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mgqe.proto.artifact import KNOWN_INDPTR, KNOWN_ITEMS, ArtifactHeader, read_artifact
from mgqe.proto.sizes import FLOAT_BITS, embedding_size_bits
from mgqe.server import nn
from mgqe.server.decode import DECODE_CHUNK, Table, TableError, build_table
from mgqe.server.scoring import topk


class UnknownIdError(LookupError):
    """An id that is not in the model's vocabulary."""

    def __init__(self, table: str, ext_id: int) -> None:
        super().__init__(f"unknown {table} id {ext_id}")
        self.table, self.ext_id = table, ext_id


class UnsupportedOperationError(Exception):
    """An operation this model type cannot answer (e.g. a user query on sasrec)."""

    def __init__(self, model_type: str, what: str) -> None:
        super().__init__(f"model type {model_type!r} does not support {what}")
        self.model_type = model_type


@dataclass(frozen=True)
class Vocab:
    """External <-> internal ids. ext (n,) int64: ext[i] = external id of row i; lookups by binary search
    on a sorted copy sorted_ext (n,) int64 with its row order (n,) int32 (20 bytes per id, no Python dict)."""

    name: str
    ext: np.ndarray
    sorted_ext: np.ndarray = field(repr=False)
    order: np.ndarray = field(repr=False)

    @classmethod
    def build(cls, name: str, ext: np.ndarray) -> Vocab:
        ext = np.array(ext, dtype=np.int64)  # a copy: the artifact's read buffer can then be freed
        order = np.argsort(ext, kind="stable")
        return cls(name, ext, ext[order], order.astype(np.int32 if ext.size < 2**31 else np.int64))

    @property
    def nbytes(self) -> int:
        return int(self.ext.nbytes + self.sorted_ext.nbytes + self.order.nbytes)

    def rows(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """External ids -> (m,) int64 rows; raises UnknownIdError naming the first unknown id."""
        q = np.asarray(ids, dtype=np.int64)
        pos = np.searchsorted(self.sorted_ext, q)
        np.minimum(pos, len(self.sorted_ext) - 1, out=pos)  # ndarray.clip goes through a slow Python wrapper
        bad = self.sorted_ext[pos] != q
        if bad.any():
            raise UnknownIdError(self.name, int(q[np.argmax(bad)]))
        return self.order[pos].astype(np.int64)


@dataclass(frozen=True)
class KnownItems:
    """Each user's training items (the artifact's known.* CSR, validated by the reader): user row u's item
    rows are items[indptr[u] : indptr[u + 1]]. indptr (n_users + 1,) int64, items (nnz,) int32."""

    indptr: np.ndarray
    items: np.ndarray

    @property
    def nbytes(self) -> int:
        return int(self.indptr.nbytes + self.items.nbytes)

    def rows(self, user_row: int) -> np.ndarray:
        """(len,) int32 item rows of one user (a view)."""
        return self.items[self.indptr[user_row] : self.indptr[user_row + 1]]


@dataclass(frozen=True)
class LoadedModel:
    name: str
    version: str
    path: Path
    header: ArtifactHeader
    tables: dict[str, Table]
    vocab: dict[str, Vocab]
    dense: dict[str, np.ndarray]
    artifact_bytes: int
    loaded_at: float
    known: KnownItems | None = None  # users' training items, when the artifact carries them

    # ---- description ----------------------------------------------------------------------------------
    @property
    def model_type(self) -> str:
        return self.header.spec.model_type

    @property
    def d(self) -> int:
        return self.header.spec.d

    @property
    def resident_bytes(self) -> int:
        return int(
            sum(t.nbytes for t in self.tables.values())
            + sum(v.nbytes for v in self.vocab.values())
            + sum(a.nbytes for a in self.dense.values())
            + (self.known.nbytes if self.known is not None else 0)
        )

    def size_bits(self) -> dict[str, int]:
        spec = self.header.spec
        emb = sum(embedding_size_bits(t) for t in spec.tables.values())
        dense = FLOAT_BITS * sum(a.size for a in self.dense.values())
        full = sum(FLOAT_BITS * t.n * t.d for t in spec.tables.values()) + dense
        return {
            "embedding_bits": emb, "dense_bits": dense, "total_bits": emb + dense,
            "full_embedding_bits": full,
        }

    # ---- queries --------------------------------------------------------------------------------------
    def _require(self, what: str, ok: bool) -> None:
        if not ok:
            raise UnsupportedOperationError(self.model_type, what)

    def _user_rows(self, users: Sequence[int]) -> np.ndarray:
        self._require("user queries (send a history)" if self.model_type == "sasrec" else "user queries",
                      "user" in self.tables)
        return self.vocab["user"].rows(users)

    def _history_queries(self, histories: Sequence[Sequence[int]]) -> tuple[np.ndarray, list[np.ndarray]]:
        """sasrec: histories (oldest first) -> (queries (B, d), the rows of each history)."""
        self._require("history queries (send a user)", self.model_type == "sasrec")
        hp = self.header.spec.hparams
        L, nb = nn.hparam_int(hp, "max_len", 50), nn.hparam_int(hp, "n_blocks", 2)
        nh = nn.hparam_int(hp, "n_heads", 1)
        item = self.tables["item"]
        rows = [self.vocab["item"].rows(h) for h in histories]
        emb = np.zeros((len(rows), L, self.d), np.float32)
        mask = np.zeros((len(rows), L), bool)
        for b, r in enumerate(rows):
            last = r[-L:]  # left padding: the most recent item sits at position L - 1
            emb[b, L - len(last) :] = item.decode(last)
            mask[b, L - len(last) :] = True
        return nn.sasrec_hidden(emb, mask, self.dense, nb, nh), rows

    def _inner_queries(self, kind: str, queries: Sequence) -> tuple[np.ndarray, float, list[np.ndarray]]:
        """Inner-product models: (queries (B, d), bias, known rows per query); score = q · e_item + bias."""
        if kind == "history":
            Q, known = self._history_queries(queries)
            return Q, 0.0, known
        rows = self._user_rows(queries)
        Q, b = nn.folded_query(self.tables["user"].decode(rows), self.dense)
        return Q, b, [self._known_rows(r) for r in rows]

    def _known_rows(self, user_row: int) -> np.ndarray:
        """The user's training item rows, empty when the artifact carries no known items."""
        return self.known.rows(user_row) if self.known is not None else np.empty(0, np.int64)

    def _check_query_kind(self, kind: str) -> None:
        ok = self.model_type != "relevance"
        self._require(f"{kind} queries (it has no users; use similar or relevance)", ok)
        # only sasrec reads histories; the neumf branches below take user ids without looking at `kind`
        # (a history sent to neumf ended in an IndexError 500, found by tests/reliability/test_api_fuzz.py)
        self._require("history queries (send a user)", kind != "history" or self.model_type == "sasrec")

    def score(self, kind: str, queries: Sequence, items: Sequence[int]) -> np.ndarray:
        """(B, m) float32 scores of the given items for every query."""
        self._check_query_kind(kind)
        rows = self.vocab["item"].rows(items)
        E = self.tables["item"].decode(rows)  # (m, d)
        if self.model_type == "neumf":
            eu = self.tables["user"].decode(self._user_rows(queries))
            up = nn.neumf_user_part(eu, self.dense)
            return np.stack([nn.neumf_scores(eu[b], up[b], E, self.dense) for b in range(len(eu))])
        Q, bias, _ = self._inner_queries(kind, queries)
        return (Q @ E.T + np.float32(bias)).astype(np.float32)

    def recommend(
        self, kind: str, queries: Sequence, k: int, exclude: Sequence[int], exclude_known: bool
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Top-k (external item ids (k',) int64, scores (k',) float32) per query, best first."""
        self._check_query_kind(kind)
        self._require("exclude_known for user queries: this artifact carries no known items (no "
                      "known.indptr / known.items; export it again with the current trainer)",
                      not (exclude_known and kind == "user" and self.known is None))
        ex = self.vocab["item"].rows(exclude) if len(exclude) else np.empty(0, np.int64)
        item = self.tables["item"]
        out = []
        if self.model_type == "neumf":
            urows = self._user_rows(queries)
            eu = self.tables["user"].decode(urows)
            up = nn.neumf_user_part(eu, self.dense)
            for b in range(len(eu)):
                s = np.empty(item.n, np.float32)
                for a in range(0, item.n, DECODE_CHUNK):
                    r = np.arange(a, min(item.n, a + DECODE_CHUNK))
                    s[a : r[-1] + 1] = nn.neumf_scores(eu[b], up[b], item.decode(r), self.dense)
                drop = np.concatenate([ex, self._known_rows(urows[b])]) if exclude_known else ex
                out.append(topk(s, k, drop))
        else:
            Q, bias, known = self._inner_queries(kind, queries)
            for b in range(len(Q)):
                s = item.inner(Q[b : b + 1])[0]
                if bias:
                    s += np.float32(bias)
                drop = np.concatenate([ex, known[b]]) if exclude_known else ex
                out.append(topk(s, k, drop))
        return [(self.vocab["item"].ext[r], v) for r, v in out]

    def _item_queries(self, rows: np.ndarray) -> tuple[np.ndarray, float]:
        """similar/relevance: the relevance model's out(e_i ⊙ e_j), else the plain inner product."""
        E = self.tables["item"].decode(rows)
        if self.model_type == "relevance":
            return nn.folded_query(E, self.dense)
        return E, 0.0

    def similar(
        self, items: Sequence[int], k: int, exclude: Sequence[int]
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        rows = self.vocab["item"].rows(items)
        ex = self.vocab["item"].rows(exclude) if len(exclude) else np.empty(0, np.int64)
        Q, bias = self._item_queries(rows)
        out = []
        for b in range(len(rows)):
            s = self.tables["item"].inner(Q[b : b + 1])[0]
            if bias:
                s += np.float32(bias)
            r, v = topk(s, k, np.concatenate([ex, rows[b : b + 1]]))
            out.append((self.vocab["item"].ext[r], v))
        return out

    def relevance(self, pairs: Sequence[Sequence[int]]) -> np.ndarray:
        """(m,) float32 scores of item pairs."""
        p = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        a = self.vocab["item"].rows(p[:, 0])
        b = self.vocab["item"].rows(p[:, 1])
        Q, bias = self._item_queries(a)
        Eb = self.tables["item"].decode(b)
        return ((Q * Eb).sum(1) + np.float32(bias)).astype(np.float32)

    def embeddings(self, table: str, ids: Sequence[int]) -> np.ndarray:
        """(m, d) float32 decoded vectors."""
        self._require(f"{table} embeddings (it has no {table} table)", table in self.tables)
        return self.tables[table].decode(self.vocab[table].rows(ids))


# ---- loading ----------------------------------------------------------------------------------------------
class ModelLoadError(Exception):
    """An artifact that cannot be served; the message names the file and the problem."""


def load_model(name: str, version: str, path: Path) -> LoadedModel:
    """Read, validate and smoke-test an artifact. Raises ModelLoadError (or a proto ArtifactError)."""
    art = read_artifact(path)
    spec = art.header.spec
    try:
        tables = {t: build_table(t, cfg, art.arrays) for t, cfg in spec.tables.items()}
    except TableError as e:
        raise ModelLoadError(f"{path}: {e}") from e
    want = nn.dense_shapes(spec.model_type, spec.d, spec.hparams)
    dense = {}
    for key, shape in want.items():
        a = art.arrays.get(f"dense.{key}")
        if a is None:
            raise ModelLoadError(f"{path}: {spec.model_type} needs dense weight 'dense.{key}' {shape}")
        if a.shape != shape:
            raise ModelLoadError(f"{path}: 'dense.{key}' has shape {a.shape}, expected {shape}")
        if not np.isfinite(a).all():
            raise ModelLoadError(f"{path}: 'dense.{key}' holds non-finite values")
        dense[key] = np.array(a, dtype=np.float32)  # a copy, so the file's read buffer is freed
    if spec.model_type == "sasrec" and spec.d % nn.hparam_int(spec.hparams, "n_heads", 1):
        raise ModelLoadError(f"{path}: d={spec.d} is not divisible by n_heads={spec.hparams.get('n_heads')}")
    vocab = {t: Vocab.build(t, art.arrays[f"vocab.{t}"]) for t in spec.tables}
    known = None
    if KNOWN_INDPTR in art.arrays:  # copies, so the file's read buffer is freed
        known = KnownItems(np.array(art.arrays[KNOWN_INDPTR]), np.array(art.arrays[KNOWN_ITEMS]))
    model = LoadedModel(
        name=name, version=version, path=Path(path), header=art.header, tables=tables, vocab=vocab,
        dense=dense, artifact_bytes=Path(path).stat().st_size, loaded_at=time.time(), known=known,
    )
    _smoke_test(model)
    return model


def _smoke_test(model: LoadedModel) -> None:
    """Run the model's main query once so a broken artifact fails at load, not on the first request."""
    item0 = [int(model.vocab["item"].ext[0])]
    if model.model_type == "sasrec":
        res = model.recommend("history", [item0], 1, [], False)
    elif model.model_type == "relevance":
        res = model.similar(item0, 1, [])
    else:
        res = model.recommend("user", [int(model.vocab["user"].ext[0])], 1, [], False)
    if model.tables["item"].n > 1 and not all(np.isfinite(v).all() and v.size for _, v in res):
        raise ModelLoadError(f"{model.path}: the smoke-test query produced no finite score")
