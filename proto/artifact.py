"""The MGQE artifact: one self-describing file holding a servable model (format specified in ARTIFACT.md).

    prefix  16 bytes   magic b"\\x89MGQE\\r\\n\\x1a" | format version u32 LE | header length u32 LE
    header  JSON       ArtifactHeader, UTF-8, padded with spaces so the data section starts 64-aligned
    data               buffers in header order, each at a 64-aligned offset, zero bytes between them

This module is the public entry point; the work is split by concept:
    format.py   constants, the header schema, the arrays a model spec requires, layout checks
    writer.py   write_artifact: validate, bit-pack, write atomically
    reader.py   read_artifact / read_header: validate everything before allocating, then verify checksums
Every failure raises a named `mgqe.proto.errors.ArtifactError` subclass.
"""

from __future__ import annotations

from .format import (
    ALIGN,
    FORMAT_VERSION,
    KNOWN_INDPTR,
    KNOWN_ITEMS,
    KNOWN_NAMES,
    MAGIC,
    MAX_HEADER_BYTES,
    PREFIX,
    ArraySpec,
    Artifact,
    ArtifactHeader,
    BufferSpec,
    align_up,
    check_layout,
    is_dense_name,
    required_arrays,
)
from .reader import decode_buffers, parse_header, read_artifact, read_header
from .writer import encode_header, write_artifact

__all__ = [
    "ALIGN",
    "FORMAT_VERSION",
    "KNOWN_INDPTR",
    "KNOWN_ITEMS",
    "KNOWN_NAMES",
    "MAGIC",
    "MAX_HEADER_BYTES",
    "PREFIX",
    "ArraySpec",
    "Artifact",
    "ArtifactHeader",
    "BufferSpec",
    "align_up",
    "check_layout",
    "decode_buffers",
    "encode_header",
    "is_dense_name",
    "parse_header",
    "read_artifact",
    "read_header",
    "required_arrays",
    "write_artifact",
]
