"""bench/gmf_reference.py: its split, one tiny run, and one test per named CLI error."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

import gmf_reference as ref  # bench/ is on pytest's pythonpath (pyproject.toml)

ROOT = Path(__file__).resolve().parents[2]




def _write_sasrec(path: Path, n_users: int = 30, n_items: int = 25, seed: int = 0) -> list[list[int]]:
    """A small SASRec-format file (1-based `user item` lines); returns each user's 0-based item sequence."""
    rng = np.random.default_rng(seed)
    seqs = [list(rng.choice(n_items, size=int(rng.integers(2, 9)), replace=False)) for _ in range(n_users)]
    seqs[0][0] = n_items - 1  # every item id up to n_items - 1 occurs, so n_items is known
    lines = [f"{u + 1} {i + 1}" for u, s in enumerate(seqs) for i in s]
    with gzip.open(path, "wt") as f:
        f.write("\n".join(lines) + "\n")
    return seqs


def test_split_is_leave_last_out(tmp_path: Path) -> None:
    seqs = _write_sasrec(tmp_path / "d.txt.gz")
    s = ref.load_split(tmp_path / "d.txt.gz")
    assert (s["n_users"], s["n_items"]) == (len(seqs), max(max(q) for q in seqs) + 1)
    for u, q in enumerate(seqs):
        held = len(q) >= 3
        assert s["test"][u] == (q[-1] if held else -1)
        assert s["valid"][u] == (q[-2] if held else -1)
        assert list(s["ti"][s["tu"] == u]) == (q[:-2] if held else q)


def test_reference_run_appends_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_sasrec(tmp_path / "d.txt.gz")
    out = tmp_path / "runs.json"
    args = ["reference", "--data", str(tmp_path / "d.txt.gz"), "--epochs", "2", "--d", "8",
            "--batch-size", "64", "--json-out", str(out), "--label", "tiny"]
    assert ref.main(args) == 0 and ref.main(args) == 0
    runs = json.loads(out.read_text())
    assert [r["label"] for r in runs] == ["tiny", "tiny"]
    assert runs[0]["test"] == runs[1]["test"]  # seeded: the same flags give the same numbers
    best = max(runs[0]["history"], key=lambda h: (h["valid"]["hr@10"], -h["epoch"]))
    assert runs[0]["best_epoch"] == best["epoch"] and runs[0]["test"] == best["test"]
    assert 0.0 <= runs[0]["test"]["hr@10"] <= 100.0


def test_out_init_lecun_range() -> None:
    import torch

    layer = torch.nn.Linear(64, 1)
    ref.init_out(layer, "lecun")
    w, b = layer.weight.detach(), layer.bias.detach()
    assert float(w.abs().max()) <= (3 / 64) ** 0.5 and float(b.abs().max()) == 0.0
    with pytest.raises(ref.ReferenceError, match="--out-init 'bad'"):
        ref.init_out(layer, "bad")


@pytest.mark.parametrize("flag,value,msg", [
    ("--epochs", "0", "--epochs must be >= 1"),
    ("--batch-size", "0", "--batch-size must be >= 1"),
    ("--lr", "0", "--lr must be > 0"),
    ("--init-std", "-1", "--init-std must be > 0"),
])
def test_bad_numbers(flag: str, value: str, msg: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert ref.main(["reference", flag, value]) == 2
    assert msg in capsys.readouterr().err


def test_missing_data_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert ref.main(["reference", "--data", str(tmp_path / "nope.txt")]) == 2
    assert "file not found" in capsys.readouterr().err


def test_malformed_data_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "odd.txt").write_text("1 2\n3\n")
    assert ref.main(["reference", "--data", str(tmp_path / "odd.txt")]) == 2
    assert "'user item' integer pairs" in capsys.readouterr().err


def test_json_out_not_a_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "o.json").write_text('{"a": 1}')
    assert ref.main(["reference", "--json-out", str(tmp_path / "o.json")]) == 2
    assert "not a JSON list" in capsys.readouterr().err
    (tmp_path / "o.json").write_text("{")
    assert ref.main(["reference", "--json-out", str(tmp_path / "o.json")]) == 2
    assert "not valid JSON" in capsys.readouterr().err


def test_trainer_bad_set(capsys: pytest.CaptureFixture[str]) -> None:
    assert ref.main(["trainer", "--set", "K"]) == 2
    assert "--set 'K': expected KEY=JSON" in capsys.readouterr().err
    assert ref.main(["trainer", "--set", "nonsense_key=1"]) == 2
    assert "unknown config key" in capsys.readouterr().err


def test_bad_out_init_choice(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        ref.main(["reference", "--out-init", "zeros"])
    assert "invalid choice" in capsys.readouterr().err


def _run_record(label: str, seed: int, hr: float) -> dict[str, object]:
    m = {"hr@10": hr, "ndcg@10": hr / 2}
    return {"label": label, "flags": {"seed": seed}, "best_epoch": 1, "valid": m, "test": m,
            "command": "x", "history": [{"epoch": 1, "valid": m, "test": m}]}


def test_report_fills_placeholders(tmp_path: Path) -> None:
    hrs = [7.0, 7.5]
    (tmp_path / "r.json").write_text(json.dumps([_run_record("a b", s, h) for s, h in enumerate(hrs)]))
    (tmp_path / "n.md").write_text("A is {{mean:a b}}.\n")
    assert ref.main(["report", "--runs", str(tmp_path / "r.json"), "--notes", str(tmp_path / "n.md"),
                     "--md-out", str(tmp_path / "o.md")]) == 0
    md = (tmp_path / "o.md").read_text()
    expected = f"{np.mean(hrs):.2f} ± {np.std(hrs, ddof=1):.2f} (n=2)"
    assert f"A is {expected}." in md and md.count("| a b |") == 3  # summary row + two run rows


def test_report_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    md = str(tmp_path / "o.md")
    assert ref.main(["report", "--runs", str(tmp_path / "none.json"), "--md-out", md]) == 2
    assert "file not found" in capsys.readouterr().err
    (tmp_path / "d.json").write_text("{}")
    assert ref.main(["report", "--runs", str(tmp_path / "d.json"), "--md-out", md]) == 2
    assert "not a JSON list" in capsys.readouterr().err
    (tmp_path / "r.json").write_text(json.dumps([_run_record("a", 0, 7.0)]))
    (tmp_path / "n.md").write_text("{{mean:zzz}}")
    assert ref.main(["report", "--runs", str(tmp_path / "r.json"), "--notes", str(tmp_path / "n.md"),
                     "--md-out", md]) == 2
    assert "label 'zzz'" in capsys.readouterr().err


def test_trainer_bad_centroid_flags(capsys: pytest.CaptureFixture[str]) -> None:
    assert ref.main(["trainer", "--centroid-lr-mult", "0"]) == 2
    assert "--centroid-lr-mult must be > 0" in capsys.readouterr().err
    assert ref.main(["trainer", "--centroid-std", "-0.1"]) == 2
    assert "--centroid-std must be > 0" in capsys.readouterr().err


def test_cached_cell_record(tmp_path: Path) -> None:
    m = {"valid": {"hr@10": 7.0, "ndcg@10": 3.0}, "test": {"hr@10": 6.5, "ndcg@10": 2.9}}
    cell = {"config": {"seed": 3}, "metrics": m, "best_epoch": 2,
            "history": [{"epoch": e, "loss": 0.5, "valid": m["valid"]} for e in (1, 2)]}
    (tmp_path / "c.json").write_text(json.dumps(cell))
    out = tmp_path / "runs.json"
    args = ["cached", "--cell", str(tmp_path / "c.json"), "--label", "c", "--json-out", str(out)]
    assert ref.main(args) == 0
    (rec,) = json.loads(out.read_text())
    assert (rec["flags"]["seed"], rec["best_epoch"], rec["test"]) == (3, 2, m["test"])


def test_cached_cell_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert ref.main(["cached", "--cell", str(tmp_path / "none.json")]) == 2
    assert "file not found" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text('{"config": {}}')
    assert ref.main(["cached", "--cell", str(tmp_path / "bad.json")]) == 2
    assert "not an experiment cell" in capsys.readouterr().err


def test_report_diff_placeholder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = [_run_record("a", 0, 7.0), _run_record("a", 1, 8.0), _run_record("b", 0, 6.0)]
    (tmp_path / "r.json").write_text(json.dumps(runs))
    (tmp_path / "n.md").write_text("gain {{diff:a|b}}\n")
    args = ["report", "--runs", str(tmp_path / "r.json"), "--notes", str(tmp_path / "n.md"),
            "--md-out", str(tmp_path / "o.md")]
    assert ref.main(args) == 0
    assert f"gain {np.mean([7.0, 8.0]) - 6.0:+.2f}" in (tmp_path / "o.md").read_text()
    (tmp_path / "n.md").write_text("{{diff:a|zzz}}")
    assert ref.main(args) == 2
    assert "need two labels 'A|B'" in capsys.readouterr().err


def test_report_false_negative_share(tmp_path: Path) -> None:
    seqs = _write_sasrec(tmp_path / "d.txt.gz")
    (tmp_path / "r.json").write_text(json.dumps([_run_record("a", 0, 7.0)]))
    (tmp_path / "n.md").write_text("share {{false_neg_share}}\n")
    assert ref.main(["report", "--runs", str(tmp_path / "r.json"), "--notes", str(tmp_path / "n.md"),
                     "--md-out", str(tmp_path / "o.md"), "--data", str(tmp_path / "d.txt.gz")]) == 0
    n_train = np.array([len(q) - 2 if len(q) >= 3 else len(q) for q in seqs], float)
    n_items = max(max(q) for q in seqs) + 1
    expected = 100 * (n_train**2).sum() / (n_items * n_train.sum())  # P(uniform negative is a positive)
    assert f"share {expected:.1f}%" in (tmp_path / "o.md").read_text()


def test_diag_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    assert ref.main(["diag", "--checkpoint", str(tmp_path / "none.pt")]) == 2
    assert "file not found" in capsys.readouterr().err
    torch.save({"user.weight": torch.zeros(2, 4), "out.weight": torch.zeros(1, 4)}, tmp_path / "fe.pt")
    assert ref.main(["diag", "--checkpoint", str(tmp_path / "fe.pt")]) == 2
    assert "not a GMF with shared-centroid" in capsys.readouterr().err


def test_report_renders_diag_records(tmp_path: Path) -> None:
    diag = {"label": "ck", "kind": "diag", "command": "c", "rel_quant_error": {"user": [0.1, 0.4],
            "item": [0.05, 0.3]}, "hr@10": {k: {"valid": 8.0, "test": 7.0} for k in
            ("decoded", "full weights", "full users, decoded items")}}
    (tmp_path / "r.json").write_text(json.dumps([_run_record("a", 0, 7.0), diag]))
    assert ref.main(["report", "--runs", str(tmp_path / "r.json"), "--md-out", str(tmp_path / "o.md")]) == 0
    md = (tmp_path / "o.md").read_text()
    assert "| ck | 0.100 / 0.400 | 0.050 / 0.300 | — | — | 8.00 / 7.00 |" in md and md.count("| a |") == 2


def test_report_diag_placeholder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    diag = {"label": "ck", "kind": "diag", "command": "c", "rel_quant_error": {"user": [0.1, 0.4],
            "item": [0.05, 0.3]}, "hr@10": {k: {"valid": 8.0, "test": 7.126} for k in
            ("decoded", "full weights", "full users, decoded items")}}
    (tmp_path / "r.json").write_text(json.dumps([_run_record("a", 0, 7.0), diag]))
    notes = "tail {{diag:ck|rel_quant_error|user|1}}, HR {{diag:ck|hr@10|decoded|test}}\n"
    (tmp_path / "n.md").write_text(notes)
    args = ["report", "--runs", str(tmp_path / "r.json"), "--notes", str(tmp_path / "n.md"),
            "--md-out", str(tmp_path / "o.md")]
    assert ref.main(args) == 0
    assert "tail 0.400, HR 7.13" in (tmp_path / "o.md").read_text()  # formatted as in the diag table
    for bad, msg in (("{{diag:zz|hr@10|decoded|test}}", "naming exactly one diag record (0 have"),
                     ("{{diag:ck|hr@10|full|test}}", "no number at that key path")):
        (tmp_path / "n.md").write_text(bad)
        assert ref.main(args) == 2
        assert msg in capsys.readouterr().err


def test_diag_rejects_unsupported_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    sd = {"item.weight": torch.zeros(3, 4), "item.centroids": torch.zeros(4, 2, 1)}
    torch.save(sd, tmp_path / "best.pt")
    (tmp_path / "config.json").write_text(json.dumps({"config": {"model": "sasrec", "K": [2, 1]}}))
    assert ref.main(["diag", "--checkpoint", str(tmp_path / "best.pt")]) == 2
    assert "model 'sasrec' (from config.json) is not supported" in capsys.readouterr().err


def test_diag_neumf_needs_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    sd = {f"{s}.{k}": torch.zeros(3, 4) for s in ("user", "item") for k in ("weight", "centroids")}
    sd.update({"mlp.0.weight": torch.zeros(2, 8), "out.weight": torch.zeros(1, 6)})
    torch.save(sd, tmp_path / "best.pt")
    assert ref.main(["diag", "--checkpoint", str(tmp_path / "best.pt")]) == 2
    assert "a NeuMF checkpoint needs the trainer's config.json" in capsys.readouterr().err


def test_diag_neumf_scores_like_the_model(tmp_path: Path) -> None:
    """diag's HR@10 of each (user, item) table pair equals the trained NeuMF's own evaluation after its
    embedding modules are swapped for those tables; 'decoded' equals the run's reported metrics."""
    import torch

    from mgqe.trainer.config import from_dict
    from mgqe.trainer.embeddings import QuantizedEmbedding
    from mgqe.trainer.models import NeuMF
    from mgqe.trainer.train import make_objective, train_model

    cfg = from_dict({"model": "neumf", "method": "mgqe", "dataset": "synthetic", "device": "cpu",
                     "data_kwargs": {"n_users": 120, "n_items": 60, "mean_length": 12.0}, "d": 8, "D": [8],
                     "K": [8, 4], "mlp": [8, 4, 2], "epochs": 2, "batch_size": 256, "progress": False,
                     "out_dir": str(tmp_path / "run")})
    r = train_model(cfg)
    out = tmp_path / "diag.json"
    # the run's dataset is synthetic, so --data only has to be a path three levels below some folder
    assert ref.main(["diag", "--checkpoint", str(tmp_path / "run" / "best.pt"), "--data",
                     str(tmp_path / "a" / "b" / "c.txt"), "--json-out", str(out), "--label", "n"]) == 0
    (rec,) = json.loads(out.read_text())
    assert [len(rec["rel_quant_error"][s]) for s in ("user", "item")] == [2, 2]  # head, tail
    m, obj = r.model, make_objective(cfg, r.data)
    assert isinstance(m, NeuMF)
    assert isinstance(m.user, QuantizedEmbedding) and isinstance(m.item, QuantizedEmbedding)
    with torch.no_grad():  # eval mode: the quantized modules return the decoded rows
        Qu, Qi = m.user(torch.arange(r.data.n_users)), m.item(torch.arange(r.data.n_items))
        Wu, Wi = m.user.weight.detach().clone(), m.item.weight.detach().clone()
    for name, (Eu, Ei) in {"decoded": (Qu, Qi), "full weights": (Wu, Wi),
                           "full users, decoded items": (Wu, Qi)}.items():
        m.user, m.item = torch.nn.Embedding.from_pretrained(Eu), torch.nn.Embedding.from_pretrained(Ei)
        for which in ("valid", "test"):
            own = obj.evaluate(m, which, torch.device("cpu"))["hr@10"]
            assert rec["hr@10"][name][which] == own, (name, which)
    assert {w: rec["hr@10"]["decoded"][w] for w in ("valid", "test")} == {
        w: r.metrics[w]["hr@10"] for w in ("valid", "test")}
    assert 0.0 < rec["hr@10"]["decoded"]["test"] <= 100.0
