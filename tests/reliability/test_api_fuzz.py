"""HTTP API fuzzing with schemathesis against the app's own generated OpenAPI, in-process (ASGI), issue 8.

Every operation of the schema is fuzzed twice: as generated (the `model` path parameter is any string, so
most cases hit an unknown model), and with `model` narrowed to the served names (gmf, neumf, sasrec,
relevance, plus one unknown) so the bodies reach the scoring code. Checks: no 5xx, responses conform to the
documented schema, status codes and content types documented, invalid data rejected (schemathesis's
defaults), including `positive_data_acceptance` (a schema-valid request is never a 400/422): the request
schemas state "exactly one of user/users/history/histories" as a oneOf (proto/api.py), and the served
document states this server's limits (k <= max_k as maximum, list lengths as maxItems; server/app.py).

Default run: 4 examples per operation and schema (a few seconds). The `slow` variant runs 150 per operation
and writes its counts to docs/reliability-fuzz-api.json:
    .venv/bin/pytest -q -m slow tests/reliability/test_api_fuzz.py
"""

from __future__ import annotations

import copy
import json
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from pydantic import SecretStr
from reliability_helpers import N_ITEMS, N_USERS

from artifact_factory import HPARAMS

TOKEN = "fuzz-admin-token"
ROOT = Path(__file__).resolve().parents[2]
STATS: dict[str, Counter] = {"default": Counter(), "long": Counter()}


ID_FIELDS = {"user", "users", "history", "histories", "item", "items", "exclude", "pairs", "ids"}
# external ids of the factory's tables: vocab = permutation(n) * 3 + 7, so 7 + 3 i for i < n is a known id
KNOWN_IDS = [7 + 3 * i for i in range(min(N_USERS, N_ITEMS))] + [-1, 2**40]  # plus two unknown ones


def _ids_to_known(node: object) -> object:
    """Replace every integer schema inside an id field by an enum of KNOWN_IDS."""
    if isinstance(node, dict):
        if node.get("type") == "integer":
            return {"type": "integer", "enum": KNOWN_IDS}
        return {k: _ids_to_known(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_ids_to_known(v) for v in node]
    return node


def _narrowed(spec: dict, names: list[str]) -> dict:
    """The generated OpenAPI with the `model` path parameter limited to `names` and the id fields of request
    bodies to KNOWN_IDS, so most cases reach the scoring code (the rest of the schema as generated)."""
    spec = copy.deepcopy(spec)
    for ops in spec["paths"].values():
        for op in ops.values():
            for p in op.get("parameters", []):
                if p["name"] == "model" and p["in"] == "path":
                    p["schema"] = {"type": "string", "enum": names}
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if body and "properties" in body:
                for field in ID_FIELDS & set(body["properties"]):
                    body["properties"][field] = _ids_to_known(body["properties"][field])
    return spec


def _build_app() -> tuple[object, Path]:
    """The app over a fresh small store (built at import: schemathesis parametrizes at collection)."""
    from artifact_factory import HPARAMS, write_model
    from mgqe.proto.store import publish
    from mgqe.server.app import create_app
    from mgqe.server.settings import Settings

    root = Path(tempfile.mkdtemp(prefix="mgqe-fuzz-"))
    for m in HPARAMS:
        publish(root / "store", m, write_model(root / f"{m}.mgqe", m, n_users=N_USERS, n_items=N_ITEMS))
    # Small list limits: the served schema states them (maxItems), so every body schemathesis generates near
    # them (valid or just over) stays far below max_body_bytes and is judged by the schema, not a 413.
    settings = Settings(  # type: ignore[call-arg]
        store=root / "store",
        admin_token=SecretStr(TOKEN),
        reload_interval_s=0,
        log_level="WARNING",
        max_batch=16,
        max_items=64,
    )
    return create_app(settings), root


APP, TMP = _build_app()
NAMES = [*sorted(HPARAMS), "no-such-model"]
generated = schemathesis.openapi.from_asgi("/openapi.json", APP)
served = schemathesis.openapi.from_dict(_narrowed(APP.openapi(), NAMES))  # type: ignore[attr-defined]
served.app = APP  # the same in-process app


@pytest.fixture(scope="module", autouse=True)
def loaded() -> Iterator[None]:
    """Run the app's lifespan (the registry loads the store) around this module's tests."""
    with TestClient(APP) as client:  # type: ignore[arg-type]
        end = time.monotonic() + 20
        while client.get("/v1/health/ready").status_code != 200:
            assert time.monotonic() < end, "models did not load"
            time.sleep(0.02)
        yield
    shutil.rmtree(TMP, ignore_errors=True)


FUZZ = settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


def _check(case: schemathesis.Case, run: str, token: bool) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"} if token else None
    resp = case.call_and_validate(headers=headers)
    STATS[run][f"{case.method} {case.path} {resp.status_code}"] += 1
    assert resp.status_code < 500 or resp.status_code == 503, resp.text  # belt and braces: no 5xx but 503


@generated.parametrize()
@settings(FUZZ, max_examples=4)
def test_generated_schema_no_5xx_and_conforms(case: schemathesis.Case) -> None:
    _check(case, "default", token=False)


@served.parametrize()
@settings(FUZZ, max_examples=4)
def test_served_models_no_5xx_and_conforms(case: schemathesis.Case) -> None:
    _check(case, "default", token=True)


@pytest.mark.slow
@generated.parametrize()
@settings(FUZZ, max_examples=150)
def test_long_generated_schema(case: schemathesis.Case) -> None:
    _check(case, "long", token=False)


@pytest.mark.slow
@served.parametrize()
@settings(FUZZ, max_examples=150)
def test_long_served_models(case: schemathesis.Case) -> None:
    _check(case, "long", token=True)


def test_fuzz_reached_the_models() -> None:
    """The default run above must have produced real answers (200) from scoring routes, not only 4xx."""
    if not STATS["default"]:
        pytest.skip("run together with the fuzz tests of this module")
    ok = [k for k, n in STATS["default"].items() if k.endswith(" 200") and "/v1/models/" in k and n > 0]
    assert any(k.startswith("POST") for k in ok), STATS["default"]


@pytest.fixture(scope="module", autouse=True)
def _write_long_stats() -> Iterator[None]:
    yield
    long = STATS["long"]
    if long:
        statuses = Counter(k.rsplit(" ", 1)[1] for k in long.elements())
        out = {
            "command": ".venv/bin/pytest -q -m slow tests/reliability/test_api_fuzz.py",
            "max_examples_per_operation_and_schema": 150,
            "requests": sum(long.values()),
            "server_errors_5xx": sum(n for s, n in statuses.items() if s.startswith("5") and s != "503"),
            "by_status": dict(sorted(statuses.items())),
            "by_operation_and_status": dict(sorted(long.items())),
        }
        (ROOT / "docs" / "reliability-fuzz-api.json").write_text(json.dumps(out, indent=1) + "\n")


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        # found by the long run: a history sent to neumf reached the user lookup -> IndexError/TypeError 500
        ("/v1/models/neumf/recommend", {"histories": [[7, -1]]}, 409),
        ("/v1/models/neumf/recommend", {"histories": [[-1]]}, 409),
        ("/v1/models/neumf/score", {"history": [7], "items": [7]}, 409),
    ],
)
def test_fuzz_regressions(path: str, body: dict, status: int) -> None:
    with TestClient(APP) as client:  # type: ignore[arg-type]
        r = client.post(path, json=body)
    assert r.status_code == status, r.text
