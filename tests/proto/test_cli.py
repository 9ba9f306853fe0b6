"""mgqe-artifact inspect / verify / schema, including the ml-1m-shaped MGQE size check of issue 5."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from artifact_factory import gmf_spec, random_arrays
from mgqe.proto.artifact import write_artifact
from mgqe.proto.cli import COMMANDS, main
from mgqe.proto.config import EmbeddingConfig, ModelSpec


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def ml1m_mgqe_spec() -> ModelSpec:
    """GMF on the ml-1m 5-core shape: 6,040 users, 3,416 items, d=D=64, K=[256, 64], top 10% in the head."""
    tables = {
        name: EmbeddingConfig.mgqe(n, 64, [round(0.1 * n), n], D=64, K=[256, 64])
        for name, n in (("user", 6040), ("item", 3416))
    }
    return ModelSpec(model_type="gmf", d=64, tables=tables, hparams={"task": "ranking"})


def paper_table1_bits(cfg: EmbeddingConfig) -> int:
    """Table 1's MGQE row written out from the paper: sum_i |V_i| D log2(K_i) + 32 K d (shared centroids)."""
    codes = sum((g.stop - g.start) * g.D * int(math.log2(g.K)) for g in cfg.groups)
    return codes + 32 * max(g.K for g in cfg.groups) * cfg.d


def test_ml1m_shaped_mgqe_payload_equals_table1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = ml1m_mgqe_spec()
    path = tmp_path / "ml1m.mgqe"
    write_artifact(path, spec, random_arrays(spec, seed=7))
    rc, out, _ = run(capsys, "inspect", str(path), "--json")
    assert rc == 0
    sizes = json.loads(out)["sizes"]
    for name, cfg in spec.tables.items():
        t = sizes["tables"][name]
        bits = paper_table1_bits(cfg)
        code_pad = sum(8 * math.ceil(c["code_bits"] / 8) - c["code_bits"] for c in t["codes"])
        assert t["table1_bits"] == bits
        assert t["payload_bytes"] * 8 == bits + code_pad == bits  # every group's bits are whole bytes here
        assert t["code_byte_padding_bits"] == 0
        assert [c["bits"] for c in t["codes"]] == [8, 6]
    rc, text, _ = run(capsys, "inspect", str(path))
    assert rc == 0
    for cfg in spec.tables.values():
        bits = paper_table1_bits(cfg)
        assert f"Table 1 {bits:,} bits / 8 = {bits / 8:,.3f} B + 0 bits code byte padding" in text
    print(text)  # shown with `pytest -s`: the inspect output of the issue's ml-1m check


def test_inspect_categories_add_up_to_file_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # d=3 at 5 bits: 9 codes x 5 = 45 bits per table -> 6 bytes with 3 bits of byte padding
    spec = ModelSpec(model_type="relevance", d=3, tables={"item": EmbeddingConfig.sq(3, 3, bits=5)})
    path = tmp_path / "sq.mgqe"
    write_artifact(path, spec, random_arrays(spec, dense={"out.weight": (1, 3), "out.bias": (1,)}))
    rc, out, _ = run(capsys, "inspect", str(path), "--json")
    rep = json.loads(out)["sizes"]
    parts = ("prefix_and_header_bytes", "embedding_payload_bytes", "vocabulary_bytes", "dense_bytes",
             "known_items_bytes")
    assert rc == 0 and sum(rep[k] for k in parts) + rep["alignment_padding_bytes"] == path.stat().st_size
    item = rep["tables"]["item"]
    assert item["code_byte_padding_bits"] == 8 * math.ceil(45 / 8) - 45
    assert item["payload_bytes"] * 8 == item["table1_bits"] + item["code_byte_padding_bits"]
    assert item["payload_matches_sizes_py"] and rep["dense_params"] == 4
    assert rep["alignment_padding_bytes"] > 0


def test_verify_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = gmf_spec()
    write_artifact(tmp_path / "m.mgqe", spec, random_arrays(spec))
    rc, out, _ = run(capsys, "verify", str(tmp_path / "m.mgqe"))
    assert rc == 0 and "all SHA-256 checksums match" in out


def test_verify_damaged_payload(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = gmf_spec()
    path = tmp_path / "m.mgqe"
    write_artifact(path, spec, random_arrays(spec))
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 0xFF  # inside the last buffer
    path.write_bytes(bytes(raw))
    assert run(capsys, "inspect", str(path))[0] == 0  # the structure is intact; inspect does not hash
    rc, _, err = run(capsys, "verify", str(path))
    assert rc == 1 and "ChecksumError" in err and "fails its SHA-256" in err


@pytest.mark.parametrize("command", ["inspect", "verify"])
def test_named_error_on_bad_files(tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str) -> None:
    (tmp_path / "x.mgqe").write_bytes(b"not an artifact at all")
    rc, _, err = run(capsys, command, str(tmp_path / "x.mgqe"))
    assert rc == 1 and f"mgqe-artifact {command}: BadMagicError" in err
    rc, _, err = run(capsys, command, str(tmp_path / "absent.mgqe"))
    assert rc == 1 and "ArtifactIOError" in err


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help(capsys: pytest.CaptureFixture[str], command: str) -> None:
    with pytest.raises(SystemExit) as e:
        main([command, "--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and COMMANDS[command].help.split(";")[0] in " ".join(out.split())


def test_usage_error_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["inspect"])
    assert e.value.code == 2 and "FILE" in capsys.readouterr().err


def test_console_entry_point(tmp_path: Path) -> None:
    spec = gmf_spec()
    write_artifact(tmp_path / "m.mgqe", spec, random_arrays(spec))
    exe = Path(sys.executable).with_name("mgqe-artifact")
    proc = subprocess.run([str(exe), "verify", str(tmp_path / "m.mgqe")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    raw = (tmp_path / "m.mgqe").read_bytes()
    (tmp_path / "m.mgqe").write_bytes(raw[:-1])
    proc = subprocess.run([str(exe), "verify", str(tmp_path / "m.mgqe")], capture_output=True, text=True)
    assert proc.returncode == 1 and "TruncatedFileError" in proc.stderr


def test_inspect_reports_uint16_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = gmf_spec("mgqe_unshared_d")  # K = 1024: 10-bit codes, unshared centroids per group
    write_artifact(tmp_path / "m.mgqe", spec, random_arrays(spec))
    rc, out, _ = run(capsys, "inspect", str(tmp_path / "m.mgqe"), "--json")
    item = json.loads(out)["sizes"]["tables"]["item"]
    assert rc == 0 and {c["bits"] for c in item["codes"]} == {10}
    assert set(item["float_buffers"]) == {"item.centroids.g0", "item.centroids.g1"}
    assert np.isclose(item["payload_bytes"] * 8, item["table1_bits"] + item["code_byte_padding_bits"])
