"""proto/header.schema.json: in sync with ArtifactHeader, and it accepts real headers and rejects bad ones."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest

import mgqe.proto
from artifact_factory import METHODS, gmf_spec, random_arrays
from mgqe.proto.artifact import PREFIX, write_artifact
from mgqe.proto.cli import header_json_schema

SCHEMA_PATH = Path(mgqe.proto.__file__).with_name("header.schema.json")


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def header_of(path: Path) -> dict:
    raw = path.read_bytes()
    hlen = PREFIX.unpack(raw[: PREFIX.size])[2]
    return json.loads(raw[PREFIX.size : PREFIX.size + hlen])


def test_schema_file_is_generated_from_the_model() -> None:
    assert SCHEMA_PATH.read_text() == header_json_schema(), (
        "proto/header.schema.json is stale: regenerate with `mgqe-artifact schema > proto/header.schema.json`"
    )


@pytest.mark.parametrize("method", METHODS)
def test_real_headers_validate(
    tmp_path: Path, validator: jsonschema.Draft202012Validator, method: str
) -> None:
    spec = gmf_spec(method)
    write_artifact(tmp_path / "m.mgqe", spec, random_arrays(spec), metrics={"hr": 1.0}, provenance={"x": [1]})
    validator.validate(header_of(tmp_path / "m.mgqe"))


@pytest.mark.parametrize(
    "edit",
    [
        lambda h: h.update(extra=1),
        lambda h: h["buffers"][0].update(dtype="float64"),
        lambda h: h["buffers"][0].update(sha256="abc"),
        lambda h: h["buffers"][0].update(offset=-1),
        lambda h: h.update(byte_order="big"),
        lambda h: h["spec"].update(model_type="bert"),
        lambda h: h["spec"]["tables"]["item"].update(method="hash"),
    ],
)
def test_bad_headers_are_rejected(
    tmp_path: Path, validator: jsonschema.Draft202012Validator, edit: Callable[[dict], None]
) -> None:
    spec = gmf_spec()
    write_artifact(tmp_path / "m.mgqe", spec, random_arrays(spec))
    header = copy.deepcopy(header_of(tmp_path / "m.mgqe"))
    edit(header)
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(header)
