"""Fixtures of the reliability tests (issue 8): a small store with every model type, written through the
server tests' artifact factory (the real writer), and helpers to run `mgqe-serve` as a subprocess."""

from __future__ import annotations

from pathlib import Path

import pytest
from reliability_helpers import N_ITEMS, N_USERS

from artifact_factory import HPARAMS, write_model


@pytest.fixture(scope="session")
def small_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with one version of each model type (gmf, neumf, sasrec, relevance), named after the type."""
    from mgqe.proto.store import publish

    root = tmp_path_factory.mktemp("rel_store")
    arts = tmp_path_factory.mktemp("rel_artifacts")
    for m in HPARAMS:
        publish(root, m, write_model(arts / f"{m}.mgqe", m, n_users=N_USERS, n_items=N_ITEMS))
    return root
