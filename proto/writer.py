"""Writing an artifact: validate arrays against the model spec, bit-pack the codes, and write the file
atomically (temp file, fsync, rename). The format and its checks: format.py and ARTIFACT.md."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from .config import ModelSpec
from .errors import (
    ArrayMismatchError,
    ArtifactIOError,
    CodeRangeError,
    HeaderSizeError,
    MetadataError,
    MissingArrayError,
    UnexpectedArrayError,
)
from .format import (
    FORMAT_VERSION,
    KNOWN_INDPTR,
    KNOWN_ITEMS,
    KNOWN_NAMES,
    MAGIC,
    MAX_HEADER_BYTES,
    PREFIX,
    ArtifactHeader,
    BufferSpec,
    DType,
    align_up,
    check_known_items,
    check_known_names,
    check_vocabulary,
    is_dense_name,
    known_shapes,
    required_arrays,
)
from .packing import pack_codes


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
    check_known_names(spec, list(arrays), "array")
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
