"""Variable-width bit packing of integer code matrices (1..16 bits per entry).

Bit order (the artifact format depends on it, see ARTIFACT.md): the (n, D) code matrix is taken in row-major
order; entry k occupies stream bits [k * bits, (k + 1) * bits), least significant bit of the code
first; stream bit j is bit (j % 8) of byte j // 8, counting from the byte's least significant bit. This is an
LSB-first ("little-endian") bitstream, the same order as `np.packbits(..., bitorder="little")` and
`bitarray(endian="little")`. The last byte is padded with zero bits, so a buffer holds exactly
ceil(n * D * bits / 8) bytes.

Both directions are vectorised numpy and use the stream's period: 8 consecutive codes always fill exactly
`bits` whole bytes, so each of the 8 positions within such a block has a fixed bit offset, and the whole
matrix is processed in 8 column operations instead of one operation per code.
"""

from __future__ import annotations

import numpy as np

MIN_BITS = 1
MAX_BITS = 16
# 8-code blocks packed per chunk by pack_codes: bounds its scratch arrays to ~80 MiB.
_PACK_CHUNK = 1 << 20


def packed_nbytes(count: int, bits: int) -> int:
    """Bytes of a packed stream of `count` codes at `bits` bits each (last byte zero-padded)."""
    return (count * bits + 7) // 8


def code_dtype(bits: int) -> np.dtype:
    """The unpacked dtype for a width: uint8 up to 8 bits, uint16 up to 16."""
    _check_bits(bits)
    return np.dtype(np.uint8) if bits <= 8 else np.dtype(np.uint16)


def _check_bits(bits: int) -> None:
    if isinstance(bits, bool) or not isinstance(bits, int | np.integer) or not MIN_BITS <= bits <= MAX_BITS:
        raise ValueError(f"bits must be an integer in [{MIN_BITS}, {MAX_BITS}], got {bits!r}")


def pack_codes(codes: np.ndarray, bits: int) -> bytes:
    """Pack an integer code array (any shape, usually (n, D)) into an LSB-first bitstream.

    codes: integer array with every entry in [0, 2**bits). Returns ceil(codes.size * bits / 8) bytes.
    Raises ValueError for a non-integer array or an entry that does not fit in `bits` bits.
    """
    _check_bits(bits)
    arr = np.asarray(codes)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"codes must be an integer array, got dtype {arr.dtype}")
    flat = arr.reshape(-1)
    if flat.size and (int(flat.min()) < 0 or int(flat.max()) >= (1 << bits)):
        raise ValueError(
            f"codes must lie in [0, {1 << bits}) for {bits} bits, got [{flat.min()}, {flat.max()}]"
        )
    if bits == 8:
        return flat.astype(np.uint8).tobytes()
    if bits == 16:
        return flat.astype("<u2").tobytes()
    # 8 codes fill exactly `bits` bytes (<= 16): OR each of the 8 positions into a 128-bit little-endian
    # accumulator per block, then keep its first `bits` bytes. Chunked to bound the uint64 scratch arrays.
    blocks = -(-flat.size // 8)
    out = np.empty((blocks, bits), dtype=np.uint8)
    for s in range(0, blocks, _PACK_CHUNK):
        e = min(blocks, s + _PACK_CHUNK)
        c = np.zeros((e - s) * 8, dtype=np.uint64)
        src = flat[s * 8 : e * 8]
        c[: src.size] = src
        c8 = c.reshape(-1, 8)  # (blocks in chunk, 8) uint64
        acc = np.zeros((e - s, 2), dtype="<u8")
        for j in range(8):
            word, shift = divmod(j * bits, 64)
            acc[:, word] |= c8[:, j] << np.uint64(shift)
            if shift + bits > 64:  # the code straddles the two 64-bit words
                acc[:, word + 1] |= c8[:, j] >> np.uint64(64 - shift)
        out[s:e] = acc.view(np.uint8).reshape(e - s, 16)[:, :bits]
    return out.reshape(-1)[: packed_nbytes(flat.size, bits)].tobytes()


def unpack_codes(buf: bytes | bytearray | memoryview | np.ndarray, n: int, D: int, bits: int) -> np.ndarray:
    """Unpack a bitstream written by `pack_codes` into an (n, D) code matrix.

    buf must hold exactly ceil(n * D * bits / 8) bytes. Returns (n, D) uint8 (bits <= 8) or uint16 (bits > 8).
    Raises ValueError on a wrong buffer length.
    """
    _check_bits(bits)
    if n < 0 or D < 0:
        raise ValueError(f"negative shape ({n}, {D})")
    count = n * D
    raw = np.frombuffer(buf, dtype=np.uint8) if not isinstance(buf, np.ndarray) else buf.reshape(-1)
    if raw.dtype != np.uint8:
        raise ValueError(f"buffer array must be uint8, got {raw.dtype}")
    want = packed_nbytes(count, bits)
    if raw.size != want:
        raise ValueError(f"{n}x{D} codes at {bits} bits need {want} bytes, buffer has {raw.size}")
    dtype = code_dtype(bits)
    if bits == 8:
        return raw.copy().reshape(n, D)
    if bits == 16:
        return raw.view("<u2").astype(np.uint16).reshape(n, D)
    blocks = -(-count // 8)
    if count == 0:
        return np.empty((n, D), dtype=dtype)
    # Pad to whole 8-code blocks + 4 bytes, so the 4-byte word read for the last position stays in bounds.
    padded = np.zeros(blocks * bits + 4, dtype=np.uint8)
    padded[: raw.size] = raw
    out = np.empty((blocks, 8), dtype=dtype)
    mask = (1 << bits) - 1
    for j in range(8):
        byte, shift = divmod(j * bits, 8)
        # Position j of every block starts at the same byte offset within the block, so one strided (possibly
        # unaligned) little-endian view of 1, 2 or 4 bytes reads it for all blocks at once.
        if shift + bits <= 8:
            word = padded[byte : byte + blocks * bits : bits]
        else:
            wide = "<u2" if shift + bits <= 16 else "<u4"
            word = np.ndarray((blocks,), dtype=wide, buffer=padded, offset=byte, strides=(bits,))
        out[:, j] = (word >> shift) & mask
    return out.reshape(-1)[:count].reshape(n, D)
