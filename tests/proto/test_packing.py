"""Bit packing: identity at every width 1..16, byte-exact agreement with an independent bitarray encoder."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from bitarray import bitarray
from bitarray.util import int2ba
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import mgqe.proto
from mgqe.proto import packing
from mgqe.proto.packing import code_dtype, pack_codes, packed_nbytes, unpack_codes


def reference_pack(codes: np.ndarray, bits: int) -> bytes:
    """The documented bit order, spelled out with bitarray: each code LSB first, bytes LSB first."""
    out = bitarray(endian="little")
    for v in codes.reshape(-1).tolist():
        out.extend(int2ba(v, length=bits, endian="little"))
    out.fill()
    return out.tobytes()


@st.composite
def code_matrices(draw: st.DrawFn, bits: int) -> np.ndarray:
    n = draw(st.integers(0, 12))
    D = draw(st.integers(1, 9))
    return draw(arrays(np.int64, (n, D), elements=st.integers(0, (1 << bits) - 1)))


@pytest.mark.parametrize("bits", range(1, 17))
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_pack_unpack_identity_and_reference_bytes(bits: int, data: st.DataObject) -> None:
    codes = data.draw(code_matrices(bits))
    n, D = codes.shape
    buf = pack_codes(codes, bits)
    assert len(buf) == packed_nbytes(n * D, bits) == (n * D * bits + 7) // 8
    assert buf == reference_pack(codes, bits)
    out = unpack_codes(buf, n, D, bits)
    assert out.dtype == code_dtype(bits) == (np.uint8 if bits <= 8 else np.uint16)
    assert out.shape == (n, D)
    np.testing.assert_array_equal(out, codes)


@pytest.mark.parametrize("bits", [3, 7, 8, 11, 16])
def test_stream_is_seamless_across_pack_chunks(bits: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(packing, "_PACK_CHUNK", 3)  # 3 blocks of 8 codes per chunk: many chunk boundaries
    codes = np.random.default_rng(bits).integers(0, 1 << bits, size=(13, 7))  # 91 codes, a partial last block
    buf = pack_codes(codes, bits)
    assert buf == reference_pack(codes, bits)
    np.testing.assert_array_equal(unpack_codes(buf, 13, 7, bits), codes)


def test_large_matrix_round_trip() -> None:
    n, D = 100_003, 16  # 1.6M codes, odd tail
    codes = np.random.default_rng(0).integers(0, 1 << 13, size=(n, D))
    np.testing.assert_array_equal(unpack_codes(pack_codes(codes, 13), n, D, 13), codes)


def test_unpack_accepts_memoryview_and_uint8_array() -> None:
    codes = np.arange(30).reshape(5, 6) % 32
    buf = pack_codes(codes, 5)
    np.testing.assert_array_equal(unpack_codes(memoryview(buf), 5, 6, 5), codes)
    np.testing.assert_array_equal(unpack_codes(np.frombuffer(buf, np.uint8), 5, 6, 5), codes)


@pytest.mark.parametrize("bits", [0, 17, -1, True, 2.0])
def test_bad_width_rejected(bits: object) -> None:
    with pytest.raises(ValueError, match="bits must be an integer"):
        pack_codes(np.zeros((1, 1), np.int64), bits)  # type: ignore[arg-type]


def test_code_too_wide_rejected() -> None:
    with pytest.raises(ValueError, match=r"\[0, 8\) for 3 bits"):
        pack_codes(np.array([[1, 8]]), 3)
    with pytest.raises(ValueError, match="lie in"):
        pack_codes(np.array([[-1]]), 3)


def test_non_integer_codes_rejected() -> None:
    with pytest.raises(ValueError, match="integer array"):
        pack_codes(np.array([[0.0]]), 3)


def test_wrong_buffer_length_rejected() -> None:
    buf = pack_codes(np.ones((3, 3), np.int64), 3)  # 27 bits -> 4 bytes
    with pytest.raises(ValueError, match="need 4 bytes, buffer has 5"):
        unpack_codes(buf + b"\0", 3, 3, 3)
    with pytest.raises(ValueError, match="need 4 bytes, buffer has 3"):
        unpack_codes(buf[:3], 3, 3, 3)


def test_bit_order_example_in_artifact_md() -> None:
    """The worked example of proto/ARTIFACT.md agrees with the code."""
    doc = (Path(mgqe.proto.__file__).with_name("ARTIFACT.md")).read_text()
    m = re.search(
        r"codes `\[([\d, ]+)\]` at (\d+) bits → stream bits `([01 ]+)`.*?→ bytes `([0-9A-Fx ]+)`", doc, re.S
    )
    assert m, "bit-order example not found in ARTIFACT.md"
    codes = np.array([int(x) for x in m.group(1).split(",")])
    bits = int(m.group(2))
    stream = "".join(format(int(c), f"0{bits}b")[::-1] for c in codes)
    assert stream == m.group(3).replace(" ", "")
    assert pack_codes(codes, bits) == bytes(int(x, 16) for x in m.group(4).split())
