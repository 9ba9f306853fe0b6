"""proto/api.py: strict, closed request schemas (no coercion, no unknown fields, exactly-one query)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

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
