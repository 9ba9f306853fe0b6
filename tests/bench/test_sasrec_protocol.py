"""bench/sasrec_protocol.py on a tiny SASRec trained on synthetic data: the project's rule reproduces the
cached metrics, looser rules only lower them, and every ProtocolError has its own test."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import sasrec_protocol as sp
from mgqe.trainer.config import from_dict
from mgqe.trainer.experiments.cells import run_cell

SYN = {"n_users": 60, "n_items": 40, "mean_length": 12.0}


def tiny(model: str = "sasrec", seed: int = 0) -> Any:
    return from_dict({"dataset": "synthetic", "data_kwargs": SYN, "model": model, "method": "fe", "d": 8,
                      "max_len": 6, "epochs": 2, "batch_size": 32, "progress": False, "seed": seed})


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A results directory with two finished tiny SASRec cells and the table4.json that names them."""
    res = tmp_path_factory.mktemp("results")
    hashes = [run_cell(tiny(seed=s), res)["config_hash"] for s in (0, 1)]
    rows = [{"group": "sasrec", "row": "FE", "config_hashes": hashes},
            {"group": "sasrec", "row": "SQ", "config_hashes": []}]
    (res / "table4.json").write_text(json.dumps({"rows": rows}))
    return res


def copy(results: Path, tmp_path: Path) -> Path:
    out = tmp_path / "results"
    shutil.copytree(results, out)
    return out


def sp_hash(results: Path) -> str:
    return json.loads((results / "table4.json").read_text())["rows"][0]["config_hashes"][0]


def test_project_rule_reproduces_the_cache_and_looser_rules_rank_lower(results: Path) -> None:
    res = sp.measure(results, ["FE"], None)["FE"]
    assert len(res["seeds"]) == 2 and res["skipped_no_checkpoint"] == []
    for seed in res["seeds"]:
        cached = json.loads((results / "cache" / f"{seed['config_hash']}.json").read_text())["metrics"]
        for w in ("valid", "test"):
            assert seed[w]["earlier"]["hr@10"] == pytest.approx(cached[w]["hr@10"], abs=1e-9)
            # the input sequence is a subset of the user's earlier items: fewer masked, never a better rank
            for k in ("hr@10", "ndcg@10"):
                assert seed[w]["earlier"][k] >= seed[w]["input"][k] >= seed[w]["none"][k]
    assert res["mean"]["test"]["none"]["hr@10"]["n"] == 2


def test_the_dataset_is_read_once_for_all_cells(results: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mgqe.trainer.train as train

    calls: list[int] = []
    real = train.load_data

    def counted(cfg: Any) -> Any:
        calls.append(cfg.seed)
        return real(cfg)

    monkeypatch.setattr(train, "load_data", counted)
    assert len(sp.measure(results, ["FE"], None)["FE"]["seeds"]) == 2
    assert calls == [0]  # the first cell's config loads it; the second cell reuses it


def test_mask_coords_per_rule(results: Path) -> None:
    _, split, obj = sp.load_run(results / "runs" / sp_hash(results), None)
    users = np.arange(3)
    rows, cols = sp.mask_coords("input", split, obj.test_seq, users, "test")
    assert sorted(cols[rows == 0].tolist()) == sorted(x for x in obj.test_seq[0] if x < split.n_items)
    assert sp.mask_coords("none", split, obj.test_seq, users, "test")[0].size == 0
    rows, cols = sp.mask_coords("earlier", split, obj.test_seq, users, "test")
    assert split.valid[0] in cols[rows == 0]  # the validation item is known at test time
    rows, cols = sp.mask_coords("earlier", split, obj.valid_seq, users, "valid")
    assert split.valid[0] not in cols[rows == 0]


def test_a_cell_without_checkpoint_is_skipped_and_listed(results: Path, tmp_path: Path) -> None:
    res = copy(results, tmp_path)
    shutil.rmtree(res / "runs" / sp_hash(res))
    out = sp.measure(res, ["FE"], None)["FE"]
    assert out["skipped_no_checkpoint"] == [sp_hash(res)] and len(out["seeds"]) == 1


def test_error_missing_report(tmp_path: Path) -> None:
    with pytest.raises(sp.ProtocolError, match=r"table4\.json not found"):
        sp.measure(tmp_path, ["FE"], None)


def test_error_unknown_row(results: Path) -> None:
    with pytest.raises(sp.ProtocolError, match=r"table4 has no row \['FEE'\]; its rows: \['FE', 'SQ'\]"):
        sp.measure(results, ["FEE"], None)


def test_error_row_without_finished_cell(results: Path) -> None:
    with pytest.raises(sp.ProtocolError, match="row 'SQ' has no finished cell"):
        sp.measure(results, ["SQ"], None)


def test_error_no_checkpoint_at_all(results: Path, tmp_path: Path) -> None:
    res = copy(results, tmp_path)
    shutil.rmtree(res / "runs")
    with pytest.raises(sp.ProtocolError, match="no checkpoint of its cells"):
        sp.measure(res, ["FE"], None)


def test_error_run_without_config(results: Path, tmp_path: Path) -> None:
    res = copy(results, tmp_path)
    (res / "runs" / sp_hash(res) / "config.json").unlink()
    with pytest.raises(sp.ProtocolError, match=r"has no config\.json"):
        sp.measure(res, ["FE"], None)


def test_error_not_a_sasrec_run(tmp_path: Path) -> None:
    rec = run_cell(tiny(model="gmf"), tmp_path)
    with pytest.raises(sp.ProtocolError, match="is a gmf run"):
        sp.load_run(tmp_path / "runs" / rec["config_hash"], None)


def test_error_cache_disagrees(results: Path, tmp_path: Path) -> None:
    res = copy(results, tmp_path)
    p = res / "cache" / f"{sp_hash(res)}.json"
    rec = json.loads(p.read_text())
    rec["metrics"]["valid"]["hr@10"] += 1.0
    p.write_text(json.dumps(rec))
    with pytest.raises(sp.ProtocolError, match="valid hr@10 under the project's rule is"):
        sp.measure(res, ["FE"], None)


def test_main_writes_both_files_and_reports_errors(results: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "proto"
    assert sp.main(["--results", str(results), "--rows", "FE", "--out", str(out)]) == 0
    data = json.loads(out.with_suffix(".json").read_text())
    assert data["command"].endswith(f"--rows FE --out {out}") and "FE" in data["rows"]
    assert "| FE | test | earlier |" in out.with_suffix(".md").read_text()
    assert sp.main(["--results", str(tmp_path), "--out", str(out)]) == 2
    assert "error: " in capsys.readouterr().err
    with pytest.raises(SystemExit):
        sp.main(["--rows", " , "])
