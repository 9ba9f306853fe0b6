"""bench/bench_device.py (one real GMF epoch on CPU), its projection and `measured` arithmetic, every flag
error, and the two device scripts' refusals."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import torch

import bench_device as bd
from mgqe.trainer.config import config_hash
from mgqe.trainer.data.errors import DataError
from mgqe.trainer.data.loaders import resolve_data_dir
from mgqe.trainer.experiments.suite import METHODS, make_config

REPO = Path(__file__).resolve().parents[2]


def data_dir() -> str:
    try:
        return str(resolve_data_dir(os.environ.get("MGQE_DATA_DIR")))
    except DataError as e:  # this test trains on the real file: without it, a setup error, not a pass
        pytest.fail(f"bench_device test needs $MGQE_DATA_DIR with ml-1m: {e}")


def fake_cache(results: Path, backbone: str, method: str, seconds: list[float]) -> None:
    """Finished-cell records of the suite's (backbone, method) for seeds 0.. with these training times."""
    (results / "cache").mkdir(parents=True, exist_ok=True)
    for seed, s in enumerate(seconds):
        h = config_hash(make_config(backbone, METHODS[method], seed, {}))
        rec = {"seconds": s, "provenance": {"device": "cpu"}}
        (results / "cache" / f"{h}.json").write_text(json.dumps(rec))


def test_one_gmf_epoch_on_cpu_writes_json_markdown_and_projection(tmp_path: Path) -> None:
    results = tmp_path / "results"
    fake_cache(results, "gmf", "FE", [60.0, 180.0])
    js, md = tmp_path / "b.json", tmp_path / "b.md"
    argv = ["--backbones", "gmf", "--methods", "FE", "--devices", "cpu", "--epochs", "1", "--data-dir",
            data_dir(), "--results", str(results), "--out-json", str(js), "--out-md", str(md)]
    assert bd.main(argv) == 0
    res = json.loads(js.read_text())
    (row,) = res["rows"]
    assert (row["backbone"], row["method"], row["device"]) == ("gmf", "FE", "cpu")
    assert len(row["epoch_seconds"]) == 1 and row["epoch_s"] == row["epoch_seconds"][0] > 0
    # the suite's GMF cell: 20 epochs, validation after each, then valid + test
    assert (row["full_epochs"], row["full_evals"]) == (20, 22)
    assert row["projected_cell_s"] == pytest.approx(20 * row["epoch_s"] + 22 * row["eval_s"])
    assert row["measured"] == {"cells": 2, "mean_s": 120.0, "devices": ["cpu"]}
    text = md.read_text()
    assert "--epochs 1" in text and "| gmf | FE | cpu |" in text and "| 2.0 (2, cpu) |" in text
    md.unlink()
    assert bd.main(["--md-from-json", str(js), "--out-md", str(md)]) == 0
    assert md.read_text() == text


def test_median_leaves_the_first_epoch_out_and_cpu_ratio_per_device() -> None:
    rows = [{"backbone": "gmf", "method": "FE", "device": d, "epoch_s": s, "eval_s": 1.0, "full_epochs": 20,
             "full_evals": 22, "projected_cell_s": 600.0, "measured": None} for d, s in (("cpu", 8.0),
                                                                                         ("cuda:0", 0.5))]
    res = {"command": "c", "machine": {"cpu": "x", "cores": 2, "gpu": "G", "torch": "t"},
           "args": {"threads": 1, "epochs": 2}, "rows": rows}
    text = bd.markdown(res)
    assert "| gmf | FE | cpu | 8.00 | 1.00 | 20 | 22 | 10.0 | — | — |" in text
    assert "| gmf | FE | cuda:0 | 0.50 | 1.00 | 20 | 22 | 10.0 | — | 16.0x |" in text


@pytest.mark.parametrize(("epochs", "every", "passes"), [(20, 1, 22), (20, 5, 6), (200, 10, 22), (7, 5, 4)])
def test_n_evals_counts_every_kth_epoch_the_last_and_the_final_two(epochs: int, every: int,
                                                                    passes: int) -> None:
    assert bd.n_evals(make_config("gmf", METHODS["FE"], 0, {"epochs": epochs, "eval_every": every})) == passes


def test_auto_devices_add_cuda_when_torch_sees_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert bd.device_list("auto") == ["cpu", "cuda"]
    assert bd.device_list("cuda:1,cpu") == ["cuda:1", "cpu"]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert bd.device_list("auto") == ["cpu"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--devices", "tpu"], "unknown device 'tpu'"),
        (["--devices", "cuda:x"], "unknown device 'cuda:x'"),
        (["--devices", "cuda"], "torch sees no CUDA device here"),
        (["--devices", "cpu,cpu"], "names a device twice"),
        (["--devices", ","], "names no device"),
        (["--backbones", "relevance"], "--backbones: choose from gmf, neumf, sasrec"),
        (["--methods", "FE,Nope"], "--methods: choose from FE"),
        (["--epochs", "0"], "--epochs must be >= 1"),
        (["--threads", "0"], "--threads must be >= 1"),
        (["--md-from-json", "x.json"], "--md-from-json needs --out-md"),
    ],
)
def test_flag_errors(argv: list[str], message: str, monkeypatch: pytest.MonkeyPatch,
                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit) as e:
        bd.parse_args(argv)
    assert e.value.code == 2
    assert message in capsys.readouterr().err


def test_device_prepare_refuses_without_the_sasrec_file(tmp_path: Path) -> None:
    env = {**os.environ, "MGQE_DATA_DIR": str(tmp_path / "none")}
    before = sorted(p.name for p in REPO.iterdir())
    r = subprocess.run(["bash", str(REPO / "bench" / "device_prepare.sh")], env=env, capture_output=True,
                       text=True, check=False)
    assert r.returncode == 2 and "no SASRec file under" in r.stderr
    assert sorted(p.name for p in REPO.iterdir()) == before  # it stopped before making or removing anything


def test_device_bench_refuses_without_out(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OUT"}
    r = subprocess.run(["bash", str(REPO / "bench" / "device_bench.sh")], env=env, capture_output=True,
                       text=True, check=False, cwd=REPO)
    assert r.returncode != 0 and "set OUT to the folder the results go to" in r.stderr


def test_device_prepare_refuses_without_a_venv(tmp_path: Path) -> None:
    """The wheels it fetches pin the .venv's versions: a checkout without one is told how to make it."""
    (tmp_path / "bench").mkdir()
    script = tmp_path / "bench" / "device_prepare.sh"
    script.write_text((REPO / "bench" / "device_prepare.sh").read_text())
    r = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=False)
    assert r.returncode == 2 and "no .venv here (make test or make run creates it)" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench"]
