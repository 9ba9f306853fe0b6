"""Reader fuzzing (issue 8): random and mutated files end in a named ArtifactError, never another exception.

Inputs per default run: 200 random files (raw bytes, or behind a valid prefix, or a random JSON header),
400 byte-level mutations of a valid artifact and 300 header mutations (a random JSON value replaced or
deleted): 900 inputs. The `slow` variants run 20,000 of each kind (`pytest -m slow` on this file).
A mutation may leave a valid artifact (e.g. a changed metric value); then the read must simply succeed.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from artifact_factory import gmf_spec, random_arrays
from mgqe.proto.artifact import MAGIC, PREFIX, align_up, read_artifact, read_header, write_artifact
from mgqe.proto.errors import ArtifactError

# every property test here: no deadline (the shared CI cores are slow), function-scoped fixtures on purpose
SETTINGS = settings(deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def valid_artifact(tmp: Path) -> bytes:
    spec = gmf_spec("mgqe", n_users=5, n_items=6)
    write_artifact(
        tmp / "v.mgqe", spec, random_arrays(spec, seed=0), metrics={"hr": 1.0}, provenance={"p": [1]}
    )
    return (tmp / "v.mgqe").read_bytes()


def read_or_named_error(path: Path, raw: bytes) -> None:
    path.write_bytes(raw)
    for read in (read_header, read_artifact):
        with contextlib.suppress(ArtifactError):  # any other exception type fails the test
            read(path)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)


def json_paths(node: Any, path: tuple = ()) -> list[tuple]:
    out = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            out += json_paths(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += json_paths(v, (*path, i))
    return out


def header_mutation(raw: bytes, data: st.DataObject) -> bytes:
    _, _, hlen = PREFIX.unpack(raw[: PREFIX.size])
    header = json.loads(raw[PREFIX.size : PREFIX.size + hlen])
    path = data.draw(st.sampled_from(json_paths(header)[1:]))
    parent = header
    for key in path[:-1]:
        parent = parent[key]
    if data.draw(st.booleans()):
        parent[path[-1]] = data.draw(json_values)
    elif isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent.pop(path[-1])
    text = json.dumps(header).encode()
    new_len = align_up(PREFIX.size + len(text)) - PREFIX.size
    return PREFIX.pack(MAGIC, 1, new_len) + text.ljust(new_len) + raw[PREFIX.size + hlen :]


def byte_mutation(raw: bytes, data: st.DataObject) -> bytes:
    buf = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 4))):
        kind = data.draw(st.sampled_from(["flip", "set", "truncate", "insert", "u32"]))
        pos = data.draw(st.integers(0, max(len(buf) - 1, 0)))
        if kind == "flip" and buf:
            buf[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "set" and buf:
            buf[pos] = data.draw(st.integers(0, 255))
        elif kind == "truncate":
            del buf[pos:]
        elif kind == "insert":
            buf[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
        elif kind == "u32" and len(buf) >= 16:  # hit the version or header-length field
            field = data.draw(st.sampled_from([8, 12]))
            buf[field : field + 4] = data.draw(st.integers(0, 2**32 - 1)).to_bytes(4, "little")
    return bytes(buf)


def random_file(data: st.DataObject) -> bytes:
    """Random bytes; or a valid prefix with a random length; or a valid prefix and a random JSON header."""
    body = data.draw(st.binary(max_size=512))
    kind = data.draw(st.sampled_from(["raw", "prefix", "json"]))
    if kind == "prefix":
        return PREFIX.pack(MAGIC, 1, data.draw(st.integers(0, 600))) + body
    if kind == "json":
        text = json.dumps(data.draw(json_values)).encode()
        hlen = align_up(PREFIX.size + len(text)) - PREFIX.size
        return PREFIX.pack(MAGIC, 1, hlen) + text.ljust(hlen) + body
    return body


@pytest.fixture(scope="module")
def valid(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return valid_artifact(tmp_path_factory.mktemp("fuzz"))


def _run(kind: str, n: int) -> Any:
    @settings(SETTINGS, max_examples=n)
    @given(data=st.data())
    def check(tmp_path: Path, valid: bytes, data: st.DataObject) -> None:
        if kind == "random":
            raw = random_file(data)
        elif kind == "bytes":
            raw = byte_mutation(valid, data)
        else:
            raw = header_mutation(valid, data)
        read_or_named_error(tmp_path / "f.mgqe", raw)

    return check


test_fuzz_random_bytes = _run("random", 200)
test_fuzz_byte_mutations = _run("bytes", 400)
test_fuzz_header_mutations = _run("header", 300)
test_fuzz_random_bytes_long = pytest.mark.slow(_run("random", 20_000))
test_fuzz_byte_mutations_long = pytest.mark.slow(_run("bytes", 20_000))
test_fuzz_header_mutations_long = pytest.mark.slow(_run("header", 20_000))
