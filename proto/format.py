"""The MGQE artifact format: constants, the JSON header's schema, the arrays a model spec requires, and the
layout checks that both the writer and the reader apply (the format itself: ARTIFACT.md).

    prefix  16 bytes   magic b"\\x89MGQE\\r\\n\\x1a" | format version u32 LE | header length u32 LE
    header  JSON       ArtifactHeader, UTF-8, padded with spaces so the data section starts 64-aligned
    data               buffers in header order, each at a 64-aligned offset, zero bytes between them
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from .config import EmbeddingConfig, ModelSpec
from .errors import (
    ArrayMismatchError,
    BufferLayoutError,
    BufferSizeError,
    KnownItemsError,
    MissingArrayError,
    UnexpectedArrayError,
    VocabularyError,
)
from .packing import code_dtype, packed_nbytes

MAGIC = b"\x89MGQE\r\n\x1a"
FORMAT_VERSION = 1
PREFIX = struct.Struct("<8sII")  # magic, format version, header length
ALIGN = 64
MAX_HEADER_BYTES = 16 * 1024 * 1024

DType = Literal["float32", "int64", "int32", "uint8", "uint16"]
NP_DTYPES: dict[str, np.dtype] = {
    "float32": np.dtype("<f4"),
    "int64": np.dtype("<i8"),
    "int32": np.dtype("<i4"),
    "uint8": np.dtype("u1"),
    "uint16": np.dtype("<u2"),
}


def align_up(x: int, a: int = ALIGN) -> int:
    return -(-x // a) * a


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class BufferSpec(_Strict):
    """Where one array lives in the data section and how to decode it.

    Packed code buffers have `bits` set; their `dtype` is the unpacked dtype (uint8 for bits <= 8, else
    uint16) and nbytes = ceil(prod(shape) * bits / 8). Other buffers have bits = None and
    nbytes = prod(shape) * itemsize. `offset` is relative to the start of the data section.
    """

    name: str = Field(min_length=1, max_length=256)
    dtype: DType
    shape: tuple[int, ...] = Field(max_length=8)
    offset: int = Field(ge=0)
    nbytes: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    bits: int | None = Field(default=None, ge=1, le=16)

    @model_validator(mode="after")
    def _check(self) -> BufferSpec:
        if any(s < 0 for s in self.shape):
            raise ValueError(f"buffer {self.name!r}: negative dimension in shape {list(self.shape)}")
        if self.bits is not None and self.dtype != code_dtype(self.bits).name:
            raise ValueError(
                f"buffer {self.name!r}: {self.bits}-bit codes unpack to {code_dtype(self.bits).name}"
            )
        return self

    @property
    def count(self) -> int:
        return math.prod(self.shape)

    def expected_nbytes(self) -> int:
        if self.bits is not None:
            return packed_nbytes(self.count, self.bits)
        return self.count * NP_DTYPES[self.dtype].itemsize


class ArtifactHeader(_Strict):
    """The JSON header: everything needed to rebuild and trust the model without trainer code."""

    format_version: int
    byte_order: Literal["little"] = "little"
    alignment: Literal[64] = 64  # = ALIGN (a Literal type cannot refer to the constant)
    spec: ModelSpec
    metrics: dict[str, float] = Field(default_factory=dict)
    provenance: dict[str, Any] = Field(default_factory=dict)
    buffers: tuple[BufferSpec, ...]

    @model_validator(mode="after")
    def _unique(self) -> ArtifactHeader:
        names = [b.name for b in self.buffers]
        if len(set(names)) != len(names):
            dup = sorted({x for x in names if names.count(x) > 1})
            raise ValueError(f"duplicate buffer names {dup}")
        return self

    def buffer(self, name: str) -> BufferSpec:
        for b in self.buffers:
            if b.name == name:
                return b
        raise KeyError(name)


@dataclass(frozen=True)
class Artifact:
    """A read artifact. arrays: codes (n_i, D_i) uint8/uint16 unpacked, floats float32, vocab (n,) int64,
    optional known.indptr (n_users + 1,) int64 and known.items (nnz,) int32."""

    header: ArtifactHeader
    arrays: dict[str, np.ndarray]

    @property
    def spec(self) -> ModelSpec:
        return self.header.spec


@dataclass(frozen=True)
class ArraySpec:
    """What the model spec requires of one embedding or vocabulary array."""

    shape: tuple[int, ...]
    dtype: str  # a key of NP_DTYPES
    bits: int | None = None  # set for packed codes
    K: int | None = None  # codes must be < K


def required_arrays(spec: ModelSpec) -> dict[str, ArraySpec]:
    """Every embedding and vocabulary array `spec` needs, in canonical file order (see config.py's names)."""
    out: dict[str, ArraySpec] = {}
    for t in sorted(spec.tables):
        out.update(_table_arrays(t, spec.tables[t]))
    for t in sorted(spec.tables):
        out[f"vocab.{t}"] = ArraySpec((spec.tables[t].n,), "int64")
    return out


def _table_arrays(t: str, cfg: EmbeddingConfig) -> dict[str, ArraySpec]:
    n, d = cfg.n, cfg.d
    if cfg.method == "fe":
        return {f"{t}.weight": ArraySpec((n, d), "float32")}
    if cfg.method == "lrf":
        assert cfg.rank is not None
        return {f"{t}.A": ArraySpec((n, cfg.rank), "float32"), f"{t}.B": ArraySpec((cfg.rank, d), "float32")}
    if cfg.method == "sq":
        assert cfg.bits is not None
        b = cfg.bits
        return {
            f"{t}.codes": ArraySpec((n, d), code_dtype(b).name, b, 1 << b),
            f"{t}.lo": ArraySpec((d,), "float32"),
            f"{t}.hi": ArraySpec((d,), "float32"),
        }
    out = {
        f"{t}.codes.g{i}": ArraySpec((g.size, g.D), code_dtype(g.bits).name, g.bits, g.K)
        for i, g in enumerate(cfg.groups)
    }
    if cfg.shared:
        D = cfg.groups[0].D
        out[f"{t}.centroids"] = ArraySpec((D, cfg.K_max, d // D), "float32")
    else:
        for i, g in enumerate(cfg.groups):
            out[f"{t}.centroids.g{i}"] = ArraySpec((g.D, g.K, d // g.D), "float32")
    return out


def is_dense_name(name: str) -> bool:
    return name.startswith("dense.") and len(name) > len("dense.")


# The users' known (training) items, CSR by internal user id: user u's internal item ids are
# known.items[known.indptr[u] : known.indptr[u + 1]]. Optional serving metadata (not model weights), allowed
# only with a "user" table; both arrays or neither.
KNOWN_INDPTR, KNOWN_ITEMS = "known.indptr", "known.items"
KNOWN_NAMES = (KNOWN_INDPTR, KNOWN_ITEMS)


def check_known_names(spec: ModelSpec, names: list[str], where: str) -> None:
    """Known items need a user table and come as a pair (UnexpectedArrayError / MissingArrayError)."""
    present = [n for n in KNOWN_NAMES if n in names]
    if present and "user" not in spec.tables:
        raise UnexpectedArrayError(
            f"{where} {present[0]!r}: known items need a 'user' table; "
            f"model type {spec.model_type!r} has none"
        )
    if len(present) == 1:
        other = KNOWN_INDPTR if present[0] == KNOWN_ITEMS else KNOWN_ITEMS
        raise MissingArrayError(f"{where} {present[0]!r} comes without {other!r}: known items need both")


def known_shapes(spec: ModelSpec, nnz: int) -> dict[str, ArraySpec]:
    """Shapes and dtypes of known.indptr (n_users + 1,) int64 and known.items (nnz,) int32."""
    return {
        KNOWN_INDPTR: ArraySpec((spec.tables["user"].n + 1,), "int64"),
        KNOWN_ITEMS: ArraySpec((nnz,), "int32"),
    }


def check_known_items(spec: ModelSpec, indptr: np.ndarray, items: np.ndarray) -> None:
    """Raise KnownItemsError unless indptr (n_users + 1,) is a valid CSR row pointer over items (nnz,), whose
    entries are internal item ids in [0, n_items). Shapes are checked by the caller."""
    n_items = spec.tables["item"].n
    if indptr[0] != 0:
        raise KnownItemsError(f"{KNOWN_INDPTR} starts at {int(indptr[0])}, expected 0")
    steps = np.diff(indptr)
    if steps.size and int(steps.min()) < 0:
        u = int(np.argmax(steps < 0))
        raise KnownItemsError(
            f"{KNOWN_INDPTR} decreases at user row {u} ({int(indptr[u])} -> {int(indptr[u + 1])})"
        )
    if indptr[-1] != items.size:
        raise KnownItemsError(
            f"{KNOWN_INDPTR} ends at {int(indptr[-1])}, {KNOWN_ITEMS} has {items.size} entries"
        )
    if items.size and (int(items.min()) < 0 or int(items.max()) >= n_items):
        raise KnownItemsError(
            f"{KNOWN_ITEMS} must hold internal item ids in [0, {n_items}), got [{items.min()}, {items.max()}]"
        )


def check_vocabulary(name: str, v: np.ndarray) -> None:
    """Raise VocabularyError if the (n,) external ids repeat."""
    uniq, counts = np.unique(v, return_counts=True)
    if uniq.size != v.size:
        dups = uniq[counts > 1][:5].tolist()
        raise VocabularyError(f"vocabulary {name!r} repeats external ids, e.g. {dups}")


def check_layout(header: ArtifactHeader) -> int:
    """Check buffer sizes, offsets and names against the spec. Returns the end of the data section."""
    cursor = 0
    for b in header.buffers:
        want = b.expected_nbytes()
        if b.nbytes != want:
            bits = f" at {b.bits} bits" if b.bits is not None else ""
            raise BufferSizeError(
                f"buffer {b.name!r}: shape {list(b.shape)} {b.dtype}{bits} needs {want} bytes, "
                f"header declares {b.nbytes}"
            )
        expected = align_up(cursor)
        if b.offset != expected:
            raise BufferLayoutError(
                f"buffer {b.name!r} at data offset {b.offset}, expected {expected} (buffers must follow each "
                f"other in header order, each starting at the next {ALIGN}-byte boundary)"
            )
        cursor = b.offset + b.nbytes
    _check_against_spec(header)
    return cursor


def _check_against_spec(header: ArtifactHeader) -> None:
    required = required_arrays(header.spec)
    names = [b.name for b in header.buffers]
    check_known_names(header.spec, names, "buffer")
    if KNOWN_ITEMS in names:
        required |= known_shapes(header.spec, header.buffer(KNOWN_ITEMS).count)
    for b in header.buffers:
        if b.name in required:
            req = required[b.name]
            got = (b.shape, b.dtype, b.bits)
            if got != (req.shape, req.dtype, req.bits):
                raise ArrayMismatchError(
                    f"buffer {b.name!r} is (shape {list(b.shape)}, {b.dtype}, bits {b.bits}), "
                    f"the spec requires (shape {list(req.shape)}, {req.dtype}, bits {req.bits})"
                )
        elif is_dense_name(b.name):
            if b.dtype != "float32" or b.bits is not None:
                raise ArrayMismatchError(
                    f"dense buffer {b.name!r} must be float32, got {b.dtype} bits {b.bits}"
                )
        else:
            raise UnexpectedArrayError(f"buffer {b.name!r} is not defined by the model spec")
    missing = [n for n in required if n not in names]
    if missing:
        raise MissingArrayError(f"the spec requires buffers {missing}, which the header lacks")
