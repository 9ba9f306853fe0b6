"""proto/api.py: strict, closed request schemas (no coercion, no unknown fields, exactly-one query)."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator
from pydantic import BaseModel, ValidationError

from mgqe.proto.api import QuerySet, RecommendRequest, RelevanceRequest, ScoreRequest, SimilarRequest


def test_single_and_batch_queries() -> None:
    assert RecommendRequest(user=3).query_list() == [3] and RecommendRequest(user=3).kind == "user"
    r = ScoreRequest.model_validate({"histories": [[1, 2], [3]], "items": [4]})
    assert r.kind == "history" and r.query_list() == [[1, 2], [3]]


@pytest.mark.parametrize("body", [{}, {"user": 1, "users": [2]}, {"user": 1, "history": [2]}])
def test_exactly_one_query(body: dict) -> None:
    with pytest.raises(ValidationError, match="exactly one of user, users, history, histories"):
        QuerySet.model_validate(body)


def test_no_coercion_of_ids() -> None:
    with pytest.raises(ValidationError, match="user"):
        RecommendRequest.model_validate({"user": "3"})
    with pytest.raises(ValidationError, match="k"):
        RecommendRequest.model_validate({"user": 3, "k": 2.5})


def test_unknown_field_forbidden() -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        RecommendRequest.model_validate({"user": 3, "top_k": 5})


def test_k_positive() -> None:
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        SimilarRequest.model_validate({"item": 1, "k": 0})


def test_pairs_have_two_ids() -> None:
    assert RelevanceRequest.model_validate({"pairs": [[1, 2]]}).pairs == [[1, 2]]
    with pytest.raises(ValidationError, match="at least 2"):
        RelevanceRequest.model_validate({"pairs": [[1]]})


def test_empty_lists_rejected() -> None:
    with pytest.raises(ValidationError, match="at least 1"):
        ScoreRequest.model_validate({"user": 1, "items": []})
    with pytest.raises(ValidationError, match="at least 1"):
        RecommendRequest.model_validate({"histories": [[]]})


@pytest.mark.parametrize(
    ("schema", "body"),
    [
        (RecommendRequest, {"user": 1}),
        (RecommendRequest, {"users": [1], "user": None}),
        (RecommendRequest, {}),
        (RecommendRequest, {"user": 1, "users": [2]}),
        (RecommendRequest, {"history": [1], "histories": [[2]]}),
        (RecommendRequest, {"user": None}),
        (ScoreRequest, {"histories": [[2]], "items": [1]}),
        (ScoreRequest, {"user": 1, "history": [2], "items": [1]}),
        (SimilarRequest, {"item": 1}),
        (SimilarRequest, {"items": [1], "item": None}),
        (SimilarRequest, {"item": 1, "items": [2]}),
        (SimilarRequest, {}),
    ],
)
def test_json_schema_states_exactly_one(schema: type[BaseModel], body: dict) -> None:
    """The published JSON schema (oneOf) accepts exactly the bodies the validators accept."""
    by_schema = Draft202012Validator(schema.model_json_schema()).is_valid(body)
    try:
        schema.model_validate(body)
        by_model = True
    except ValidationError:
        by_model = False
    assert by_schema == by_model


def test_integral_numbers_are_integers() -> None:
    """JSON Schema counts 5.0 as an integer, so the models read it so; fractions and int64 overflows fail."""
    r = RecommendRequest.model_validate_json('{"user": 3.0, "k": 2.0, "exclude": [4.0, 5]}')
    assert (r.user, r.k, r.exclude) == (3, 2, [4, 5]) and type(r.user) is int
    with pytest.raises(ValidationError, match="valid integer"):
        RecommendRequest.model_validate_json('{"user": 3.5}')
    with pytest.raises(ValidationError, match="less than or equal to 9223372036854775807"):
        RecommendRequest.model_validate_json('{"user": 9223372036854775808}')
