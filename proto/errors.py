"""Named errors of the artifact format. Every failure to write or read an artifact is one of these.

Catch `ArtifactError` to handle them all; each subclass names one kind of damage or misuse, and the message
says what exactly was wrong (which buffer, which offset, what was expected).
"""

from __future__ import annotations


class ArtifactError(Exception):
    """Base class: the artifact could not be written or read."""


class ArtifactIOError(ArtifactError):
    """The file could not be opened or read (missing, unreadable, a directory, ...)."""


class BadMagicError(ArtifactError):
    """The file does not start with the artifact magic bytes: not an MGQE artifact."""


class UnsupportedVersionError(ArtifactError):
    """The file's format version is not one this reader understands (e.g. written by a newer release)."""


class TruncatedFileError(ArtifactError):
    """The file ends before the data its prefix or header declares."""


class TrailingDataError(ArtifactError):
    """The file holds bytes after the last declared buffer."""


class HeaderSizeError(ArtifactError):
    """The declared header length is over the limit, past the end of the file, or misaligns the data."""


class HeaderDecodeError(ArtifactError):
    """The header bytes are not UTF-8 JSON."""


class HeaderValidationError(ArtifactError):
    """The header JSON does not match the header schema (or describes an invalid model spec)."""


class BufferLayoutError(ArtifactError):
    """Buffer offsets are not contiguous and aligned in header order, or alignment padding is not zero."""


class BufferSizeError(ArtifactError):
    """A buffer's declared nbytes does not match its declared shape, dtype and bit width."""


class MissingArrayError(ArtifactError):
    """An array the model spec requires is absent."""


class UnexpectedArrayError(ArtifactError):
    """An array is present that the model spec does not define (unknown name or table)."""


class ArrayMismatchError(ArtifactError):
    """An array's shape, dtype or bit width differs from what the model spec requires."""


class CodeRangeError(ArtifactError):
    """A code entry is negative or not below its group's K (or 2**bits for sq)."""


class VocabularyError(ArtifactError):
    """An id vocabulary repeats an external id, so the external -> internal mapping is ambiguous."""


class KnownItemsError(ArtifactError):
    """The users' known items (CSR `known.indptr` / `known.items`) are inconsistent: indptr does not start
    at 0, decreases or does not end at the number of items, or an item id lies outside [0, n_items)."""


class ChecksumError(ArtifactError):
    """A buffer's SHA-256 differs from the header: the payload was damaged."""


class MetadataError(ArtifactError):
    """Metrics or provenance given to the writer cannot be stored as standard JSON (NaN, objects)."""
