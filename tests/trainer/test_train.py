"""Training loop, config handling and the `mgqe-train train` command, on tiny synthetic data (seconds)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mgqe.trainer import objectives
from mgqe.trainer.cli import main
from mgqe.trainer.config import ConfigError, TrainConfig, config_hash, from_dict, load_config
from mgqe.trainer.embeddings import QuantizedEmbedding
from mgqe.trainer.objectives import PairData
from mgqe.trainer.train import make_optimizer, model_size, train_model

SYN = {"n_users": 120, "n_items": 60, "mean_length": 12.0}


def tiny(tmp_path: Path, **kw: object) -> TrainConfig:
    base: dict[str, object] = {"dataset": "synthetic", "data_kwargs": SYN, "d": 8, "D": [4], "K": [8, 4],
                               "epochs": 2, "batch_size": 256, "progress": False, "max_len": 10,
                               "out_dir": str(tmp_path / "run")}
    return from_dict({**base, **kw})


@pytest.mark.parametrize(("model", "method"), [("gmf", "mgqe"), ("neumf", "dpq"), ("sasrec", "mgqe"),
                                               ("gmf", "sq"), ("gmf", "lrf")])
def test_train_end_to_end_writes_logs_and_checkpoints(tmp_path: Path, model: str, method: str) -> None:
    cfg = tiny(tmp_path, model=model, method=method, rank=4, K=[8] if method == "dpq" else [8, 4])
    r = train_model(cfg)
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [1, 2]
    assert all("hr@10" in json.loads(x)["valid"] for x in lines)
    for f in ("last.pt", "best.pt", "state.json", "config.json", "result.json"):
        assert (tmp_path / "run" / f).is_file()
    for split in ("valid", "test"):
        assert 0.0 <= r.metrics[split]["hr@10"] <= 100.0
        assert r.metrics[split]["ndcg@10"] <= r.metrics[split]["hr@10"]
    assert r.best_epoch in (1, 2)
    assert not r.model.training
    assert r.provenance["config_hash"] == config_hash(cfg)
    assert "SYNTHETIC" in r.provenance["dataset"]


def test_quantized_model_evaluates_on_its_codes(tmp_path: Path) -> None:
    r = train_model(tiny(tmp_path, method="mgqe"))
    item = r.model.item
    assert isinstance(item, QuantizedEmbedding)
    tail = item.cfg.groups[1]
    arrays = item.export_arrays("item")
    assert arrays["item.codes.g1"].max() < tail.K  # tail rows only use the first K_tail centroids
    # the evaluated embedding is exactly the decode of the exported codes
    C, codes = arrays["item.centroids"], np.concatenate([arrays["item.codes.g0"], arrays["item.codes.g1"]])
    decoded = C[np.arange(C.shape[0])[None, :], codes].reshape(codes.shape[0], -1)
    with torch.no_grad():
        np.testing.assert_allclose(item(torch.arange(item.cfg.n)).numpy(), decoded, rtol=1e-6, atol=1e-6)


def test_resume_continues_where_it_stopped(tmp_path: Path) -> None:
    straight = train_model(tiny(tmp_path / "a", epochs=3))
    first = tiny(tmp_path / "b", epochs=3)
    # stop after epoch 2 by training a config whose only difference is the epoch count, then resume
    part = train_model(first.replace(epochs=2))
    state = json.loads((tmp_path / "b" / "run" / "state.json").read_text())
    state["config_hash"] = config_hash(first)  # the interrupted run of `first` would have left this state
    (tmp_path / "b" / "run" / "state.json").write_text(json.dumps(state))
    resumed = train_model(first, resume=True)
    assert len(part.history) == 2
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3]
    assert resumed.history[2]["loss"] == pytest.approx(straight.history[2]["loss"], rel=1e-4)
    assert resumed.metrics["test"]["hr@10"] == pytest.approx(straight.metrics["test"]["hr@10"], abs=1e-9)


def test_resume_refuses_a_different_config(tmp_path: Path) -> None:
    train_model(tiny(tmp_path, epochs=1))
    with pytest.raises(ConfigError, match="cannot resume"):
        train_model(tiny(tmp_path, epochs=1, lr=0.01), resume=True)


def test_early_stopping_stops_after_patience(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scores = iter([5.0, 4.0, 3.0, 2.0, 1.0, 0.5, 0.4, 0.3])

    def falling(self: object, model: object, which: str, device: object, eval_batch: int = 0) -> dict:
        return {"hr@10": next(scores), "ndcg@10": 0.0}

    monkeypatch.setattr(objectives.PointwiseRanking, "evaluate", falling)
    r = train_model(tiny(tmp_path, epochs=8, patience=2))
    assert [h["epoch"] for h in r.history] == [1, 2, 3]
    assert r.best_epoch == 1


def test_regression_task_on_pairs(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 40
    f = rng.normal(size=n)

    def pairs(m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        a, b = rng.integers(0, n, m), rng.integers(0, n, m)
        return a, b, (10 * f[a] * f[b]).astype(np.float32)

    data = PairData("toy", pairs(4000), pairs(500), n, n, np.arange(n), np.arange(n))
    cfg = tiny(tmp_path, model="relevance", task="relevance", method="fe", epochs=30, batch_size=256, lr=0.01)
    r = train_model(cfg, data=data)
    baseline = float(np.sqrt(np.mean((data.test[2] - data.train[2].mean()) ** 2)))
    assert r.metrics["test"]["rmse"] < 0.5 * baseline
    assert set(r.spec.tables) == {"item"}


def test_model_size_against_table1() -> None:
    cfg = TrainConfig(method="sq", d=64, bits=8)
    s = model_size(cfg.model_spec(100, 50), dense=65)
    fe = 32 * 64 * 150 + 32 * 65
    assert s["fe_bits"] == fe
    assert s["bits"] == 150 * 64 * 8 + 2 * 2 * 32 * 64 + 32 * 65
    assert s["percent"] == pytest.approx(100 * s["bits"] / fe)


# ---- config ---------------------------------------------------------------------------------------


def test_config_file_toml_and_json(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text('[train]\nmodel = "neumf"\nK = [256, 16]\nlr = 0.002\n')
    (tmp_path / "c.json").write_text(json.dumps({"model": "neumf", "K": [256, 16], "lr": 0.002}))
    a, b = load_config(tmp_path / "c.toml"), load_config(tmp_path / "c.json")
    assert a == b and a.K == (256, 16) and a.model == "neumf"
    assert config_hash(a) == config_hash(b.replace(out_dir="elsewhere", device="cpu", threads=2))
    assert config_hash(a) != config_hash(a.replace(seed=1))
    # a field added later is hashed only away from the value every earlier run had (old cells keep hashes)
    assert config_hash(a) == config_hash(from_dict({k: v for k, v in a.to_dict().items()
                                                    if k != "centroid_task_grad"}))
    assert config_hash(a) != config_hash(a.replace(centroid_task_grad=False, centroid_loss=1.0))
    assert config_hash(a.replace(centroid_loss=1.0)) != config_hash(
        a.replace(centroid_task_grad=False, centroid_loss=1.0))


@pytest.mark.parametrize(("raw", "match"), [
    ({"modle": "gmf"}, "unknown config key"),
    ({"epochs": "20"}, "epochs must be an integer"),
    ({"epochs": 0}, "epochs must be >= 1"),
    ({"lr": True}, "lr must be a number"),
    ({"method": "pq"}, "method='pq'"),
    ({"model": "sasrec", "task": "rating"}, "does not support task"),
    ({"head": [0.5, 0.2]}, "head must be increasing"),
    ({"dropout": 1.0}, "dropout"),
    ({"compress_users": 1}, "true or false"),
    ({"data_kwargs": 3}, "table/object"),
    ({"method": "mgqe", "centroid_task_grad": False}, "nothing trains the centroids"),
    ({"model": "sasrec", "pos_init_std": "0.01"}, "pos_init_std must be a number or null"),
    ({"model": "sasrec", "pos_init_std": 0}, "pos_init_std=0.0 is for sasrec's positional .* must be > 0"),
    ({"model": "gmf", "pos_init_std": 0.01}, r"pos_init_std=0.01 is for sasrec.*model='gmf'"),
    ({"adam_beta2": 1.0}, r"adam_beta2 must be in \[0, 1\), got 1.0"),
    ({"adam_beta2": "0.98"}, "adam_beta2 must be a number"),
])
def test_config_errors(raw: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        from_dict(raw)


def test_config_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.toml")
    (tmp_path / "bad.toml").write_text("model = ")
    with pytest.raises(ConfigError, match="cannot parse"):
        load_config(tmp_path / "bad.toml")


def test_mgqe_group_count_must_match(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs 1 or 2 values"):
        TrainConfig(method="mgqe", K=(256, 64, 16)).model_spec(100, 100)


# ---- command line ---------------------------------------------------------------------------------


def test_cli_train_and_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "c.json").write_text(json.dumps({"dataset": "synthetic", "data_kwargs": SYN, "d": 8, "D": [4],
                                                 "K": [8, 4], "batch_size": 512}))
    art = tmp_path / "m.mgqe"
    rc = main(["train", "--config", str(tmp_path / "c.json"), "--method", "mgqe", "--epochs", "1",
               "--out-dir", str(tmp_path / "run"), "--export", str(art), "--no-progress"])
    assert rc == 0 and art.is_file()
    out = json.loads(capsys.readouterr().out.splitlines()[0])
    assert out["best_epoch"] == 1 and "hr@10" in out["metrics"]["test"]
    assert main(["export", str(tmp_path / "run"), str(tmp_path / "again.mgqe")]) == 0
    from mgqe.proto.artifact import read_artifact

    a, b = read_artifact(art), read_artifact(tmp_path / "again.mgqe")
    assert a.header.spec == b.header.spec
    np.testing.assert_array_equal(a.arrays["item.codes.g1"], b.arrays["item.codes.g1"])


def test_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--method", "pq", "--out-dir", str(tmp_path)]) == 2
    assert "method='pq'" in capsys.readouterr().err
    assert main(["train", "--set", "nokey", "--out-dir", str(tmp_path)]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "nothing"), str(tmp_path / "x.mgqe")]) == 2
    assert "not a finished run directory" in capsys.readouterr().err


def test_optimizer_takes_lr_weight_decay_and_beta2_from_the_config() -> None:
    """adam_beta2 reaches Adam; its default is torch's, so runs made before the field trained the same."""
    model = torch.nn.Linear(2, 2)
    got = make_optimizer(model, TrainConfig(lr=0.01, weight_decay=0.1, adam_beta2=0.98)).defaults
    assert (got["lr"], got["weight_decay"], got["betas"]) == (0.01, 0.1, (0.9, 0.98))
    default = make_optimizer(model, TrainConfig()).defaults["betas"]
    assert default == torch.optim.Adam(model.parameters()).defaults["betas"] == (0.9, 0.999)
