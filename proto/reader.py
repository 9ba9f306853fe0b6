"""Reading an artifact. The reader trusts nothing: it checks the prefix, the header size, the header schema,
that buffer offsets are contiguous and aligned, that every declared nbytes matches its shape, that the buffers
are exactly the ones the model spec requires, and that the file length matches, all before it allocates any
buffer; then it checks every buffer's SHA-256, the padding, the vocabularies and the known items. Every
failure raises a named `mgqe.proto.errors.ArtifactError` subclass."""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path
from typing import BinaryIO

import numpy as np
from pydantic import ValidationError

from .errors import (
    ArtifactIOError,
    BadMagicError,
    BufferLayoutError,
    ChecksumError,
    HeaderDecodeError,
    HeaderSizeError,
    HeaderValidationError,
    TrailingDataError,
    TruncatedFileError,
    UnsupportedVersionError,
)
from .format import (
    ALIGN,
    FORMAT_VERSION,
    KNOWN_INDPTR,
    KNOWN_ITEMS,
    MAGIC,
    MAX_HEADER_BYTES,
    NP_DTYPES,
    PREFIX,
    Artifact,
    ArtifactHeader,
    check_known_items,
    check_layout,
    check_vocabulary,
)
from .packing import unpack_codes


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
            arr = np.frombuffer(chunk, dtype=NP_DTYPES[b.dtype]).reshape(b.shape)
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
