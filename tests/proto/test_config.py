"""EmbeddingConfig / ModelSpec: derived values and one test per validation error."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mgqe.proto.config import EmbeddingConfig, GroupSpec, ModelSpec


def test_mgqe_groups_from_bounds() -> None:
    cfg = EmbeddingConfig.mgqe(n=100, d=8, bounds=[10, 100], D=4, K=[256, 64])
    assert [(g.start, g.stop, g.K) for g in cfg.groups] == [(0, 10, 256), (10, 100, 64)]
    assert [g.bits for g in cfg.groups] == [8, 6]
    assert cfg.shared and cfg.K_max == 256


def test_dpq_is_one_shared_group() -> None:
    cfg = EmbeddingConfig.dpq(n=50, d=8, D=2, K=16)
    assert cfg.shared and len(cfg.groups) == 1 and cfg.groups[0].size == 50


def test_config_is_frozen() -> None:
    cfg = EmbeddingConfig.fe(10, 4)
    with pytest.raises(ValidationError):
        cfg.n = 11  # type: ignore[misc]


def test_json_round_trip() -> None:
    spec = ModelSpec(
        model_type="gmf",
        d=8,
        tables={
            "user": EmbeddingConfig.sq(5, 8, 8),
            "item": EmbeddingConfig.mgqe(20, 8, [2, 20], D=4, K=[16, 4]),
        },
        hparams={"task": "ranking"},
    )
    assert ModelSpec.model_validate_json(spec.model_dump_json()) == spec


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "lrf", "n": 4, "d": 4}, "lrf needs rank"),
        ({"method": "sq", "n": 4, "d": 4, "bits": 17}, "sq needs"),
        ({"method": "mgqe", "n": 4, "d": 4}, "needs at least one group"),
    ],
)
def test_method_parameter_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        EmbeddingConfig(**kwargs)


def test_groups_must_cover_range() -> None:
    with pytest.raises(ValidationError, match="cover"):
        EmbeddingConfig(method="mgqe", n=10, d=4, groups=(GroupSpec(start=0, stop=8, D=2, K=4),))


def test_groups_must_be_contiguous() -> None:
    g = (GroupSpec(start=0, stop=3, D=2, K=4), GroupSpec(start=4, stop=10, D=2, K=4))
    with pytest.raises(ValidationError, match="contiguous"):
        EmbeddingConfig(method="mgqe", n=10, d=4, groups=g)


def test_empty_group_rejected() -> None:
    g = (GroupSpec(start=0, stop=0, D=2, K=4), GroupSpec(start=0, stop=10, D=2, K=4))
    with pytest.raises(ValidationError, match="empty group"):
        EmbeddingConfig(method="mgqe", n=10, d=4, groups=g)


def test_dpq_single_group() -> None:
    g = (GroupSpec(start=0, stop=3, D=2, K=4), GroupSpec(start=3, stop=10, D=2, K=4))
    with pytest.raises(ValidationError, match="exactly one group"):
        EmbeddingConfig(method="dpq", n=10, d=4, groups=g)


def test_K_must_be_power_of_two() -> None:
    with pytest.raises(ValidationError, match="power of two"):
        EmbeddingConfig.mgqe(n=10, d=4, bounds=[10], D=2, K=[12])


def test_d_divisible_by_D() -> None:
    with pytest.raises(ValidationError, match="not divisible"):
        EmbeddingConfig.mgqe(n=10, d=6, bounds=[10], D=4, K=[16])


def test_shared_needs_same_D() -> None:
    with pytest.raises(ValidationError, match="same D"):
        EmbeddingConfig.mgqe(n=10, d=8, bounds=[2, 10], D=[4, 2], K=[16, 4], variant="shared_k")


def test_unshared_d_needs_same_K() -> None:
    with pytest.raises(ValidationError, match="same K"):
        EmbeddingConfig.mgqe(n=10, d=8, bounds=[2, 10], D=[4, 2], K=[16, 4], variant="unshared_d")


def test_bounds_and_parameter_lengths_must_agree() -> None:
    with pytest.raises(ValueError, match="2 groups"):
        EmbeddingConfig.mgqe(n=10, d=8, bounds=[2, 10], D=4, K=[16])


def test_model_spec_table_width_must_match() -> None:
    with pytest.raises(ValidationError, match="has d=4"):
        ModelSpec(model_type="relevance", d=8, tables={"item": EmbeddingConfig.fe(5, 4)})


def test_model_spec_needs_its_tables() -> None:
    with pytest.raises(ValidationError, match="sasrec needs tables"):
        ModelSpec(model_type="sasrec", d=4, tables={"user": EmbeddingConfig.fe(5, 4)})


def test_strict_types_reject_bool_for_int() -> None:
    with pytest.raises(ValidationError):
        EmbeddingConfig(method="fe", n=True, d=4)  # type: ignore[arg-type]
