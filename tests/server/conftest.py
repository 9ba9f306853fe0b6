"""Fixtures of the server tests: artifacts of every model type and started TestClients."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from artifact_factory import HPARAMS, write_model


@pytest.fixture(scope="session")
def store(artifacts: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with one published version of each model type, named after the type."""
    from mgqe.proto.store import publish

    root = tmp_path_factory.mktemp("store")
    for name, path in artifacts.items():
        publish(root, name, path)
    return root


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One artifact per model type (mgqe tables), ml-100k sized."""
    root = tmp_path_factory.mktemp("artifacts")
    return {m: write_model(root / f"{m}.mgqe", m) for m in HPARAMS}


def wait_ready(client: TestClient, timeout: float = 20.0) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if client.get("/v1/health/ready").status_code == 200:
            return
        time.sleep(0.02)
    raise AssertionError(f"server not ready after {timeout}s: {client.get('/v1/health/ready').json()}")


def _client_factory() -> Iterator[Callable[..., TestClient]]:
    from mgqe.server.app import create_app
    from mgqe.server.settings import Settings

    opened: list[TestClient] = []

    def make(wait: bool = True, **kw: object) -> TestClient:
        client = TestClient(create_app(Settings(**kw)))  # type: ignore[arg-type]
        client.__enter__()
        opened.append(client)
        if wait:
            wait_ready(client)
        return client

    yield make
    for c in opened:
        c.__exit__(None, None, None)


@pytest.fixture
def make_client() -> Iterator[Callable[..., TestClient]]:
    """make_client(wait=True, **settings) -> a started TestClient (lifespan run), models loaded if wait."""
    yield from _client_factory()


@pytest.fixture(scope="module")
def make_client_module() -> Iterator[Callable[..., TestClient]]:
    """make_client for module-scoped clients."""
    yield from _client_factory()
