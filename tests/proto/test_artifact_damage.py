"""Damaged and hostile files: each gives its named ArtifactError, allocating no more than the file's size."""

from __future__ import annotations

import hashlib
import json
import struct
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from artifact_factory import gmf_spec, random_arrays
from mgqe.proto.artifact import (
    ALIGN,
    MAGIC,
    MAX_HEADER_BYTES,
    PREFIX,
    align_up,
    read_artifact,
    read_header,
    write_artifact,
)
from mgqe.proto.errors import (
    ArrayMismatchError,
    ArtifactError,
    BadMagicError,
    BufferLayoutError,
    BufferSizeError,
    ChecksumError,
    HeaderDecodeError,
    HeaderSizeError,
    HeaderValidationError,
    MissingArrayError,
    TrailingDataError,
    TruncatedFileError,
    UnexpectedArrayError,
    UnsupportedVersionError,
    VocabularyError,
)

# Python-side overhead allowed on top of the file size (parsing a few-KB JSON header, small lists).
SLACK = 1 << 20


@pytest.fixture
def good(tmp_path: Path) -> Path:
    spec = gmf_spec("mgqe")
    path = tmp_path / "good.mgqe"
    write_artifact(path, spec, random_arrays(spec, seed=3), metrics={"hr@10": 1.0})
    return path


def split(path: Path) -> tuple[dict[str, Any], bytes]:
    raw = path.read_bytes()
    _, _, hlen = PREFIX.unpack(raw[: PREFIX.size])
    return json.loads(raw[PREFIX.size : PREFIX.size + hlen]), raw[PREFIX.size + hlen :]


def join(header: dict[str, Any] | bytes, data: bytes, version: int = 1, pad: bool = True) -> bytes:
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    hlen = align_up(PREFIX.size + len(text)) - PREFIX.size if pad else len(text)
    return PREFIX.pack(MAGIC, version, hlen) + text.ljust(hlen, b" ") + data


def rewrite(
    path: Path, edit: Callable[[dict[str, Any]], None] | None = None, data: bytes | None = None
) -> Path:
    """Edit the header dict (and/or replace the data section) of a valid file; the prefix stays consistent."""
    header, old = split(path)
    if edit:
        edit(header)
    path.write_bytes(join(header, old if data is None else data))
    return path


def expect(path: Path, error: type[ArtifactError], match: str) -> None:
    """Both readers raise exactly `error`; the failing read_artifact allocates at most file size + SLACK."""
    size = path.stat().st_size
    with pytest.raises(error, match=match):
        read_header(path)
    tracemalloc.start()
    try:
        with pytest.raises(error, match=match) as info:
            read_artifact(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert type(info.value) is error
    assert peak < size + SLACK, f"peak allocation {peak} for a {size}-byte file"


def expect_on_data(path: Path, error: type[ArtifactError], match: str) -> None:
    """Damage inside the data section: the header is still fine, read_artifact finds it."""
    read_header(path)
    with pytest.raises(error, match=match) as info:
        read_artifact(path)
    assert type(info.value) is error


def test_good_file_reads(good: Path) -> None:
    assert read_artifact(good).header.metrics == {"hr@10": 1.0}


def test_wrong_magic(good: Path) -> None:
    good.write_bytes(b"PK\x03\x04" + good.read_bytes()[4:])
    expect(good, BadMagicError, "not an MGQE artifact")


def test_text_mode_transfer_breaks_magic(good: Path) -> None:
    good.write_bytes(good.read_bytes().replace(b"\r\n", b"\n", 1))
    expect(good, BadMagicError, "magic bytes")


@pytest.mark.parametrize(("version", "match"), [(2, "newer release"), (0, "supports version 1")])
def test_future_or_unknown_version(good: Path, version: int, match: str) -> None:
    raw = bytearray(good.read_bytes())
    struct.pack_into("<I", raw, 8, version)
    good.write_bytes(bytes(raw))
    expect(good, UnsupportedVersionError, f"format version {version}.*{match}")


@pytest.mark.parametrize("keep", [0, 7, 15])
def test_truncated_prefix(good: Path, keep: int) -> None:
    good.write_bytes(good.read_bytes()[:keep])
    expect(good, TruncatedFileError, "prefix")


@pytest.mark.parametrize("cut", [1, 100])
def test_truncated_data(good: Path, cut: int) -> None:
    good.write_bytes(good.read_bytes()[:-cut])
    expect(good, TruncatedFileError, "the header declares")


def test_trailing_bytes(good: Path) -> None:
    good.write_bytes(good.read_bytes() + b"\0")
    expect(good, TrailingDataError, "1 bytes after the last buffer")


def test_header_length_beyond_file(good: Path) -> None:
    raw = bytearray(good.read_bytes())
    struct.pack_into("<I", raw, 12, len(raw) + 48)
    good.write_bytes(bytes(raw))
    expect(good, HeaderSizeError, "past the end")


def test_header_length_over_limit(good: Path) -> None:
    raw = bytearray(good.read_bytes())
    struct.pack_into("<I", raw, 12, 0xFFFFFFFF)
    good.write_bytes(bytes(raw))
    expect(good, HeaderSizeError, f"over the limit of {MAX_HEADER_BYTES}")


def test_header_length_misaligns_data(good: Path) -> None:
    raw = good.read_bytes()
    _, _, hlen = PREFIX.unpack(raw[: PREFIX.size])
    # drop one byte of the header's space padding: still valid JSON, but the data now starts at 16 + hlen - 1
    good.write_bytes(
        PREFIX.pack(MAGIC, 1, hlen - 1)
        + raw[PREFIX.size : PREFIX.size + hlen - 1]
        + raw[PREFIX.size + hlen :]
    )
    expect(good, HeaderSizeError, "64-byte boundary")


def test_header_not_utf8(good: Path) -> None:
    _, data = split(good)
    good.write_bytes(join(b'{"a": "\xff\xfe"}', data))
    expect(good, HeaderDecodeError, "not UTF-8")


@pytest.mark.parametrize("text", [b"{", b"[" * 100_000, b"", b"nan"])
def test_header_not_json(good: Path, text: bytes) -> None:
    _, data = split(good)
    good.write_bytes(join(text, data))
    expect(good, HeaderDecodeError, "not valid JSON")


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda h: h.update(surprise=1), "surprise"),
        (lambda h: h.pop("spec"), "spec"),
        (lambda h: h.update(format_version=True), "format_version"),
        (lambda h: h.update(byte_order="big"), "byte_order"),
        (lambda h: h["buffers"][0].update(sha256="XYZ"), "sha256"),
        (lambda h: h["buffers"][0].update(shape=[2, -4]), "negative dimension"),
        (lambda h: h["buffers"][0].update(bits=12), "unpack to uint16"),
        (lambda h: h["buffers"][1].update(name=h["buffers"][0]["name"]), "duplicate buffer names"),
        (lambda h: h["spec"]["tables"]["item"]["groups"][0].update(K=3), "power of two"),
        (lambda h: h["spec"]["tables"].pop("user"), "needs tables"),
        (lambda h: h["metrics"].update(x="high"), "metrics"),
    ],
)
def test_header_schema_violation(good: Path, edit: Callable[[dict], None], match: str) -> None:
    expect(rewrite(good, edit), HeaderValidationError, match)


def test_header_version_disagrees_with_prefix(good: Path) -> None:
    expect(rewrite(good, lambda h: h.update(format_version=2)), HeaderValidationError, "prefix says 1")


def test_overlapping_offsets(good: Path) -> None:
    expect(rewrite(good, lambda h: h["buffers"][1].update(offset=0)), BufferLayoutError, "expected 64")


def test_gap_between_buffers(good: Path) -> None:
    def edit(h: dict) -> None:
        for b in h["buffers"][1:]:
            b["offset"] += ALIGN

    expect(rewrite(good, edit), BufferLayoutError, "next 64-byte boundary")


def test_offset_overflow(good: Path) -> None:
    expect(rewrite(good, lambda h: h["buffers"][2].update(offset=2**64 - 64)), BufferLayoutError, "expected")


def test_nonzero_alignment_padding(good: Path) -> None:
    header, data = split(good)
    first = header["buffers"][0]
    assert header["buffers"][1]["offset"] > first["nbytes"], "fixture needs padding after the first buffer"
    buf = bytearray(data)
    buf[first["nbytes"]] = 1
    good.write_bytes(join(header, bytes(buf)))
    expect_on_data(good, BufferLayoutError, "non-zero alignment padding")


def test_oversized_declared_shape(good: Path) -> None:
    # 10**12 x 4 codes would need terabytes: rejected from the header alone, nothing allocated
    expect(rewrite(good, lambda h: h["buffers"][0].update(shape=[10**12, 4])), BufferSizeError, "needs")


def test_oversized_shape_and_nbytes(good: Path) -> None:
    def edit(h: dict) -> None:
        b = h["buffers"][-1]  # a dense buffer: nbytes = 4 * prod(shape), consistent but far beyond the file
        b["shape"], b["nbytes"] = [10**9, 10**9], 4 * 10**18

    expect(rewrite(good, edit), TruncatedFileError, "the header declares")


def relayout(
    path: Path, edit: Callable[[list[dict]], list[dict]], data: Callable[[str, bytes], bytes] | None = None
) -> Path:
    """Edit the buffer list (and optionally buffer bytes), then lay the data section out again correctly, with
    fresh checksums, so that only the check under test can fail."""
    header, old = split(path)
    out = bytearray()
    buffers = edit(header["buffers"])
    for b in buffers:
        chunk = old[b["offset"] : b["offset"] + b["nbytes"]]
        if data:
            chunk = data(b["name"], chunk)
        out += b"\0" * (align_up(len(out)) - len(out))
        b["offset"], b["nbytes"], b["sha256"] = len(out), len(chunk), hashlib.sha256(chunk).hexdigest()
        out += chunk
    header["buffers"] = buffers
    path.write_bytes(join(header, bytes(out)))
    return path


def test_relayout_without_edit_is_valid(good: Path) -> None:
    before = read_artifact(good).arrays
    after = read_artifact(relayout(good, lambda bs: bs)).arrays
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_missing_buffer(good: Path) -> None:
    drop = lambda bs: [b for b in bs if b["name"] != "vocab.user"]  # noqa: E731
    expect(relayout(good, drop), MissingArrayError, "vocab.user")


def test_unexpected_buffer(good: Path) -> None:
    def add(bs: list[dict]) -> list[dict]:
        return [*bs, {**bs[-1], "name": "item.weight"}]

    expect(relayout(good, add), UnexpectedArrayError, "item.weight")


def test_buffer_shape_differs_from_spec(good: Path) -> None:
    def edit(bs: list[dict]) -> list[dict]:
        for b in bs:
            if b["name"] == "item.codes.g0":  # (2, 4) at 4 bits -> (1, 8): same bytes, wrong shape
                b["shape"] = [1, 8]
        return bs

    expect(relayout(good, edit), ArrayMismatchError, "item.codes.g0")


def test_dense_buffer_must_be_float32(good: Path) -> None:
    def edit(bs: list[dict]) -> list[dict]:
        bs[-1].update(dtype="int64", shape=[bs[-1]["nbytes"] // 8])
        return bs

    header, _ = split(good)
    assert header["buffers"][-1]["name"].startswith("dense.") and header["buffers"][-1]["nbytes"] % 8 == 0
    expect(relayout(good, edit), ArrayMismatchError, "must be float32")


def test_flipped_payload_bit(good: Path) -> None:
    header, data = split(good)
    b = header["buffers"][0]
    buf = bytearray(data)
    buf[b["offset"] + b["nbytes"] // 2] ^= 0x10
    good.write_bytes(join(header, bytes(buf)))
    expect_on_data(good, ChecksumError, b["name"].replace(".", r"\."))
    assert read_artifact(good, verify_checksums=False).arrays[b["name"]].shape == tuple(b["shape"])


def test_duplicate_vocabulary_ids(good: Path) -> None:
    def dup(name: str, chunk: bytes) -> bytes:
        return chunk[:8] * 2 + chunk[16:] if name == "vocab.item" else chunk

    expect_on_data(relayout(good, lambda bs: bs, dup), VocabularyError, "vocab.item")
