"""Fetch the official GroupLens MovieLens archives, verify their checksum, unpack into the data directory.

Checksums: sha256 and byte size as recorded for the same URLs in tensorflow/datasets
(`tensorflow_datasets/url_checksums/movielens.txt`), md5 as published by GroupLens beside each archive
(`ml-1m.zip.md5`, also quoted by several public loaders). Only the sha256 (and the size, when known) is
enforced; the md5 is kept for cross-checking by hand.
"""

from __future__ import annotations

import hashlib
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from mgqe.trainer.data.errors import ChecksumError, DataError, DataFormatError, UnknownDatasetError


@dataclass(frozen=True)
class Archive:
    """One downloadable archive: its URL, checksums, and the folder it unpacks to."""

    url: str
    sha256: str
    size: int | None
    md5: str
    folder: str          # top-level folder inside the zip, and the dataset folder under the data dir
    required: str        # a member that must be present (proves it is the right archive)


ARCHIVES: dict[str, Archive] = {
    "movielens-1m": Archive(
        url="https://files.grouplens.org/datasets/movielens/ml-1m.zip",
        sha256="a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
        size=5_917_549, md5="c4d9eecfca2ab87c1945afe126590906",
        folder="ml-1m", required="ratings.dat"),
    "movielens-100k": Archive(
        url="https://files.grouplens.org/datasets/movielens/ml-100k.zip",
        sha256="50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
        size=4_924_029, md5="0e33842e24a9c977be4e0107933c0723",
        folder="ml-100k", required="u.data"),
}

_CHUNK = 1 << 20


def _fetch(url: str, dest: Path, timeout: float) -> tuple[str, int]:
    """Stream `url` into `dest`; returns (sha256 hex, bytes)."""
    h = hashlib.sha256()
    n = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, dest.open("wb") as out:
            while chunk := resp.read(_CHUNK):
                h.update(chunk)
                out.write(chunk)
                n += len(chunk)
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise DataError(f"download of {url} failed: {e}; download it by hand and unzip it into the "
                        "data directory instead") from e
    return h.hexdigest(), n


def _safe_members(zf: zipfile.ZipFile, folder: str, required: str, source: str) -> list[zipfile.ZipInfo]:
    """Members under `folder/`, refusing absolute paths and '..' (no writes outside the target)."""
    members = []
    for info in zf.infolist():
        p = PurePosixPath(info.filename)
        if p.is_absolute() or ".." in p.parts or "\\" in info.filename:
            raise DataFormatError(f"{source}: unsafe path {info.filename!r} in archive")
        if p.parts and p.parts[0] == folder and not info.is_dir() and len(p.parts) > 1:
            members.append(info)
    names = {PurePosixPath(m.filename).relative_to(folder).as_posix() for m in members}
    if required not in names:
        raise DataFormatError(f"{source}: archive has no {folder}/{required}; is it the right file?")
    return members


def download_dataset(name: str, data_dir: str | Path, url: str | None = None, sha256: str | None = None,
                     force: bool = False, timeout: float = 60.0) -> list[Path]:
    """Download archive `name` (a key of ARCHIVES), verify it, unpack `<folder>/*` into data_dir/<folder>/.

    url/sha256 override the official values (a mirror; tests use a local server). Files already in the
    dataset folder are kept unless `force`. Returns the paths written. The archive itself is deleted.
    """
    if name not in ARCHIVES:
        raise UnknownDatasetError(f"unknown download {name!r}; choose one of {', '.join(ARCHIVES)}")
    arc = ARCHIVES[name]
    src = url or arc.url
    want = (sha256 or arc.sha256).lower()
    root = Path(data_dir).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    target = root / arc.folder
    with tempfile.TemporaryDirectory(prefix=f".{arc.folder}-", dir=root) as tmp:
        zpath = Path(tmp) / f"{arc.folder}.zip"
        got, n = _fetch(src, zpath, timeout)
        if got != want:
            raise ChecksumError(f"{src}: sha256 {got} does not match the expected {want}; "
                                "nothing was written")
        if url is None and arc.size is not None and n != arc.size:
            raise ChecksumError(f"{src}: {n} bytes, expected {arc.size}; nothing was written")
        try:
            zf = zipfile.ZipFile(zpath)
        except zipfile.BadZipFile as e:
            raise DataFormatError(f"{src}: not a zip archive ({e})") from e
        with zf:
            members = _safe_members(zf, arc.folder, arc.required, src)
            clashes = [m.filename for m in members if (root / m.filename).exists()]
            if clashes and not force:
                raise DataError(f"{target} already has {', '.join(clashes[:3])}"
                                f"{' ...' if len(clashes) > 3 else ''}; pass --force to overwrite")
            staged = Path(tmp) / "unpacked"
            zf.extractall(staged, members=members)
        written = []
        for m in members:
            rel = PurePosixPath(m.filename)
            dest = root.joinpath(*rel.parts)
            dest.parent.mkdir(parents=True, exist_ok=True)
            # a rename within the data dir: a reader never sees a half-written file
            (staged.joinpath(*rel.parts)).replace(dest)
            written.append(dest)
    return written
