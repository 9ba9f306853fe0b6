"""HTTP request and response schemas of the serving API (`/v1`), shared by the server and its clients.

Every schema is strict (no type coercion: "5" is not an id; only a JSON number with a zero fraction such as
5.0, which JSON Schema counts as an integer, is read as the integer 5) and forbids unknown fields, so a typo
in a field name is a 422 instead of a silently ignored option. Ids are always the ORIGINAL (external) ids of
the artifact's vocabularies. Limits that depend on the deployment (max k, max batch) are not fixed here: the
server checks them against its settings and answers 422 naming the limit; the served OpenAPI document states
them (server/app.py).

Queries (score, recommend) name exactly one of:
    user       one user id                  (gmf, neumf)
    users      many user ids, a batch       (gmf, neumf)
    history    one item-id history, oldest first (sasrec)
    histories  many histories, a batch      (sasrec)
Every batch endpoint answers with one result per query, in request order.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from annotated_types import Ge, Le
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator


def _integral(x: object) -> object:
    """A float with a zero fraction -> int (JSON Schema counts 5.0 as an integer, so a schema-valid client may
    send it); anything else unchanged for the strict int check (5.5, "5", true stay invalid)."""
    return int(x) if type(x) is float and x.is_integer() else x


# A JSON integer (strict otherwise: see the module docstring) that fits int64, the ids' storage type.
# (constraints first: after the BeforeValidator they would not reach the JSON schema as minimum / maximum)
Id = Annotated[int, Ge(-(2**63)), Le(2**63 - 1), BeforeValidator(_integral)]
Count = Annotated[int, Ge(1), Le(2**63 - 1), BeforeValidator(_integral)]  # k: at least 1
Pair = Annotated[list[Id], Field(min_length=2, max_length=2)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def exactly_one_of(*fields: str) -> dict[str, Any]:
    """JSON schema stating the validators' rule "exactly one of `fields` is given and not null": a oneOf whose
    alternatives each require one field to be present and non-null, so a body with two of them (or none)
    matches zero or two alternatives and is invalid, as the server answers (422)."""
    return {
        "oneOf": [{"required": [f], "properties": {f: {"not": {"type": "null"}}}} for f in fields]
    }


# ---- requests ---------------------------------------------------------------------------------------------
class QuerySet(_Strict):
    """Exactly one of user / users / history / histories (see the module docstring)."""

    model_config = ConfigDict(json_schema_extra=exactly_one_of("user", "users", "history", "histories"))

    user: Id | None = None
    users: list[Id] | None = Field(default=None, min_length=1)
    history: list[Id] | None = Field(default=None, min_length=1)
    histories: list[Annotated[list[Id], Field(min_length=1)]] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _exactly_one(self) -> QuerySet:
        given = [f for f in ("user", "users", "history", "histories") if getattr(self, f) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of user, users, history, histories (got {given or 'none'})")
        return self

    @property
    def kind(self) -> Literal["user", "history"]:
        return "user" if self.user is not None or self.users is not None else "history"

    def query_list(self) -> list[Any]:
        """The queries as a list: user ids, or histories (lists of item ids)."""
        if self.user is not None:
            return [self.user]
        if self.history is not None:
            return [self.history]
        return list(self.users if self.users is not None else self.histories or [])


class ScoreRequest(QuerySet):
    """Scores of the given items for every query."""

    items: list[Id] = Field(min_length=1)


class RecommendRequest(QuerySet):
    """Top-k items per query. `exclude` is removed for every query; `exclude_known` also removes the items of
    a history query (the history itself) or a user's training items (artifacts with known.*, else 409)."""

    k: Count = 10
    exclude: list[Id] = Field(default_factory=list)
    exclude_known: bool = False


class SimilarRequest(_Strict):
    """The k most relevant items to `item` (or to each of `items`), never the item itself."""

    model_config = ConfigDict(json_schema_extra=exactly_one_of("item", "items"))

    item: Id | None = None
    items: list[Id] | None = Field(default=None, min_length=1)
    k: Count = 10
    exclude: list[Id] = Field(default_factory=list)

    @model_validator(mode="after")
    def _exactly_one(self) -> SimilarRequest:
        if (self.item is None) == (self.items is None):
            raise ValueError("give exactly one of item, items")
        return self

    def query_list(self) -> list[Id]:
        return [self.item] if self.item is not None else list(self.items or [])


class RelevanceRequest(_Strict):
    """Scores of item pairs [[a, b], ...]."""

    pairs: list[Pair] = Field(min_length=1)


class EmbeddingsRequest(_Strict):
    """Decoded embedding vectors of user or item ids."""

    table: Literal["user", "item"] = "item"
    ids: list[Id] = Field(min_length=1)


# ---- responses --------------------------------------------------------------------------------------------
class Ranked(_Strict):
    """Items with their scores, best first (recommend, similar) or in request order (score)."""

    items: list[Id]
    scores: list[float]


class RankedResponse(_Strict):
    model: str
    version: str
    results: list[Ranked]


class RelevanceResponse(_Strict):
    model: str
    version: str
    scores: list[float]


class EmbeddingsResponse(_Strict):
    model: str
    version: str
    table: Literal["user", "item"]
    ids: list[Id]
    vectors: list[list[float]]


class TableInfo(_Strict):
    method: str
    n: int
    d: int
    groups: list[dict[str, int]]
    size_bits: int


class SizeInfo(_Strict):
    """Serving size as the paper's Table 1 counts it, next to the bytes really used."""

    embedding_bits: int
    dense_bits: int
    total_bits: int
    full_embedding_bits: int  # the same model with uncompressed float32 tables
    ratio: float  # total_bits / full_embedding_bits
    artifact_bytes: int
    resident_bytes: int  # the arrays this server holds for the model


class ModelSummary(_Strict):
    name: str
    version: str
    model_type: str
    d: int
    n_users: int | None
    n_items: int


class ModelDetail(ModelSummary):
    tables: dict[str, TableInfo]
    # The artifact carries each user's training items (known.indptr / known.items): exclude_known works for
    # user queries. False: such a query answers 409, pass the items in `exclude` instead (history queries
    # always can: their known items are the history).
    known_items: bool = Field(
        description="the artifact carries users' training items, so exclude_known works for user queries"
    )
    hparams: dict[str, Any]
    size: SizeInfo
    metrics: dict[str, float]
    provenance: dict[str, Any]
    loaded_at: float


class ModelsResponse(_Strict):
    models: list[ModelSummary]


class HealthResponse(_Strict):
    status: Literal["ok", "loading", "draining"]  # draining: shutting down (SIGTERM)
    models: dict[str, str | None]  # configured model -> loaded version (None while not loaded)


class ReloadOutcome(_Strict):
    status: Literal["loaded", "unchanged", "failed", "missing"]
    version: str | None
    error: str | None = None


class ReloadResponse(_Strict):
    results: dict[str, ReloadOutcome]


class ErrorDetail(_Strict):
    code: str
    message: str
    details: list[dict[str, Any]] | None = None


class ErrorResponse(_Strict):
    error: ErrorDetail
