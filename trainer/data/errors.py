"""Named errors of the data pipeline: every bad file, flag or missing dataset raises one of these."""

from __future__ import annotations


class DataError(Exception):
    """Base class: a data problem the user can fix (printed as one line by the CLI)."""


class DataDirError(DataError):
    """No data directory was given, or the given one does not exist."""


class DatasetNotFoundError(DataError):
    """A dataset's files are not where they were looked for."""


class UnknownDatasetError(DataError):
    """A dataset name that is not one of DATASETS (or not downloadable)."""


class DataFormatError(DataError):
    """A data file exists but does not parse as the expected format."""


class NoInteractionsError(DataFormatError, ValueError):
    """A data file parsed but holds no interactions (e.g. an empty ratings file)."""


class ChecksumError(DataError):
    """A downloaded archive does not have the expected sha256."""
