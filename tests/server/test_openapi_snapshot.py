"""The OpenAPI document is the HTTP contract: any change to it must be deliberate.

The snapshot `proto/openapi.json` is generated from the pydantic schemas in `mgqe.proto.api` through the app
(default settings, admin enabled so its routes are part of the contract). After an intended API change,
regenerate it with:

    .venv/bin/python tests/server/test_openapi_snapshot.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from mgqe.server.app import create_app
from mgqe.server.settings import Settings

SNAPSHOT = Path(__file__).resolve().parents[2] / "proto" / "openapi.json"


def current_openapi(tmp: Path) -> dict[str, Any]:
    # The store path only has to exist; no model is loaded to build the document.
    settings = Settings(store=tmp, admin_token=SecretStr("snapshot-token"), reload_interval_s=0)
    return create_app(settings).openapi()


def test_openapi_matches_snapshot(tmp_path: Path) -> None:
    doc = current_openapi(tmp_path)
    want = json.loads(SNAPSHOT.read_text())
    assert doc == want, (
        "the OpenAPI document changed; if intended, regenerate proto/openapi.json with "
        "`.venv/bin/python tests/server/test_openapi_snapshot.py`"
    )


def test_snapshot_covers_every_v1_route(tmp_path: Path) -> None:
    paths = set(json.loads(SNAPSHOT.read_text())["paths"])
    for route in ("/v1/health/live", "/v1/health/ready", "/v1/models", "/v1/models/{model}",
                  "/v1/models/{model}/score", "/v1/models/{model}/recommend", "/v1/models/{model}/similar",
                  "/v1/models/{model}/relevance", "/v1/models/{model}/embeddings", "/v1/admin/reload"):
        assert route in paths, route


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        SNAPSHOT.write_text(json.dumps(current_openapi(Path(d)), indent=1, sort_keys=True) + "\n")
    print(f"wrote {SNAPSHOT}")
