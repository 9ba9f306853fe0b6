"""Writer + reader: round trips for every method and backbone, exact payload sizes, writer validation."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import get_args

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from artifact_factory import METHODS, gmf_spec, random_arrays
from artifact_factory import tiny_table as table
from mgqe.proto import sizes
from mgqe.proto.artifact import (
    ALIGN,
    MAGIC,
    PREFIX,
    read_artifact,
    read_header,
    required_arrays,
    write_artifact,
)
from mgqe.proto.config import EmbeddingConfig, GroupSpec, MGQEVariant, ModelSpec, ModelType
from mgqe.proto.errors import (
    ArrayMismatchError,
    ArtifactIOError,
    CodeRangeError,
    MetadataError,
    MissingArrayError,
    UnexpectedArrayError,
    VocabularyError,
)


def assert_same_arrays(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    assert set(got) == set(want)
    for name, a in want.items():
        assert got[name].shape == a.shape, name
        np.testing.assert_array_equal(got[name], a, err_msg=name)


def payload_bytes(header, table_name: str) -> int:
    """Bytes of one table's embedding buffers (codes + floats), as the header declares them."""
    return sum(
        b.nbytes
        for b in header.buffers
        if b.name.startswith(f"{table_name}.") and not b.name.startswith("vocab.")
    )


@pytest.mark.parametrize("method", METHODS)
def test_round_trip_every_method(tmp_path: Path, method: str) -> None:
    spec = gmf_spec(method)
    arrays = random_arrays(spec, seed=1)
    header = write_artifact(tmp_path / "m.mgqe", spec, arrays, metrics={"hr@10": 7.5}, provenance={"seed": 1})
    art = read_artifact(tmp_path / "m.mgqe")
    assert art.header == header == read_header(tmp_path / "m.mgqe")
    assert art.spec == spec
    assert art.header.metrics == {"hr@10": 7.5}
    assert art.header.provenance["seed"] == 1 and "created" in art.header.provenance
    assert_same_arrays(art.arrays, arrays)
    for name, req in required_arrays(spec).items():
        want = {"float32": np.float32, "int64": np.int64, "uint8": np.uint8, "uint16": np.uint16}[req.dtype]
        assert art.arrays[name].dtype == want, name
    for t, cfg in spec.tables.items():
        assert payload_bytes(header, t) == sizes.embedding_payload_bytes(cfg)


@pytest.mark.parametrize(
    ("model_type", "tables", "dense"),
    [
        ("neumf", ("user", "item"), {"mlp.0.weight": (4, 16), "mlp.0.bias": (4,), "out.weight": (1, 12)}),
        ("sasrec", ("item",), {"pos.weight": (5, 8), "blocks.0.attn.in_proj_weight": (24, 8)}),
        ("relevance", ("item",), {"out.weight": (1, 8), "out.bias": (1,)}),
    ],
)
def test_round_trip_other_backbones(
    tmp_path: Path, model_type: ModelType, tables: tuple, dense: dict
) -> None:
    spec = ModelSpec(
        model_type=model_type, d=8, tables={t: table("mgqe", 9) for t in tables}, hparams={"mlp": [4, 2, 1]}
    )
    arrays = random_arrays(spec, seed=2, dense=dense)
    write_artifact(tmp_path / "m.mgqe", spec, arrays)
    assert_same_arrays(read_artifact(tmp_path / "m.mgqe").arrays, arrays)


@st.composite
def embedding_configs(draw: st.DrawFn, n: int, d: int) -> EmbeddingConfig:
    method = draw(st.sampled_from(["fe", "lrf", "sq", "dpq", "mgqe"]))
    if method == "fe":
        return EmbeddingConfig.fe(n, d)
    if method == "lrf":
        return EmbeddingConfig.lrf(n, d, draw(st.integers(1, 4)))
    if method == "sq":
        return EmbeddingConfig.sq(n, d, draw(st.integers(1, 16)))
    divisors = [x for x in range(1, d + 1) if d % x == 0]
    if method == "dpq":
        return EmbeddingConfig.dpq(n, d, D=draw(st.sampled_from(divisors)), K=2 ** draw(st.integers(1, 16)))
    m = draw(st.integers(1, min(n, 4)))
    inner = draw(st.sets(st.integers(1, n - 1), min_size=m - 1, max_size=m - 1)) if m > 1 else set()
    bounds = [*sorted(inner), n]
    variant = draw(st.sampled_from(get_args(MGQEVariant)))
    if variant == "unshared_d":
        Ds, Ks = [draw(st.sampled_from(divisors)) for _ in bounds], 2 ** draw(st.integers(1, 12))
    else:
        Ds, Ks = draw(st.sampled_from(divisors)), [2 ** draw(st.integers(1, 12)) for _ in bounds]
    return EmbeddingConfig.mgqe(n, d, bounds, D=Ds, K=Ks, variant=variant)


@st.composite
def model_specs(draw: st.DrawFn) -> ModelSpec:
    d = draw(st.sampled_from([1, 2, 4, 6, 8]))
    model_type: ModelType = draw(st.sampled_from(["gmf", "sasrec"]))
    names = ["user", "item"] if model_type == "gmf" else ["item"]
    tables = {t: draw(embedding_configs(draw(st.integers(1, 20)), d)) for t in names}
    return ModelSpec(model_type=model_type, d=d, tables=tables)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=model_specs(), seed=st.integers(0, 2**16))
def test_round_trip_random_configs(tmp_path: Path, spec: ModelSpec, seed: int) -> None:
    arrays = random_arrays(spec, seed=seed)
    path = tmp_path / "r.mgqe"
    header = write_artifact(path, spec, arrays, provenance={"created": "fixed"})
    art = read_artifact(path)
    assert art.header == header
    assert_same_arrays(art.arrays, arrays)
    for t, cfg in spec.tables.items():
        assert payload_bytes(header, t) == sizes.embedding_payload_bytes(cfg)
    # the file is exactly prefix + header + buffers + alignment padding, nothing else
    data_start = PREFIX.size + PREFIX.unpack(path.read_bytes()[: PREFIX.size])[2]
    last = header.buffers[-1]
    assert os.path.getsize(path) == data_start + last.offset + last.nbytes
    assert data_start % ALIGN == 0 and all(b.offset % ALIGN == 0 for b in header.buffers)


def test_file_starts_with_magic_and_version(tmp_path: Path) -> None:
    spec = gmf_spec("fe")
    write_artifact(tmp_path / "m.mgqe", spec, random_arrays(spec))
    magic, version, hlen = PREFIX.unpack((tmp_path / "m.mgqe").read_bytes()[:16])
    assert (magic, version) == (MAGIC, 1) and (16 + hlen) % 64 == 0


# ---- writer validation: one test per named error -------------------------------------------------


def test_writer_missing_array(tmp_path: Path) -> None:
    spec = gmf_spec()
    arrays = random_arrays(spec)
    del arrays["item.codes.g1"]
    with pytest.raises(MissingArrayError, match=r"item\.codes\.g1"):
        write_artifact(tmp_path / "m.mgqe", spec, arrays)


@pytest.mark.parametrize("name", ["item.weight", "item.codes.g2", "vocab.query", "dense.", "extra"])
def test_writer_unexpected_array(tmp_path: Path, name: str) -> None:
    spec = gmf_spec()
    arrays = random_arrays(spec)
    arrays[name] = np.zeros((10, 8), np.float32)
    with pytest.raises(UnexpectedArrayError, match=name.replace(".", r"\.")):
        write_artifact(tmp_path / "m.mgqe", spec, arrays)


@pytest.mark.parametrize(
    ("name", "value", "match"),
    [
        ("item.codes.g0", np.zeros((2, 3), np.int64), r"shape \(2, 3\), the spec requires \(2, 4\)"),
        ("item.centroids", np.zeros((4, 16, 2), np.float64), "must be float32, got float64"),
        ("item.codes.g0", np.zeros((2, 4), np.float32), "must be an integer array"),
        ("dense.out.bias", np.zeros(1, np.float64), "must be float32"),
        ("vocab.user", np.zeros(7, np.float32), "integer ids"),
        ("vocab.user", np.full(7, 2**63, np.uint64), "int64 range"),
    ],
)
def test_writer_array_mismatch(tmp_path: Path, name: str, value: np.ndarray, match: str) -> None:
    spec = gmf_spec()
    arrays = random_arrays(spec)
    arrays[name] = value
    with pytest.raises(ArrayMismatchError, match=match):
        write_artifact(tmp_path / "m.mgqe", spec, arrays)


@pytest.mark.parametrize(
    ("name", "bad"), [("item.codes.g1", 4), ("item.codes.g0", -1), ("user.codes.g0", 16)]
)
def test_writer_code_range(tmp_path: Path, name: str, bad: int) -> None:
    spec = gmf_spec()  # K = [16, 4]
    arrays = random_arrays(spec)
    arrays[name][0, 0] = bad
    with pytest.raises(CodeRangeError, match=name.replace(".", r"\.")):
        write_artifact(tmp_path / "m.mgqe", spec, arrays)


def test_writer_sq_code_range(tmp_path: Path) -> None:
    spec = gmf_spec("sq")  # 5 bits
    arrays = random_arrays(spec)
    arrays["item.codes"][1, 1] = 32
    with pytest.raises(CodeRangeError, match=r"\[0, 32\)"):
        write_artifact(tmp_path / "m.mgqe", spec, arrays)


def test_writer_duplicate_vocabulary(tmp_path: Path) -> None:
    spec = gmf_spec()
    arrays = random_arrays(spec)
    arrays["vocab.item"][3] = arrays["vocab.item"][5]
    with pytest.raises(VocabularyError, match="repeats external ids"):
        write_artifact(tmp_path / "m.mgqe", spec, arrays)


@pytest.mark.parametrize(
    ("metrics", "provenance", "match"),
    [
        ({"hr": float("nan")}, {}, "finite"),
        ({"hr": "7.9"}, {}, "real number"),
        ({"hr": True}, {}, "real number"),
        ({}, {"x": float("inf")}, "JSON-serialisable"),
        ({}, {"x": object()}, "JSON-serialisable"),
    ],
)
def test_writer_metadata(tmp_path: Path, metrics: dict, provenance: dict, match: str) -> None:
    spec = gmf_spec()
    with pytest.raises(MetadataError, match=match):
        write_artifact(tmp_path / "m.mgqe", spec, random_arrays(spec), metrics=metrics, provenance=provenance)


def test_writer_failure_leaves_target_untouched(tmp_path: Path) -> None:
    spec = gmf_spec()
    arrays = random_arrays(spec)
    path = tmp_path / "m.mgqe"
    write_artifact(path, spec, arrays)
    before = path.read_bytes()
    arrays["item.codes.g0"][0, 0] = 99
    with pytest.raises(CodeRangeError):
        write_artifact(path, spec, arrays)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.mgqe"]  # no temp file left behind


def test_writer_into_missing_directory(tmp_path: Path) -> None:
    spec = gmf_spec()
    with pytest.raises(ArtifactIOError, match="cannot create a temporary file"):
        write_artifact(tmp_path / "no" / "m.mgqe", spec, random_arrays(spec))


def test_reader_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ArtifactIOError, match="cannot open artifact"):
        read_artifact(tmp_path / "absent.mgqe")


def test_dpq_k_65536_uses_uint16(tmp_path: Path) -> None:
    cfg = EmbeddingConfig(
        method="dpq", n=3, d=2, variant="shared_k", groups=(GroupSpec(start=0, stop=3, D=2, K=65536),)
    )
    spec = ModelSpec(model_type="relevance", d=2, tables={"item": cfg})
    arrays = random_arrays(spec, dense={"out.weight": (1, 2)})
    arrays["item.codes.g0"][0, 0] = 65535
    write_artifact(tmp_path / "m.mgqe", spec, arrays)
    got = read_artifact(tmp_path / "m.mgqe").arrays["item.codes.g0"]
    assert got.dtype == np.uint16 and got[0, 0] == 65535


def test_reader_and_cli_import_only_numpy_bitarray_pydantic() -> None:
    """proto stays importable by the server without torch, fastapi or the trainer."""
    code = (
        "import sys, mgqe.proto.artifact, mgqe.proto.cli, mgqe.proto.packing; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'torch', 'fastapi', 'starlette'} "
        "or m.startswith(('mgqe.trainer', 'mgqe.server'))); print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
