"""Pipeline config parsing, the quality gate, and the data policy (mgqe.trainer.pipeline); no training."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tomllib

from mgqe.proto import store as st
from mgqe.proto.artifact import write_artifact
from mgqe.proto.config import EmbeddingConfig, ModelSpec
from mgqe.trainer.config import ConfigError, TrainConfig
from mgqe.trainer.pipeline import (
    DataUnavailableError,
    GateConfig,
    check_gate,
    load_pipeline_config,
    parse_pipeline_config,
    published_metrics,
    resolve_training_data,
    with_overrides,
)

ROOT = Path(__file__).resolve().parents[2]


def _raw(**changes: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "pipeline": {"model_name": "m", "store": "s", "keep": 3},
        "gate": {"min": {"test.hr@10": 1.0}, "compare": {"valid.hr@10": "higher"}, "max_drop": 0.5},
        "train": {"model": "gmf", "dataset": "synthetic", "epochs": 1},
    }
    for k, v in changes.items():
        table, key = k.split("__")
        if v is None:
            raw[table].pop(key, None)
        else:
            raw[table][key] = v
    return raw


def test_main_config_loads() -> None:
    cfg = load_pipeline_config(ROOT / "configs" / "main.toml")
    assert cfg.model_name == "gmf-mgqe"
    assert cfg.train.model == "gmf" and cfg.train.method == "mgqe" and cfg.train.dataset == "ml-1m-sasrec"
    # the product trains MGQE in the form that matches full embedding in results/table3.md (MGQE ref-STE)
    from mgqe.trainer.experiments.suite import METHODS

    ref = METHODS["MGQE ref-STE"]
    assert (cfg.train.centroid_task_grad, cfg.train.centroid_loss) == (ref["centroid_task_grad"],
                                                                      ref["centroid_loss"])
    assert cfg.gate.min and cfg.gate.compare and cfg.gate.max_drop >= 0
    assert cfg.store == "store"


def test_parse_ok() -> None:
    cfg = parse_pipeline_config(_raw())
    assert (cfg.model_name, cfg.store, cfg.keep, cfg.download) == ("m", "s", 3, True)
    assert cfg.gate == GateConfig(min={"test.hr@10": 1.0}, compare={"valid.hr@10": "higher"}, max_drop=0.5)
    assert cfg.train.epochs == 1


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"pipeline__model_name": None}, "needs model_name"),
        ({"pipeline__model_name": "a/b"}, "invalid model name"),
        ({"pipeline__keep": 0}, "keep must be an integer >= 1"),
        ({"pipeline__keep": True}, "keep must be an integer >= 1"),
        ({"pipeline__store": 3}, "pipeline.store must be a string"),
        ({"pipeline__download": "yes"}, "download must be true or false"),
        ({"pipeline__colour": "red"}, "unknown key(s) ['colour'] in [pipeline]"),
        ({"gate__compare": {"valid.hr@10": "up"}}, 'must map metric names to "higher" or "lower"'),
        ({"gate__max_drop": -1}, "max_drop must be a number >= 0"),
        ({"gate__min": {"test.hr@10": "high"}}, "gate.min.test.hr@10 must be a finite number"),
        ({"gate__max": 3}, "gate.max must be a table"),
        ({"gate__strict": True}, "unknown key(s) ['strict'] in [gate]"),
        ({"train__epochs": 0}, "[train]: epochs must be >= 1"),
        ({"train__colour": 1}, "[train]: unknown config key(s) ['colour']"),
    ],
)
def test_parse_errors(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_pipeline_config(_raw(**changes), "cfg.toml")
    assert message in str(e.value) and "cfg.toml" in str(e.value)


def test_parse_table_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="missing \\[train\\]"):
        parse_pipeline_config({"pipeline": {"model_name": "m"}})
    with pytest.raises(ConfigError, match="unknown table\\(s\\) \\['extra'\\]"):
        parse_pipeline_config({**_raw(), "extra": {}})
    with pytest.raises(ConfigError, match="not found"):
        load_pipeline_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[pipeline\n")
    with pytest.raises(ConfigError, match="cannot parse"):
        load_pipeline_config(bad)


def test_overrides() -> None:
    cfg = parse_pipeline_config(_raw())
    out = with_overrides(cfg, train={"epochs": 3, "dataset": "ml-100k"}, store="other", model_name="x")
    assert (out.train.epochs, out.train.dataset, out.store, out.model_name) == (3, "ml-100k", "other", "x")
    with pytest.raises(ConfigError, match="command-line override: epochs must be >= 1"):
        with_overrides(cfg, train={"epochs": 0})
    with pytest.raises(st.InvalidNameError):
        with_overrides(cfg, model_name="../x")


# ---- gate ------------------------------------------------------------------------------------------------


GATE = GateConfig(min={"test.hr@10": 5.0}, max={"test.rmse": 1.0},
                  compare={"valid.hr@10": "higher", "test.rmse": "lower"}, max_drop=0.5)
NEW = {"test.hr@10": 6.0, "test.rmse": 0.9, "valid.hr@10": 7.0}


def test_gate_passes_first_publish() -> None:
    report, fail = check_gate(GATE, NEW, None, None)
    assert fail == []
    assert len(report) == 2 and all(line.startswith("ok") for line in report)


def test_gate_passes_within_margin() -> None:
    report, fail = check_gate(GATE, NEW, {"valid.hr@10": 7.4, "test.rmse": 0.5}, "v3")
    assert fail == [], report
    assert any("vs published v3" in line for line in report)


def test_gate_min_and_max_failures() -> None:
    _, fail = check_gate(GATE, {**NEW, "test.hr@10": 4.0, "test.rmse": 1.5}, None, None)
    assert fail == ["test.hr@10 = 4.0000 is below the minimum 5", "test.rmse = 1.5000 is above the maximum 1"]


def test_gate_regression_failures() -> None:
    report, fail = check_gate(GATE, NEW, {"valid.hr@10": 7.6, "test.rmse": 0.3}, "v3")
    assert len(fail) == 2
    assert "valid.hr@10 = 7.0000 is 0.6000 worse than the published v3 (7.6000)" in fail[0]
    assert "test.rmse = 0.9000 is 0.6000 worse than the published v3 (0.3000)" in fail[1]
    assert sum(line.startswith("FAIL") for line in report) == 2


def test_gate_missing_metric_is_a_failure() -> None:
    _, fail = check_gate(GateConfig(min={"test.auc": 0.5}), NEW, None, None)
    assert fail and "metric test.auc is not produced by this run" in fail[0]


def test_gate_skips_metric_the_published_version_lacks() -> None:
    report, fail = check_gate(GATE, NEW, {"test.rmse": 0.9}, "v1")
    assert fail == []
    assert any(line.startswith("skip valid.hr@10") for line in report)


def _artifact(path: Path, metrics: dict[str, float]) -> Path:
    d = 8
    tables = {"user": EmbeddingConfig.fe(3, d), "item": EmbeddingConfig.fe(4, d)}
    spec = ModelSpec(model_type="gmf", d=d, tables=tables, hparams={"task": "ranking"})
    rng = np.random.default_rng(0)
    arrays: dict[str, np.ndarray] = {"user.weight": rng.standard_normal((3, d)).astype(np.float32),
              "item.weight": rng.standard_normal((4, d)).astype(np.float32),
              "vocab.user": np.arange(3, dtype=np.int64), "vocab.item": np.arange(4, dtype=np.int64) + 10,
              "dense.out.weight": np.ones((1, d), np.float32), "dense.out.bias": np.zeros(1, np.float32)}
    write_artifact(path, spec, arrays, metrics=metrics)
    return path


def test_published_metrics(tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert published_metrics(store, "m")[:2] == (None, None)
    assert "no published version" in published_metrics(store, "m")[2]
    st.publish(store, "m", _artifact(tmp_path / "a.mgqe", {"valid.hr@10": 7.5}))
    assert published_metrics(store, "m") == ("v1", {"valid.hr@10": 7.5}, "compared with published v1")


def test_published_metrics_unreadable_current(tmp_path: Path) -> None:
    store = tmp_path / "store"
    st.publish(store, "m", _artifact(tmp_path / "a.mgqe", {"valid.hr@10": 7.5}))
    (store / "m" / "v1" / "model.mgqe").write_bytes(b"garbage")
    version, metrics, note = published_metrics(store, "m")
    assert (version, metrics) == ("v1", None) and "could not be read" in note


# ---- data policy ---------------------------------------------------------------------------------------


def _ratings_dat(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [f"{u}::{i}::5::{1000 + 10 * u + i}" for u in range(1, 6) for i in range(1, 8)]
    (folder / "ratings.dat").write_text("\n".join(lines) + "\n")


def test_synthetic_is_used_only_when_named() -> None:
    logs: list[str] = []
    cfg = TrainConfig(dataset="synthetic")
    assert resolve_training_data(cfg, True, logs.append) is cfg
    assert "synthetic" in logs[0]


def test_dataset_found_in_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _ratings_dat(tmp_path / "ml-1m")
    monkeypatch.setenv("MGQE_DATA_DIR", str(tmp_path))
    logs: list[str] = []
    out = resolve_training_data(TrainConfig(dataset="ml-1m"), True, logs.append,
                                downloader=lambda *a: pytest.fail("must not download"))
    assert out.dataset == "ml-1m" and "ratings.dat" in logs[0]


def test_missing_data_offline_names_every_way(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MGQE_DATA_DIR", str(tmp_path))
    from mgqe.trainer.data import DataError

    def offline(archive: str, target: Path) -> None:
        raise DataError(f"cannot reach files.grouplens.org for {archive}")

    with pytest.raises(DataUnavailableError) as e:
        resolve_training_data(TrainConfig(dataset="ml-1m-sasrec"), True, lambda m: None, downloader=offline)
    msg = str(e.value)
    for needle in ("MGQE_DATA_DIR", "mgqe-train data download movielens-1m", "--dataset synthetic",
                   "cannot reach files.grouplens.org"):
        assert needle in msg, needle


def test_missing_data_downloads_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MGQE_DATA_DIR", str(tmp_path))
    with pytest.raises(DataUnavailableError, match="downloads are off"):
        resolve_training_data(TrainConfig(dataset="ml-1m"), False, lambda m: None,
                              downloader=lambda *a: pytest.fail("must not download"))


def test_no_data_dir_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MGQE_DATA_DIR", raising=False)
    with pytest.raises(DataUnavailableError, match="--dataset synthetic"):
        resolve_training_data(TrainConfig(dataset="ml-1m"), False, lambda m: None)


def test_undownloadable_dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MGQE_DATA_DIR", str(tmp_path))
    with pytest.raises(DataUnavailableError, match="unknown dataset"):
        resolve_training_data(TrainConfig(dataset="netflix"), True, lambda m: None)


def test_download_then_sasrec_falls_back_loudly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MGQE_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    calls: list[tuple[str, Path]] = []

    def fake_download(archive: str, target: Path) -> None:
        calls.append((archive, target))
        _ratings_dat(target / "ml-1m")

    logs: list[str] = []
    cfg = TrainConfig(dataset="ml-1m-sasrec")
    out = resolve_training_data(cfg, True, logs.append, downloader=fake_download)
    target = tmp_path / "cache" / "mgqe" / "data"
    assert calls == [("movielens-1m", target)]
    assert (out.dataset, out.data_dir) == ("ml-1m", str(target))
    assert any(line.startswith("NOTICE: ml-1m-sasrec is not distributed") for line in logs)
    # a second run finds the earlier download and does not fetch again
    again = resolve_training_data(TrainConfig(dataset="ml-1m-sasrec"), True, logs.append,
                                  downloader=lambda *a: pytest.fail("downloaded twice"))
    assert again.dataset == "ml-1m"


def test_toml_of_docs_example_parses() -> None:
    raw = tomllib.loads((ROOT / "configs" / "main.toml").read_text())
    assert parse_pipeline_config(raw).train == load_pipeline_config(ROOT / "configs" / "main.toml").train
