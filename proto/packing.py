"""Variable-width bit packing of integer code matrices (1..16 bits per entry).

Bit order (the artifact format depends on it, see ARTIFACT.md): the (n, D) code matrix is taken in row-major
order; entry k occupies stream bits [k * bits, (k + 1) * bits), least significant bit of the code
first; stream bit j is bit (j % 8) of byte j // 8, counting from the byte's least significant bit. This is an
LSB-first ("little-endian") bitstream, the same order as `np.packbits(..., bitorder="little")` and
`bitarray(endian="little")`. The last byte is padded with zero bits, so a buffer holds exactly
ceil(n * D * bits / 8) bytes.

Both directions are vectorised numpy. Unpacking uses the stream's period: 8 consecutive codes always fill
exactly `bits` whole bytes, so each of the 8 positions within such a block has a fixed byte offset and shift,
and the whole matrix decodes in 8 strided column operations instead of one operation per code.
"""

from __future__ import annotations

import numpy as np

MIN_BITS = 1
MAX_BITS = 16
# Codes packed per chunk by pack_codes; bounds the (chunk, bits) uint8 scratch array to ~16 MiB. Multiple of 8
# so every chunk ends on a byte boundary.
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
    flat = flat.astype(np.uint16)
    shifts = np.arange(bits, dtype=np.uint16)
    parts = []
    for s in range(0, flat.size, _PACK_CHUNK):
        chunk = flat[s : s + _PACK_CHUNK]
        bitmat = ((chunk[:, None] >> shifts) & 1).astype(np.uint8)  # (chunk, bits), LSB first
        parts.append(np.packbits(bitmat.reshape(-1), bitorder="little").tobytes())
    return b"".join(parts)


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
    # Pad to whole 8-code blocks plus 2 spare bytes so the 3-byte window of the last position stays in bounds.
    padded = np.zeros(blocks * bits + 2, dtype=np.uint8)
    padded[: raw.size] = raw
    out = np.empty((blocks, 8), dtype=dtype)
    mask = (1 << bits) - 1
    for j in range(8):
        byte, shift = divmod(j * bits, 8)
        # Strided views: position j of every block starts at the same byte offset within the block.
        b0 = padded[byte : byte + blocks * bits : bits]
        if shift + bits <= 8:
            out[:, j] = (b0 >> shift) & mask
            continue
        b1 = padded[byte + 1 : byte + 1 + blocks * bits : bits]
        word = b0.astype(np.uint32) | (b1.astype(np.uint32) << 8)
        if shift + bits > 16:
            b2 = padded[byte + 2 : byte + 2 + blocks * bits : bits]
            word |= b2.astype(np.uint32) << 16
        out[:, j] = (word >> shift) & mask
    return out.reshape(-1)[:count].reshape(n, D)
