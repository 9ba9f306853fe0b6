"""The registry of served models, with hot reload.

Each model name maps to an immutable LoadedModel. Reload = load and validate the new version in a worker
thread, then replace the mapping with a new dict in one assignment: a request holds the LoadedModel it looked
up for its whole life, so in-flight requests finish on the old version, and a version that fails to load is
logged and counted while the old one keeps serving. A failed version is not retried until the pointer
changes again (or a forced admin reload), so a broken publish does not load in a loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
from dataclasses import dataclass
from pathlib import Path

from mgqe.proto.api import ReloadOutcome
from mgqe.proto.errors import ArtifactIOError
from mgqe.proto.store import StoreError, current_version, list_models, version_path
from mgqe.server.metrics import Metrics, log_event
from mgqe.server.models import LoadedModel, load_model
from mgqe.server.settings import Settings


def release_memory() -> None:
    """Collect garbage, then hand freed heap pages back to the OS. glibc keeps the freed arrays of a
    replaced version in its arenas (RSS grew by ~2.5 versions over ten swaps in bench/bench_reload_load.py);
    malloc_trim returns them. A no-op where the C library has no malloc_trim."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


M_MMAP_THRESHOLD = -3  # glibc mallopt parameter
MMAP_THRESHOLD_BYTES = 8 << 20


def pin_mmap_threshold() -> None:
    """Serve allocations of >= 8 MiB (model arrays, artifact read buffers) from their own mmap, so freeing a
    replaced or failed version returns its memory to the OS at once. glibc otherwise raises the threshold
    after the first such free and later arrays land in the heap: after a failed load ~1 version stayed
    resident even after malloc_trim. Request-sized temporaries stay below 8 MiB. A no-op off glibc."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)


@dataclass(frozen=True)
class Source:
    """Where a model's current version comes from: a store pointer or a single file (version = its mtime)."""

    name: str
    store: Path | None = None
    file: Path | None = None

    def current(self) -> tuple[str, Path] | None:
        """(version, artifact path) of what should be served now, or None when nothing is published."""
        if self.file is not None:
            st = self.file.stat()
            return f"file-{st.st_mtime_ns}-{st.st_size}", self.file
        assert self.store is not None
        version = current_version(self.store, self.name)
        return (
            None
            if version is None
            else (version, version_path(self.store, self.name, version))
        )


class Registry:
    def __init__(self, settings: Settings, metrics: Metrics, log: logging.Logger) -> None:
        self.settings, self.metrics, self.log = settings, metrics, log
        self.models: dict[str, LoadedModel] = {}
        self._failed: dict[str, str] = {}  # model -> version that failed to load
        self._lock = asyncio.Lock()
        self._trims = 0  # release_memory() calls still due after a load attempt (now, and the next refresh)
        pin_mmap_threshold()
        if settings.artifact is not None:
            self.configured = [settings.model_name]
        else:
            assert settings.store is not None
            self.configured = list(settings.models) or list_models(settings.store)

    def get(self, name: str) -> LoadedModel | None:
        return self.models.get(name)

    @property
    def ready(self) -> bool:
        return all(m in self.models for m in self.configured)

    def _sources(self) -> list[Source]:
        s = self.settings
        if s.artifact is not None:
            return [Source(s.model_name, file=s.artifact)]
        assert s.store is not None
        names = list(s.models) or sorted(set(self.configured) | set(list_models(s.store)))
        return [Source(n, store=s.store) for n in names]

    async def refresh(self, force: bool = False) -> dict[str, ReloadOutcome]:
        """Load every model whose current version differs from the one served. force: also retry failures."""
        async with self._lock:
            results = {src.name: await self._refresh_one(src, force) for src in self._sources()}
            if self._trims:
                # once right after the swap, once on the next refresh (requests still holding the old
                # version when the first ran have ended by then)
                self._trims -= 1
                await asyncio.to_thread(release_memory)
            return results

    async def _refresh_one(self, src: Source, force: bool) -> ReloadOutcome:
        old = self.models.get(src.name)
        try:
            cur = src.current()
        except (OSError, StoreError) as e:
            return self._failure(src.name, None, f"cannot read the current version: {e}")
        if cur is None:
            return ReloadOutcome(status="missing", version=None, error="no version published")
        version, path = cur
        if old is not None and old.version == version:
            return ReloadOutcome(status="unchanged", version=version)
        if not force and self._failed.get(src.name) == version:
            return ReloadOutcome(
                status="failed",
                version=old.version if old else None,
                error=f"version {version} failed to load before",
            )
        self._trims = 2  # a load attempt allocates, whether it succeeds or not
        try:
            model = await asyncio.to_thread(load_model, src.name, version, path)
        except Exception as e:  # any failure must leave the old version serving
            if not isinstance(e, ArtifactIOError):  # a pruned or vanished file is retried on the next poll
                self._failed[src.name] = version
            return self._failure(src.name, version, f"{type(e).__name__}: {e}", old)
        self.models = {**self.models, src.name: model}  # one assignment: the atomic swap
        self._failed.pop(src.name, None)
        self.metrics.reloads.labels(src.name, "loaded").inc()
        self.metrics.set_version(src.name, old.version if old else None, version, model.resident_bytes)
        log_event(
            self.log,
            logging.INFO,
            "model_loaded",
            model=src.name,
            version=version,
            previous=old.version if old else None,
            resident_bytes=model.resident_bytes,
            path=str(path),
        )
        return ReloadOutcome(status="loaded", version=version)

    def _failure(
        self, name: str, version: str | None, error: str, old: LoadedModel | None = None
    ) -> ReloadOutcome:
        self.metrics.reloads.labels(name, "failed").inc()
        log_event(
            self.log,
            logging.ERROR,
            "model_load_failed",
            model=name,
            version=version,
            error=error,
            serving=old.version if old else None,
        )
        return ReloadOutcome(status="failed", version=old.version if old else None, error=error)

    async def watch(self) -> None:
        """Initial load, then poll every reload_interval_s (when > 0) until cancelled."""
        await self.refresh()
        interval = self.settings.reload_interval_s
        while interval > 0:
            await asyncio.sleep(interval)
            try:
                await self.refresh()
            except Exception as e:  # the watcher must survive anything a store can do
                log_event(self.log, logging.ERROR, "watch_failed", error=f"{type(e).__name__}: {e}")
