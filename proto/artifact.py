"""The MGQE artifact: one self-describing file holding a servable model (format specified in ARTIFACT.md).

    prefix  16 bytes   magic b"\\x89MGQE\\r\\n\\x1a" | format version u32 LE | header length u32 LE
    header  JSON       ArtifactHeader, UTF-8, padded with spaces so the data section starts 64-aligned
    data               buffers in header order, each at a 64-aligned offset, zero bytes between them

The reader trusts nothing: it checks the prefix, the header size, the header schema, that buffer offsets are
contiguous and aligned, that every declared nbytes matches its shape, that the buffers are exactly the ones
the model spec requires, and that the file length matches, all before it allocates any buffer; then it checks
every buffer's SHA-256. Every failure raises a named `mgqe.proto.errors.ArtifactError` subclass.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import struct
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .config import EmbeddingConfig, ModelSpec
from .errors import (
    ArrayMismatchError,
    ArtifactIOError,
    BadMagicError,
    BufferLayoutError,
    BufferSizeError,
    ChecksumError,
    CodeRangeError,
    HeaderDecodeError,
    HeaderSizeError,
    HeaderValidationError,
    KnownItemsError,
    MetadataError,
    MissingArrayError,
    TrailingDataError,
    TruncatedFileError,
    UnexpectedArrayError,
    UnsupportedVersionError,
    VocabularyError,
)
from .packing import code_dtype, pack_codes, packed_nbytes, unpack_codes

MAGIC = b"\x89MGQE\r\n\x1a"
FORMAT_VERSION = 1
PREFIX = struct.Struct("<8sII")  # magic, format version, header length
ALIGN = 64
MAX_HEADER_BYTES = 16 * 1024 * 1024

DType = Literal["float32", "int64", "int32", "uint8", "uint16"]
_NP_DTYPES: dict[str, np.dtype] = {
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
        return self.count * _NP_DTYPES[self.dtype].itemsize


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
    dtype: str  # a key of _NP_DTYPES
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


def _check_known_names(spec: ModelSpec, names: list[str], where: str) -> None:
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


# ---- writer -------------------------------------------------------------------------------------------


def write_artifact(
    path: str | Path,
    spec: ModelSpec,
    arrays: Mapping[str, np.ndarray],
    *,
    metrics: Mapping[str, float] | None = None,
    provenance: Mapping[str, Any] | None = None,
) -> ArtifactHeader:
    """Validate `arrays` against `spec`, bit-pack the codes and write the artifact atomically.

    arrays: the names of config.py's docstring (codes UNPACKED as integer (n_i, D_i) arrays, floats float32),
    "vocab.user"/"vocab.item" (n,) integer external ids, "dense.<name>" float32 backbone weights, and
    optionally (models with a user table) "known.indptr" (n_users + 1,) / "known.items" (nnz,) integer CSR of
    each user's training items as internal item ids (stored int64 / int32).
    provenance gets a "created" UTC timestamp unless it has one. Returns the header written.
    Raises MissingArrayError, UnexpectedArrayError, ArrayMismatchError, CodeRangeError, VocabularyError,
    KnownItemsError, MetadataError or HeaderSizeError; the target path is untouched on any error.
    """
    payloads = _encode_arrays(spec, arrays)
    prov = dict(provenance or {})
    prov.setdefault("created", datetime.now(timezone.utc).isoformat(timespec="seconds"))
    buffers: list[BufferSpec] = []
    cursor = 0
    for name, (dtype, shape, bits, data) in payloads.items():
        offset = align_up(cursor)
        buffers.append(
            BufferSpec(
                name=name,
                dtype=dtype,
                shape=shape,
                offset=offset,
                nbytes=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
                bits=bits,
            )
        )
        cursor = offset + len(data)
    header = ArtifactHeader(
        format_version=FORMAT_VERSION,
        spec=spec,
        metrics=_check_metrics(metrics or {}),
        provenance=_check_provenance(prov),
        buffers=tuple(buffers),
    )
    header_bytes = encode_header(header)
    _atomic_write(Path(path), header_bytes, [(b.offset, payloads[b.name][3]) for b in buffers])
    return header


def encode_header(header: ArtifactHeader) -> bytes:
    """Prefix + canonical JSON header (sorted keys, ASCII) padded with spaces to the data alignment."""
    text = json.dumps(header.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), allow_nan=False)
    raw = text.encode("ascii")
    length = align_up(PREFIX.size + len(raw)) - PREFIX.size
    if length > MAX_HEADER_BYTES:
        raise HeaderSizeError(f"header is {length} bytes, over the limit of {MAX_HEADER_BYTES}")
    return PREFIX.pack(MAGIC, header.format_version, length) + raw.ljust(length, b" ")


def _encode_arrays(
    spec: ModelSpec, arrays: Mapping[str, np.ndarray]
) -> dict[str, tuple[DType, tuple[int, ...], int | None, bytes]]:
    """Check every array against the spec and turn it into (dtype, shape, bits, bytes), in file order."""
    required = required_arrays(spec)
    _check_known_names(spec, list(arrays), "array")
    for name in arrays:
        if name not in required and name not in KNOWN_NAMES and not is_dense_name(name):
            raise UnexpectedArrayError(
                f"array {name!r} is not defined by the spec (expected {sorted(required)}); "
                "dense weights must be named 'dense.<name>'"
            )
    missing = [n for n in required if n not in arrays]
    if missing:
        raise MissingArrayError(f"the spec requires arrays {missing}, which were not given")
    out: dict[str, tuple[DType, tuple[int, ...], int | None, bytes]] = {}
    for name, req in required.items():
        a = np.asarray(arrays[name])
        if a.shape != req.shape:
            raise ArrayMismatchError(f"array {name!r} has shape {a.shape}, the spec requires {req.shape}")
        if req.bits is not None:
            assert req.K is not None
            if a.dtype == np.bool_ or not np.issubdtype(a.dtype, np.integer):
                raise ArrayMismatchError(f"codes {name!r} must be an integer array, got {a.dtype}")
            if a.size and (int(a.min()) < 0 or int(a.max()) >= req.K):
                raise CodeRangeError(f"codes {name!r} must lie in [0, {req.K}), got [{a.min()}, {a.max()}]")
            out[name] = (req.dtype, req.shape, req.bits, pack_codes(a, req.bits))  # type: ignore[assignment]
        elif req.dtype == "int64":
            out[name] = ("int64", req.shape, None, _vocab_bytes(name, a))
        else:
            out[name] = ("float32", req.shape, None, _float32_bytes(name, a))
    if KNOWN_INDPTR in arrays:
        out |= _known_bytes(spec, np.asarray(arrays[KNOWN_INDPTR]), np.asarray(arrays[KNOWN_ITEMS]))
    for name in sorted(n for n in arrays if is_dense_name(n)):
        a = np.asarray(arrays[name])
        out[name] = ("float32", tuple(int(s) for s in a.shape), None, _float32_bytes(name, a))
    return out


def _known_bytes(
    spec: ModelSpec, indptr: np.ndarray, items: np.ndarray
) -> dict[str, tuple[DType, tuple[int, ...], int | None, bytes]]:
    """Check the known-items CSR and encode it: indptr as int64, items as int32."""
    for name, a in ((KNOWN_INDPTR, indptr), (KNOWN_ITEMS, items)):
        if a.dtype == np.bool_ or not np.issubdtype(a.dtype, np.integer):
            raise ArrayMismatchError(f"array {name!r} must hold integers, got {a.dtype}")
    if items.ndim != 1:
        raise ArrayMismatchError(f"array {KNOWN_ITEMS!r} must be 1-D, got shape {items.shape}")
    want = known_shapes(spec, items.size)[KNOWN_INDPTR].shape
    if indptr.shape != want:
        raise ArrayMismatchError(
            f"array {KNOWN_INDPTR!r} has shape {indptr.shape}, the user table needs {want} (n_users + 1)"
        )
    if indptr.dtype == np.uint64 and indptr.size and int(indptr.max()) > np.iinfo(np.int64).max:
        raise ArrayMismatchError(f"array {KNOWN_INDPTR!r} has offsets beyond the int64 range")
    if spec.tables["item"].n > np.iinfo(np.int32).max:
        raise ArrayMismatchError(f"{spec.tables['item'].n} items do not fit the int32 ids of {KNOWN_ITEMS!r}")
    indptr = indptr.astype(np.int64)  # signed before np.diff: unsigned steps would wrap instead of going < 0
    check_known_items(spec, indptr, items)  # on the given dtype: a cast must not hide an out-of-range id
    return {
        KNOWN_INDPTR: ("int64", want, None, indptr.astype("<i8").tobytes()),
        KNOWN_ITEMS: ("int32", (items.size,), None, items.astype("<i4").tobytes()),
    }


def _float32_bytes(name: str, a: np.ndarray) -> bytes:
    if a.dtype != np.float32:
        raise ArrayMismatchError(f"array {name!r} must be float32, got {a.dtype}")
    return a.astype("<f4", copy=False).tobytes()


def _vocab_bytes(name: str, a: np.ndarray) -> bytes:
    if a.dtype == np.bool_ or not np.issubdtype(a.dtype, np.integer):
        raise ArrayMismatchError(f"vocabulary {name!r} must hold integer ids, got {a.dtype}")
    if a.dtype == np.uint64 and a.size and int(a.max()) > np.iinfo(np.int64).max:
        raise ArrayMismatchError(f"vocabulary {name!r} has ids beyond the int64 range")
    v = a.astype("<i8")
    check_vocabulary(name, v)
    return v.tobytes()


def check_vocabulary(name: str, v: np.ndarray) -> None:
    """Raise VocabularyError if the (n,) external ids repeat."""
    uniq, counts = np.unique(v, return_counts=True)
    if uniq.size != v.size:
        dups = uniq[counts > 1][:5].tolist()
        raise VocabularyError(f"vocabulary {name!r} repeats external ids, e.g. {dups}")


def _check_metrics(metrics: Mapping[str, float]) -> dict[str, float]:
    out = {}
    for k, v in metrics.items():
        if not isinstance(k, str):
            raise MetadataError(f"metric names must be strings, got {k!r}")
        if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating):
            raise MetadataError(f"metric {k!r} must be a real number, got {type(v).__name__}")
        if not math.isfinite(float(v)):
            raise MetadataError(f"metric {k!r} is {v}; only finite values can be stored")
        out[k] = float(v)
    return out


def _check_provenance(prov: dict[str, Any]) -> dict[str, Any]:
    try:
        return json.loads(json.dumps(prov, allow_nan=False))  # type: ignore[no-any-return]
    except (TypeError, ValueError) as e:
        raise MetadataError(
            f"provenance must be JSON-serialisable with string keys and finite numbers: {e}"
        ) from e


def _atomic_write(path: Path, head: bytes, buffers: list[tuple[int, bytes]]) -> None:
    """Write to a temp file in the target directory, fsync, rename over `path`, fsync the directory."""
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as e:
        raise ArtifactIOError(f"cannot create a temporary file next to {path}: {e}") from e
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(head)
            pos = 0
            for offset, data in buffers:
                f.write(b"\0" * (offset - pos))
                f.write(data)
                pos = offset + len(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise ArtifactIOError(f"cannot write {path}: {e}") from e
        raise
    with contextlib.suppress(OSError):  # not every platform can open a directory
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


# ---- reader -------------------------------------------------------------------------------------------


def read_header(path: str | Path) -> ArtifactHeader:
    """Read and fully validate the prefix and header (layout, spec match, file length); no buffer is read."""
    with _open(path) as f:
        return _read_layout(f, os.fstat(f.fileno()).st_size)[0]


def read_artifact(path: str | Path, *, verify_checksums: bool = True) -> Artifact:
    """Read, validate and decode an artifact. See `Artifact` for the returned arrays' dtypes and shapes.

    The whole structure is validated before the data section is read; then padding, checksums (unless
    verify_checksums=False), vocabularies and known items are checked. Raises a named ArtifactError on any
    problem.
    """
    with _open(path) as f:
        size = os.fstat(f.fileno()).st_size
        header, data_start = _read_layout(f, size)
        data = bytearray(size - data_start)  # bounded by the file's real size, checked above
        f.seek(data_start)
        if f.readinto(data) != len(data):
            raise TruncatedFileError(f"{path}: the file shrank while being read")
    return decode_buffers(header, data, verify_checksums=verify_checksums)


def decode_buffers(header: ArtifactHeader, data: bytearray, *, verify_checksums: bool = True) -> Artifact:
    """Decode a validated header's data section (padding, checksums, unpacking, vocabularies, known items)."""
    view = memoryview(data)
    pos = 0
    arrays: dict[str, np.ndarray] = {}
    for b in header.buffers:
        if any(view[pos : b.offset]):
            raise BufferLayoutError(
                f"non-zero alignment padding before buffer {b.name!r} (data offset {pos})"
            )
        chunk = view[b.offset : b.offset + b.nbytes]
        pos = b.offset + b.nbytes
        if verify_checksums and hashlib.sha256(chunk).hexdigest() != b.sha256:
            raise ChecksumError(
                f"buffer {b.name!r} (data offset {b.offset}, {b.nbytes} bytes) fails its SHA-256"
            )
        if b.bits is not None:
            n, D = b.shape
            arrays[b.name] = unpack_codes(chunk, n, D, b.bits)
        else:
            arr = np.frombuffer(chunk, dtype=_NP_DTYPES[b.dtype]).reshape(b.shape)
            arrays[b.name] = arr.astype(arr.dtype.newbyteorder("="), copy=False)
    for t in header.spec.tables:
        check_vocabulary(f"vocab.{t}", arrays[f"vocab.{t}"])
    if KNOWN_INDPTR in arrays:
        check_known_items(header.spec, arrays[KNOWN_INDPTR], arrays[KNOWN_ITEMS])
    return Artifact(header=header, arrays=arrays)


@contextlib.contextmanager
def _open(path: str | Path):  # type: ignore[no-untyped-def]
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below; open errors must become ArtifactIOError
    except OSError as e:
        raise ArtifactIOError(f"cannot open artifact {path}: {e.strerror or e}") from e
    try:
        yield f
    except OSError as e:
        raise ArtifactIOError(f"cannot read artifact {path}: {e.strerror or e}") from e
    finally:
        f.close()


def _read_layout(f: BinaryIO, size: int) -> tuple[ArtifactHeader, int]:
    """Validate everything but the buffer contents. Returns (header, absolute offset of the data section)."""
    prefix = f.read(PREFIX.size)
    if len(prefix) < PREFIX.size:
        raise TruncatedFileError(f"file has {size} bytes, fewer than the {PREFIX.size}-byte prefix")
    magic, version, hlen = PREFIX.unpack(prefix)
    if magic != MAGIC:
        raise BadMagicError(f"magic bytes are {magic!r}, expected {MAGIC!r}: not an MGQE artifact")
    if version != FORMAT_VERSION:
        newer = " (written by a newer release)" if version > FORMAT_VERSION else ""
        raise UnsupportedVersionError(
            f"format version {version}{newer}; this reader supports version {FORMAT_VERSION}"
        )
    if hlen > MAX_HEADER_BYTES:
        raise HeaderSizeError(f"header length {hlen} is over the limit of {MAX_HEADER_BYTES} bytes")
    data_start = PREFIX.size + hlen
    if data_start > size:
        raise HeaderSizeError(f"header length {hlen} extends past the end of the {size}-byte file")
    if data_start % ALIGN:
        raise HeaderSizeError(
            f"header length {hlen} does not start the data section on a {ALIGN}-byte boundary"
        )
    raw = f.read(hlen)
    if len(raw) != hlen:
        raise TruncatedFileError(f"{size}-byte file ended inside the {hlen}-byte header")
    header = parse_header(raw)
    if header.format_version != version:
        raise HeaderValidationError(
            f"header says format_version {header.format_version}, the prefix says {version}"
        )
    end = check_layout(header)
    if data_start + end > size:
        raise TruncatedFileError(f"file has {size} bytes, the header declares {data_start + end}")
    if data_start + end < size:
        raise TrailingDataError(f"file has {size - data_start - end} bytes after the last buffer")
    return header, data_start


def parse_header(raw: bytes) -> ArtifactHeader:
    """Header bytes (JSON + space padding) -> validated ArtifactHeader."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise HeaderDecodeError(f"header is not UTF-8: {e}") from e
    try:
        return ArtifactHeader.model_validate_json(text)
    except ValidationError as e:
        errors = e.errors(include_url=False)
        if errors and errors[0]["type"] == "json_invalid":
            raise HeaderDecodeError(f"header is not valid JSON: {errors[0]['msg']}") from None
        raise HeaderValidationError(f"header does not match the schema: {_summarise(e)}") from None


def _summarise(e: ValidationError, limit: int = 3) -> str:
    errs = e.errors(include_url=False)
    parts = [f"{'.'.join(str(x) for x in err['loc']) or '<root>'}: {err['msg']}" for err in errs[:limit]]
    more = f" (+{len(errs) - limit} more)" if len(errs) > limit else ""
    return "; ".join(parts) + more


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
    _check_known_names(header.spec, names, "buffer")
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
