"""Artifact store: versioned model artifacts on a plain filesystem, published and rolled back atomically.

Layout (specified in STORE.md next to this module):

    <store>/<model>/<version>/model.mgqe     the artifact (bytes copied verbatim from the exporter)
    <store>/<model>/<version>/info.json      {"version", "sha256", "bytes", "published_at"}
    <store>/<model>/CURRENT                  one line: the served version, e.g. "v3\\n"
    <store>/<model>/.lock                    advisory lock held by writers (publish, rollback, prune)
    <store>/<model>/.tmp-* .trash-*          in-flight or abandoned writer state; readers ignore dot names

Versions are `v1, v2, ...` (a new publish takes max + 1). A version directory only ever appears by rename of
a complete, fsynced temporary directory, and CURRENT only ever changes by rename of a complete, fsynced
temporary file, so a writer killed at any instant leaves every visible name valid. Readers take no lock:
they read CURRENT, then open `<version>/model.mgqe`. Retention never deletes the CURRENT version.

Readers (the server): `list_models`, `current_version`, `resolve_current`, `list_versions`.
Writers (the pipeline, `mgqe-artifact rollback`): `publish`, `rollback`, `set_current`, `prune`.
`check_store` returns every problem found (an empty list means the store is valid).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ARTIFACT_NAME = "model.mgqe"
INFO_NAME = "info.json"
CURRENT_NAME = "CURRENT"
LOCK_NAME = ".lock"
DEFAULT_KEEP = 5

_MODEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_VERSION_RE = re.compile(r"^v([1-9][0-9]{0,8})$")
_CHUNK = 1 << 20


class StoreError(Exception):
    """Base class of every store error; the message names the store path involved."""


class InvalidNameError(StoreError, ValueError):
    """A model or version name that does not match the allowed pattern."""


class ModelNotFoundError(StoreError):
    """The model directory does not exist in the store."""


class NoCurrentVersionError(StoreError):
    """The model exists but nothing has been made current yet (no CURRENT file)."""


class VersionNotFoundError(StoreError):
    """A version named by the caller or by CURRENT has no complete directory."""


class CorruptPointerError(StoreError):
    """CURRENT exists but does not hold a single valid version name."""


class NothingToRollBackError(StoreError):
    """Rollback without a target, and no version older than the current one is kept."""


@dataclass(frozen=True)
class VersionInfo:
    """One published version as listed by `list_versions`."""

    version: str
    path: Path  # the model.mgqe file
    sha256: str | None  # None when info.json is missing or unreadable
    bytes: int
    published_at: float | None  # unix time
    current: bool


# ---- names ---------------------------------------------------------------------------------------


def check_model_name(model: str) -> str:
    """Return `model` if it is a valid model name (letters, digits, `_.-`, max 64, no leading dot)."""
    if not isinstance(model, str) or not _MODEL_RE.match(model):
        raise InvalidNameError(
            f"invalid model name {model!r}: "
            "use 1-64 letters, digits, '_', '.', '-', starting with a letter or digit"
        )
    return model


def check_version_name(version: str) -> str:
    """Return `version` if it is a valid version name (`v1`, `v2`, ...)."""
    if not isinstance(version, str) or not _VERSION_RE.match(version):
        raise InvalidNameError(f"invalid version name {version!r}: versions are named v1, v2, ...")
    return version


def version_number(version: str) -> int:
    """`v12` -> 12."""
    m = _VERSION_RE.match(check_version_name(version))
    assert m is not None
    return int(m.group(1))


# ---- low-level durable file operations ---------------------------------------------------------------


def _fsync_dir(path: Path) -> None:
    # A rename is only durable once the directory holding the new name is fsynced.
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_durable(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _copy_durable(src: Path, dst: Path) -> tuple[str, int]:
    """Copy src -> dst, fsync dst; return (sha256 hex, byte count)."""
    h = hashlib.sha256()
    n = 0
    with open(src, "rb") as fi, open(dst, "wb") as fo:
        while chunk := fi.read(_CHUNK):
            h.update(chunk)
            fo.write(chunk)
            n += len(chunk)
        fo.flush()
        os.fsync(fo.fileno())
    return h.hexdigest(), n


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _remove_tree(path: Path) -> None:
    """Remove a directory so that readers never see it half-deleted: rename to a dot name, then delete."""
    trash = path.parent / f".trash-{path.name}-{secrets.token_hex(4)}"
    os.rename(path, trash)
    shutil.rmtree(trash, ignore_errors=True)


@contextlib.contextmanager
def _locked(model_dir: Path) -> Iterator[None]:
    # flock is released by the kernel when the holder dies, so a killed writer never blocks the next one.
    fd = os.open(model_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _clean_stale(model_dir: Path) -> None:
    """Remove leftovers of killed writers. Only called under the lock, when no other writer is active."""
    for p in model_dir.iterdir():
        if p.name.startswith((".tmp-", ".trash-", ".CURRENT.tmp-")):
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()


# ---- readers ---------------------------------------------------------------------------------------


def model_dir(store: Path | str, model: str) -> Path:
    return Path(store) / check_model_name(model)


def list_models(store: Path | str) -> list[str]:
    """Models in the store that have a CURRENT version, sorted. A missing store is an empty store."""
    root = Path(store)
    if not root.is_dir():
        return []
    out = []
    for p in sorted(root.iterdir()):
        if _MODEL_RE.match(p.name) and (p / CURRENT_NAME).is_file():
            out.append(p.name)
    return out


def current_version(store: Path | str, model: str) -> str | None:
    """The version CURRENT names, or None when the model has no CURRENT yet (not published, or no model dir).

    Cheap enough to poll: one small read. Raises CorruptPointerError when CURRENT holds anything but a
    version name.
    """
    ptr = model_dir(store, model) / CURRENT_NAME
    try:
        raw = ptr.read_bytes()
    except FileNotFoundError:
        return None
    text = raw.decode("utf-8", errors="replace").strip()
    if not _VERSION_RE.match(text):
        raise CorruptPointerError(f"{ptr}: expected one version name like 'v3', found {raw[:40]!r}")
    return text


def resolve_current(store: Path | str, model: str) -> Path:
    """Path of the current artifact file `<store>/<model>/<version>/model.mgqe`.

    Raises ModelNotFoundError, NoCurrentVersionError, CorruptPointerError or VersionNotFoundError. A reader
    that then fails to open the file (it was pruned in between) should simply call this again.
    """
    mdir = model_dir(store, model)
    if not mdir.is_dir():
        raise ModelNotFoundError(f"no model {model!r} in store {store}")
    version = current_version(store, model)
    if version is None:
        raise NoCurrentVersionError(f"model {model!r} in store {store} has no CURRENT version yet")
    path = mdir / version / ARTIFACT_NAME
    if not path.is_file():
        raise VersionNotFoundError(f"{mdir / CURRENT_NAME} names {version}, but {path} does not exist")
    return path


def version_path(store: Path | str, model: str, version: str) -> Path:
    """Path of `<store>/<model>/<version>/model.mgqe`; raises VersionNotFoundError when it is not there."""
    path = model_dir(store, model) / check_version_name(version) / ARTIFACT_NAME
    if not path.is_file():
        raise VersionNotFoundError(
            f"model {model!r} has no version {version} in store {store} ({path} missing)"
        )
    return path


def _versions(mdir: Path) -> list[str]:
    if not mdir.is_dir():
        return []
    found = [p.name for p in mdir.iterdir() if _VERSION_RE.match(p.name) and (p / ARTIFACT_NAME).is_file()]
    return sorted(found, key=version_number)


def list_versions(store: Path | str, model: str) -> list[VersionInfo]:
    """Complete versions of `model`, oldest first. Raises ModelNotFoundError when the model dir is missing."""
    mdir = model_dir(store, model)
    if not mdir.is_dir():
        raise ModelNotFoundError(f"no model {model!r} in store {store}")
    try:
        cur = current_version(store, model)
    except CorruptPointerError:
        cur = None
    out = []
    for v in _versions(mdir):
        art = mdir / v / ARTIFACT_NAME
        sha, published = None, None
        with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
            info = json.loads((mdir / v / INFO_NAME).read_text())
            sha, published = str(info["sha256"]), float(info["published_at"])
        try:
            size = art.stat().st_size
        except FileNotFoundError:  # pruned while listing
            continue
        out.append(VersionInfo(v, art, sha, size, published, v == cur))
    return out


# ---- writers ---------------------------------------------------------------------------------------


def _default_validate(path: Path) -> None:
    # Imported here so the store itself has no hard dependency on the artifact module's import cost.
    from mgqe.proto.artifact import read_header

    read_header(path)


def _write_current(mdir: Path, version: str) -> None:
    tmp = mdir / f".CURRENT.tmp-{secrets.token_hex(6)}"
    _write_durable(tmp, f"{version}\n".encode())
    os.replace(tmp, mdir / CURRENT_NAME)
    _fsync_dir(mdir)


def publish(
    store: Path | str,
    model: str,
    artifact: Path | str,
    *,
    keep: int = DEFAULT_KEEP,
    make_current: bool = True,
    validate: Callable[[Path], None] | None = _default_validate,
) -> str:
    """Copy `artifact` in as the next version of `model`, make it CURRENT, prune; return the version.

    Steps (each visible name is complete before it appears):
      1. take the model's writer lock; remove leftovers of killed writers
      2. copy the file into `.tmp-<rand>/model.mgqe` (+ info.json), fsync both, fsync the temp directory
      3. rename the temp directory to `v<max+1>`, fsync the model directory
      4. write `.CURRENT.tmp-<rand>`, fsync, rename over CURRENT, fsync the model directory
      5. retention: keep the newest `keep` versions and always the CURRENT one

    `validate(path)` runs on the source file first (default: read its artifact header), so an unreadable file
    is never published. `keep` >= 1.
    """
    src = Path(artifact)
    if keep < 1:
        raise ValueError(f"keep must be >= 1, got {keep}")
    if not src.is_file():
        raise FileNotFoundError(f"artifact to publish not found: {src}")
    if validate is not None:
        validate(src)
    root = Path(store)
    mdir = model_dir(root, model)
    if not root.is_dir():
        root.mkdir(parents=True, exist_ok=True)
    if not mdir.is_dir():
        mdir.mkdir(exist_ok=True)
        _fsync_dir(root)
    with _locked(mdir):
        _clean_stale(mdir)
        existing = _versions(mdir)
        # also count incomplete vN dirs (should not exist) so a number is never reused
        taken = [int(m.group(1)) for p in mdir.iterdir() if (m := _VERSION_RE.match(p.name))]
        version = f"v{max([0, *taken]) + 1}"
        tmp = mdir / f".tmp-{version}-{secrets.token_hex(6)}"
        tmp.mkdir()
        sha, size = _copy_durable(src, tmp / ARTIFACT_NAME)
        info = {"version": version, "sha256": sha, "bytes": size, "published_at": time.time()}
        _write_durable(tmp / INFO_NAME, json.dumps(info, indent=1).encode())
        _fsync_dir(tmp)
        try:
            os.rename(tmp, mdir / version)
        except OSError as e:  # only possible if someone bypassed the lock
            if e.errno in (errno.EEXIST, errno.ENOTEMPTY):
                raise StoreError(
                    f"{mdir / version} appeared during publish; another writer ignored the lock"
                ) from e
            raise
        _fsync_dir(mdir)
        if make_current:
            _write_current(mdir, version)
        _prune_locked(mdir, keep, [*existing, version])
    return version


def set_current(store: Path | str, model: str, version: str) -> None:
    """Point CURRENT at an existing complete `version` (atomic rename)."""
    mdir = model_dir(store, model)
    if not mdir.is_dir():
        raise ModelNotFoundError(f"no model {model!r} in store {store}")
    with _locked(mdir):
        version_path(store, model, version)
        _write_current(mdir, version)


def rollback(store: Path | str, model: str, version: str | None = None) -> tuple[str | None, str]:
    """Move CURRENT back; return (previous current, new current).

    With `version`, point at that version (any kept version, also a newer one: this is how to roll forward).
    Without, point at the newest kept version older than the current one (NothingToRollBackError when
    there is none).
    """
    mdir = model_dir(store, model)
    if not mdir.is_dir():
        raise ModelNotFoundError(f"no model {model!r} in store {store}")
    with _locked(mdir):
        try:
            cur = current_version(store, model)
        except CorruptPointerError:
            cur = None  # a broken pointer is exactly what an explicit rollback repairs
        if version is None:
            if cur is None:
                raise NoCurrentVersionError(
                    f"model {model!r} has no CURRENT version; name the version to roll back to"
                )
            older = [v for v in _versions(mdir) if version_number(v) < version_number(cur)]
            if not older:
                raise NothingToRollBackError(
                    f"model {model!r}: no kept version older than the current {cur} "
                    f"(kept: {', '.join(_versions(mdir)) or 'none'})"
                )
            target = older[-1]
        else:
            target = check_version_name(version)
            version_path(store, model, target)
        _write_current(mdir, target)
    return cur, target


def _prune_locked(mdir: Path, keep: int, versions: list[str]) -> list[str]:
    try:
        cur = current_version(mdir.parent, mdir.name)
    except CorruptPointerError:
        return []  # never delete anything while the pointer cannot be trusted
    ordered = sorted(set(versions), key=version_number)
    doomed = [v for v in ordered[: max(0, len(ordered) - keep)] if v != cur]
    for v in doomed:
        _remove_tree(mdir / v)
    if doomed:
        _fsync_dir(mdir)
    return doomed


def prune(store: Path | str, model: str, keep: int = DEFAULT_KEEP) -> list[str]:
    """Delete all but the newest `keep` versions, never the CURRENT one; return the deleted versions."""
    if keep < 1:
        raise ValueError(f"keep must be >= 1, got {keep}")
    mdir = model_dir(store, model)
    if not mdir.is_dir():
        raise ModelNotFoundError(f"no model {model!r} in store {store}")
    with _locked(mdir):
        _clean_stale(mdir)
        return _prune_locked(mdir, keep, _versions(mdir))


# ---- consistency check ---------------------------------------------------------------------------------


def check_store(store: Path | str, *, verify_hash: bool = True) -> list[str]:
    """Every problem in the store as a message; [] when valid.

    Valid means: every model with a CURRENT names a complete version; every visible `v*` directory holds
    model.mgqe and an info.json whose byte count (and, with verify_hash, sha256) matches. Dot names are
    writer state and are not problems.
    """
    root = Path(store)
    problems: list[str] = []
    if not root.is_dir():
        return problems
    for mdir in sorted(root.iterdir()):
        if mdir.name.startswith(".") or not mdir.is_dir():
            continue
        if not _MODEL_RE.match(mdir.name):
            problems.append(f"{mdir}: not a valid model name")
            continue
        try:
            cur = current_version(root, mdir.name)
            if cur is not None and not (mdir / cur / ARTIFACT_NAME).is_file():
                problems.append(f"{mdir / CURRENT_NAME} names {cur}, which is not a complete version")
        except CorruptPointerError as e:
            problems.append(str(e))
        for p in sorted(mdir.iterdir()):
            if p.name.startswith(".") or p.name == CURRENT_NAME:
                continue
            if not _VERSION_RE.match(p.name) or not p.is_dir():
                problems.append(f"{p}: unexpected entry")
                continue
            art, info_p = p / ARTIFACT_NAME, p / INFO_NAME
            if not art.is_file() or not info_p.is_file():
                problems.append(f"{p}: incomplete version (missing {ARTIFACT_NAME} or {INFO_NAME})")
                continue
            try:
                info = json.loads(info_p.read_text())
                want_size, want_sha = int(info["bytes"]), str(info["sha256"])
            except (ValueError, KeyError, TypeError) as e:
                problems.append(f"{info_p}: unreadable ({e})")
                continue
            if art.stat().st_size != want_size:
                problems.append(f"{art}: {art.stat().st_size} bytes, info.json says {want_size}")
            elif verify_hash and sha256_file(art) != want_sha:
                problems.append(f"{art}: sha256 differs from info.json")
    return problems
