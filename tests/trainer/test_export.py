"""Export: a trained model written through proto.artifact reads back to the same tables, weights and ids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mgqe.proto.artifact import read_artifact
from mgqe.proto.sizes import embedding_payload_bytes
from mgqe.server.decode import build_table
from mgqe.trainer.config import from_dict
from mgqe.trainer.export import ExportError, export_artifact, flat_metrics, spec_of
from mgqe.trainer.models.factory import dense_state_dict
from mgqe.trainer.train import TrainResult, train_model

SYN = {"n_users": 80, "n_items": 50, "mean_length": 10.0}


def trained(tmp_path: Path, model: str, method: str) -> TrainResult:
    cfg = from_dict({"dataset": "synthetic", "data_kwargs": SYN, "model": model, "method": method, "d": 8,
                     "D": [4], "K": [8] if method == "dpq" else [8, 4], "rank": 3, "bits": 4, "epochs": 1,
                     "batch_size": 256, "max_len": 6, "progress": False, "out_dir": str(tmp_path / "run")})
    return train_model(cfg)


@pytest.mark.parametrize("method", ["fe", "lrf", "sq", "dpq", "mgqe"])
@pytest.mark.parametrize("model", ["gmf", "neumf", "sasrec"])
def test_artifact_round_trip(tmp_path: Path, model: str, method: str) -> None:
    r = trained(tmp_path, model, method)
    path = tmp_path / "m.mgqe"
    export_artifact(r.model, r.data, path, flat_metrics(r.metrics), r.provenance)
    art = read_artifact(path)
    h = art.header
    assert h.spec == r.spec == spec_of(r.model)
    assert h.metrics["test.hr@10"] == pytest.approx(r.metrics["test"]["hr@10"])
    assert h.provenance["config_hash"] == r.provenance["config_hash"]
    for name, emb in ((n, getattr(r.model, n)) for n in h.spec.tables):
        cfg = h.spec.tables[name]
        decoded = build_table(name, cfg, art.arrays).decode(np.arange(cfg.n))
        with torch.no_grad():
            want = emb(torch.arange(cfg.n)).numpy()
        np.testing.assert_allclose(decoded, want, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(art.arrays[f"vocab.{name}"], getattr(r.data, f"{name}_vocab"))
        table_bytes = sum(b.nbytes for b in h.buffers if b.name.startswith(f"{name}."))
        assert table_bytes == embedding_payload_bytes(cfg)
    dense = dense_state_dict(r.model)
    assert {b.name for b in h.buffers if b.name.startswith("dense.")} == {f"dense.{k}" for k in dense}
    for k, v in dense.items():
        np.testing.assert_array_equal(art.arrays[f"dense.{k}"], v.numpy())
    if model == "sasrec":  # no user table: a history query brings its own known items
        assert "known.indptr" not in art.arrays and "known.items" not in art.arrays
    else:  # each user's training items, for recommend's exclude_known
        np.testing.assert_array_equal(art.arrays["known.indptr"], r.data.train_indptr)
        np.testing.assert_array_equal(art.arrays["known.items"], r.data.train_items)


def test_spec_hparams(tmp_path: Path) -> None:
    assert spec_of(trained(tmp_path / "a", "neumf", "fe").model).hparams == {"mlp": [64, 32, 16]}
    assert spec_of(trained(tmp_path / "b", "sasrec", "fe").model).hparams == {"max_len": 6, "n_blocks": 2,
                                                                              "n_heads": 1}
    assert spec_of(trained(tmp_path / "c", "gmf", "fe").model).hparams == {"task": "ranking"}


def test_vocabulary_must_match_the_tables(tmp_path: Path) -> None:
    r = trained(tmp_path, "gmf", "fe")

    class Short:
        user_vocab = r.data.user_vocab[:-1]
        item_vocab = r.data.item_vocab

    with pytest.raises(ExportError, match="user vocabulary has"):
        export_artifact(r.model, Short(), tmp_path / "x.mgqe")

    class NoUsers:
        item_vocab = r.data.item_vocab

    with pytest.raises(ExportError, match="no user vocabulary"):
        export_artifact(r.model, NoUsers(), tmp_path / "x.mgqe")
    assert not (tmp_path / "x.mgqe").exists()


def test_unknown_backbone_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="cannot export a Linear"):
        export_artifact(torch.nn.Linear(2, 2), None, tmp_path / "x.mgqe")


def test_flat_metrics_drops_counts() -> None:
    assert flat_metrics({"test": {"hr@10": 1.5, "users": 3}}) == {"test.hr@10": 1.5}
