"""The typed readers of a spec's hparams (values int | float | str | bool | list[int]) that dense_shapes and
the sasrec forward pass use: numbers coerce as int() did, a value of the wrong shape is a TypeError that
names the hparam (before, a str "mlp" failed inside tuple unpacking with an unrelated message)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mgqe.server.nn import dense_shapes, hparam_int, hparam_ints


def test_hparam_int_coerces_numbers_and_uses_the_default() -> None:
    hp = {"max_len": 20, "n_blocks": "3", "n_heads": 2.0}
    assert [hparam_int(hp, k, 0) for k in ("max_len", "n_blocks", "n_heads")] == [20, 3, 2]
    assert hparam_int(hp, "missing", 7) == 7


def test_hparam_ints_reads_a_list() -> None:
    assert hparam_ints({"mlp": [8, 4, 2]}, "mlp", [64, 32, 16]) == [8, 4, 2]
    assert hparam_ints({}, "mlp", [64, 32, 16]) == [64, 32, 16]


@pytest.mark.parametrize(
    ("hp", "call"),
    [
        ({"max_len": [50]}, lambda hp: hparam_int(hp, "max_len", 50)),
        ({"mlp": "643216"}, lambda hp: hparam_ints(hp, "mlp", [64, 32, 16])),
        ({"mlp": 64}, lambda hp: hparam_ints(hp, "mlp", [64, 32, 16])),
    ],
)
def test_a_value_of_the_wrong_shape_names_the_hparam(
    hp: dict[str, object], call: Callable[[dict[str, object]], object]
) -> None:
    with pytest.raises(TypeError, match=r"hparam '(max_len|mlp)'"):
        call(hp)


def test_dense_shapes_follow_the_hparams() -> None:
    neumf = dense_shapes("neumf", 4, {"mlp": [8, 6, 2]})
    assert neumf["mlp.0.weight"] == (8, 8) and neumf["mlp.4.weight"] == (2, 6)
    assert neumf["out.weight"] == (1, 6)
    sasrec = dense_shapes("sasrec", 4, {"max_len": 5, "n_blocks": 1})
    assert sasrec["pos.weight"] == (5, 4) and not any(k.startswith("blocks.1.") for k in sasrec)
