"""Experiments: suite definitions, per-cell caching by config hash, reports computed from cached records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mgqe.trainer import train as train_mod
from mgqe.trainer.cli import main
from mgqe.trainer.config import ConfigError, config_hash, from_dict
from mgqe.trainer.experiments.cells import Cell, cache_path, run_cell
from mgqe.trainer.experiments.genres import item_codes, similarity_matrix
from mgqe.trainer.experiments.report import (
    MissingItemArraysError,
    embedding_size_percent,
    remaining_seconds,
    write_report,
)
from mgqe.trainer.experiments.runner import report_stem
from mgqe.trainer.experiments.suite import cells


def test_suite_sizes_and_paper_settings() -> None:
    t3 = cells("table3", [0, 1, 2])
    assert len(t3) == 2 * 11 * 3
    # GMF at 8192 (reaches the paper's FE); NeuMF at 1024 (its FE fell at 8192: table3-batch_size=8192)
    assert {c.group: c.cfg.batch_size for c in t3} == {"gmf": 8192, "neumf": 1024}
    compact = {c.row: c.cfg for c in t3 if c.group == "gmf" and c.row.startswith("MGQE-compact")}
    assert compact["MGQE-compact ref-STE"] == compact["MGQE-compact"].replace(centroid_task_grad=False,
                                                                              centroid_loss=1.0)
    assert compact["MGQE-compact"].K == (256, 16)
    ref = next(c.cfg for c in t3 if c.row == "MGQE ref-STE")
    assert ref.replace(centroid_task_grad=True, centroid_loss=0.0) == mgqe_cfg(t3)
    assert (ref.centroid_task_grad, ref.centroid_loss) == (False, 1.0)
    mgqe = next(c.cfg for c in t3 if c.row == "MGQE")
    assert (mgqe.D, mgqe.K, mgqe.head, mgqe.variant) == ((64,), (256, 64), (0.1,), "shared_k")
    assert mgqe.dataset == "ml-1m-sasrec" and mgqe.epochs == 20
    sas = cells("table4", [0], methods=["FE"])[0].cfg
    assert (sas.model, sas.epochs, sas.max_len, sas.dropout, sas.n_blocks, sas.batch_size) == (
        "sasrec", 200, 50, 0.2, 2, 128)
    assert len(cells("table6", [0, 1])) == 3 * 3 * 2
    assert len(cells("fig6", [0, 1])) == 2 * (4 + 3 + 4 + 4 + 4 + 4)  # every point at every seed
    assert len(cells("fig7", [0, 1])) == 3 * 3 and len(cells("fig8", [0, 1])) == 3  # the first seed only
    assert {c.row for c in cells("fig8", [0])} == {"SQ", "MGQE", "MGQE ref-STE"}
    # figure 7 and table 3 share cells: same config, same hash
    f7 = {config_hash(c.cfg) for c in cells("fig7", [0], backbones=["gmf"])}
    assert f7 <= {config_hash(c.cfg) for c in cells("table3", [0])}
    with pytest.raises(ValueError, match="unknown experiment"):
        cells("table9", [0])


def test_sasrec_small_rows_are_the_only_mgqe_rows_within_the_whole_model_target() -> None:
    """The MGQE-small rows exist for table4 only: with our SASRec's dense share, theirs is the one MGQE
    config whose whole model (Table 1 tables + dense float32 weights, 6,040 x 3,416 as in the paper's file)
    is within 28%. The two rows differ only in the straight-through form."""
    from mgqe.trainer.experiments.size_targets import TARGET_SIZE
    from mgqe.trainer.models.factory import build_model, dense_param_count
    from mgqe.trainer.train import model_size

    sizes = {}
    for c in cells("table4", [0]):
        spec = c.cfg.model_spec(6040, 3416)
        sizes[c.row] = model_size(spec, dense_param_count(build_model(c.cfg, spec, 3416)))["percent"]
    within = {r for r, pct in sizes.items() if r.startswith("MGQE") and pct <= TARGET_SIZE["sasrec"]}
    assert within == {"MGQE-small", "MGQE-small ref-STE"}
    assert sizes["MGQE"] == pytest.approx(41.3, abs=0.05)  # the size table4.md reports for the D=64 row
    assert sizes["MGQE-small"] == sizes["MGQE-small ref-STE"]
    ref, issue = (cells("table4", [0], methods=[r])[0].cfg for r in ("MGQE-small ref-STE", "MGQE-small"))
    assert (ref.D, ref.K, ref.centroid_task_grad) == ((32,), (64, 16), False)
    assert (issue.D, issue.K, issue.centroid_task_grad) == ((32,), (64, 16), True)
    for row in ("MGQE-small", "MGQE-small ref-STE", "FE pos-init 0.01"):
        with pytest.raises(ConfigError, match=f"table3 has no row '{row}'"):
            cells("table3", [0], methods=[row])
    pos = cells("table4", [0], methods=["FE pos-init 0.01"])[0].cfg
    assert (pos.method, pos.pos_init_std) == ("fe", 0.01)
    assert sizes["FE pos-init 0.01"] == sizes["FE"] == 100.0
    # under --set pos_init_std=0.01 the FE row is that row: the copy is dropped, not listed twice
    rows = [c.row for c in cells("table4", [0, 1], overrides={"pos_init_std": 0.01})]
    assert rows.count("FE") == 2 and "FE pos-init 0.01" not in rows
    assert len(rows) == len(cells("table4", [0, 1])) - 2


def mgqe_cfg(t3: list[Cell]):  # type: ignore[no-untyped-def]
    return next(c.cfg for c in t3 if c.row == "MGQE")


def tiny_cfg(tmp_path: Path, seed: int = 0):  # type: ignore[no-untyped-def]
    syn = {"n_users": 60, "n_items": 40, "mean_length": 8.0}
    return from_dict({"dataset": "synthetic", "data_kwargs": syn,
                      "method": "mgqe", "d": 8, "D": [4], "K": [8, 4], "epochs": 1, "batch_size": 256,
                      "progress": False, "seed": seed})


def test_run_cell_caches_by_config_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tiny_cfg(tmp_path)
    rec = run_cell(cfg, tmp_path)
    assert cache_path(tmp_path, cfg).is_file() and rec["config_hash"] == config_hash(cfg)
    assert (tmp_path / "runs" / rec["config_hash"] / "item_arrays.npz").is_file()

    def boom(*a: object, **k: object) -> None:
        raise AssertionError("a cached cell must not train again")

    monkeypatch.setattr(train_mod, "train_model", boom)
    assert run_cell(cfg.replace(device="cpu", out_dir="x"), tmp_path) == rec  # not part of the hash
    with pytest.raises(AssertionError, match="must not train"):
        run_cell(cfg.replace(seed=1), tmp_path)


def fake_record(hr: float, seed: int) -> dict[str, Any]:
    m = {"hr@10": hr, "ndcg@10": hr / 2, "users": 10}
    return {"config_hash": f"h{seed}", "metrics": {"valid": m, "test": m}, "best_epoch": 3, "seconds": 10.0,
            "size": {"bits": 50, "fe_bits": 200, "percent": 25.0}, "history": []}


def test_report_aggregates_and_lists_unfinished(tmp_path: Path) -> None:
    cfgs = [tiny_cfg(tmp_path, seed=s) for s in range(3)]
    done = [(Cell("gmf", "MGQE", cfgs[0]), fake_record(7.0, 0)),
            (Cell("gmf", "MGQE", cfgs[1]), fake_record(8.0, 1)),
            (Cell("gmf", "MGQE", cfgs[2]), None), (Cell("gmf", "FE", cfgs[0].replace(method="fe")), None)]
    rep = write_report("table3", done, tmp_path)
    row = rep["rows"][0]
    assert row["test"]["hr@10"]["mean"] == pytest.approx(np.mean([7.0, 8.0]))
    assert row["test"]["hr@10"]["std"] == pytest.approx(np.std([7.0, 8.0], ddof=1))
    assert row["finished_seeds"] == [0, 1] and row["planned_seeds"] == [0, 1, 2]
    assert len(rep["unfinished_cells"]) == 2
    md = (tmp_path / "table3.md").read_text()
    assert "| gmf | MGQE | 7.50 ± 0.71 | 3.75 ± 0.35 | 25.0 | — | 2 / 3 | 10 | 8.03 / 3.98 / 20.7 |" in md
    assert "| gmf | FE | not run | not run |" in md
    assert json.loads((tmp_path / "table3.json").read_text())["rows"] == rep["rows"]


def test_fig7_png_from_histories(tmp_path: Path) -> None:
    rec = fake_record(7.0, 0)
    rec["history"] = [{"epoch": 1, "loss": 0.6}, {"epoch": 2, "loss": 0.4}]
    write_report("fig7", [(Cell("gmf", "FE", tiny_cfg(tmp_path)), rec)], tmp_path)
    assert (tmp_path / "fig7.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # once none of its cells is finished (e.g. after a hashed default changed), the old plot goes
    rep = write_report("fig7", [(Cell("gmf", "FE", tiny_cfg(tmp_path)), None)], tmp_path)
    assert not (tmp_path / "fig7.png").exists() and "png" not in rep


def test_code_similarity_by_hand() -> None:
    codes = np.array([[0, 1], [0, 2], [0, 1], [3, 3]])
    members = [np.array([0, 1]), np.array([2, 3])]
    sim = similarity_matrix(codes, members)
    # within group 0: pair (0,1) shares 1 of 2 positions; group 1: (2,3) shares 0
    # across: (0,2)=1, (0,3)=0, (1,2)=0.5, (1,3)=0 -> mean 0.375
    expected = np.array([[0.5, 0.375], [0.375, 0.0]])
    np.testing.assert_allclose(sim, expected)


def test_item_codes_concatenates_groups_and_rejects_code_free_tables() -> None:
    a = {"item.codes.g1": np.full((2, 3), 1), "item.codes.g0": np.zeros((1, 3)), "item.centroids": np.ones(1)}
    np.testing.assert_array_equal(item_codes(a)[:, 0], [0, 1, 1])
    with pytest.raises(ValueError, match="no codes"):
        item_codes({"item.weight": np.zeros((2, 2))})


def test_cli_report_only_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["experiment", "table5", "--results", str(tmp_path), "--report-only", "--seeds", "0"]) == 0
    assert "0/8 cells finished" in capsys.readouterr().out
    assert "not run" in (tmp_path / "table5.md").read_text()
    readme = (tmp_path / "README.md").read_text()
    assert "## table5\n\nCommand: `mgqe-train experiment table5`" in readme
    assert "## table4\n\nNot run yet" in readme
    assert main(["experiment", "table3", "--seeds", "a,b", "--results", str(tmp_path)]) == 2
    assert "--seeds" in capsys.readouterr().err
    argv = ["experiment", "table3", "--seeds", "0", "--set", "epochs=0", "--results", str(tmp_path)]
    assert main(argv) == 2
    assert "epochs must be >= 1" in capsys.readouterr().err



def test_a_cell_trained_by_a_live_process_is_not_trained_twice(tmp_path: Path) -> None:
    import os

    from mgqe.trainer.experiments.cells import CellBusyError

    cfg = tiny_cfg(tmp_path)
    lock = tmp_path / "runs" / f"{config_hash(cfg)}.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text(str(os.getppid()))  # a live process that is not us
    with pytest.raises(CellBusyError, match="being trained by process"):
        run_cell(cfg, tmp_path)
    lock.write_text("999999999")  # a dead pid: the stale lock is taken over
    assert run_cell(cfg, tmp_path)["config_hash"] == config_hash(cfg)
    assert not lock.exists()


def test_report_covers_cells_outside_the_requested_subset(tmp_path: Path) -> None:
    from mgqe.trainer.experiments.runner import run_experiment

    other = cells("table5", [2], backbones=["rating"], methods=["FE"])[0]
    path = cache_path(tmp_path, other.cfg)
    path.parent.mkdir(parents=True)
    rec = fake_record(0.0, 2)
    rec["metrics"] = {s: {"rmse": 0.9} for s in ("valid", "test")}
    path.write_text(json.dumps(rec))
    run_experiment("table5", tmp_path, [0], backbones=["relevance"], report_only=True)
    row = next(r for r in json.loads((tmp_path / "table5.json").read_text())["rows"]
               if (r["group"], r["row"]) == ("rating", "FE"))
    assert row["finished_seeds"] == [2] and row["planned_seeds"] == [0, 1, 2]
    run_experiment("table5", tmp_path, [0], overrides={"epochs": 3}, report_only=True)
    assert (tmp_path / "table5-epochs=3.md").is_file()
    assert "--set epochs=3" in (tmp_path / "README.md").read_text()


def test_report_keeps_extra_seeds_finished_by_an_earlier_run(tmp_path: Path) -> None:
    """A later --report-only (seeds 0-2) still shows seed 4 that an earlier `--seeds 4` run finished, for that
    row only; fig7 draws the first seed and takes none."""
    from mgqe.trainer.experiments.runner import report_cells, run_experiment

    def finish(c: Cell, rmse: float) -> None:
        path = cache_path(tmp_path, c.cfg)
        path.parent.mkdir(parents=True, exist_ok=True)
        rec = fake_record(0.0, c.cfg.seed)
        rec["metrics"] = {s: {"rmse": rmse} for s in ("valid", "test")}
        path.write_text(json.dumps(rec))

    for s, rmse in ((0, 0.9), (1, 1.0), (2, 1.1), (4, 1.4)):
        finish(cells("table5", [s], backbones=["rating"], methods=["FE"])[0], rmse)
    run_experiment("table5", tmp_path, [0, 1, 2], report_only=True)
    rows = {(r["group"], r["row"]): r for r in json.loads((tmp_path / "table5.json").read_text())["rows"]}
    fe = rows[("rating", "FE")]
    assert fe["finished_seeds"] == [0, 1, 2, 4] and fe["planned_seeds"] == [0, 1, 2, 4]
    assert fe["test"]["rmse"]["mean"] == pytest.approx(np.mean([0.9, 1.0, 1.1, 1.4]))
    assert rows[("rating", "SQ")]["planned_seeds"] == [0, 1, 2]
    assert len(report_cells("table5", tmp_path, [0, 1, 2])) == len(cells("table5", [0, 1, 2])) + 1
    finish(cells("fig7", [4], backbones=["gmf"], methods=["FE"])[0], 1.0)
    assert [c for c, _ in report_cells("fig7", tmp_path, [0, 1, 2])] == cells("fig7", [0, 1, 2])


def test_unknown_row_or_backbone_is_a_clear_error_not_an_empty_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigError, match=r"table3 has no row 'MGQE refSTE'; its rows: 'FE'"):
        cells("table3", [0], methods=["MGQE refSTE"])
    with pytest.raises(ConfigError, match=r"table4 has no backbone 'gmf'; its backbones: 'sasrec'"):
        cells("table4", [0], backbones=["gmf"])
    with pytest.raises(ConfigError, match=r"fig6 has no backbone 'neumf'"):
        cells("fig6", [0], backbones=["neumf"])
    argv = ["experiment", "table6", "--methods", "unshared K=[256,64],nope", "--results", str(tmp_path)]
    assert main(argv) == 2
    assert "table6 has no row 'nope'" in capsys.readouterr().err


def test_cli_methods_keep_commas_inside_brackets() -> None:
    """Row labels such as `unshared D=[64,32]` hold a comma; --methods splits only outside brackets."""
    from mgqe.trainer.commands.experiment import _csv

    assert _csv("unshared D=[64,32],shared K=[256,64],FE") == [
        "unshared D=[64,32]", "shared K=[256,64]", "FE"]
    picked = cells("table6", [0], backbones=["gmf"], methods=_csv("unshared D=[64,32]"))
    assert [(c.row, c.cfg.D) for c in picked] == [("unshared D=[64,32]", (64, 32))]


def test_cli_missing_data_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["experiment", "table3", "--seeds", "0", "--backbones", "gmf", "--methods", "FE",
            "--results", str(tmp_path), "--data-dir", str(tmp_path / "nodata")]
    assert main(argv) == 2
    assert "nodata" in capsys.readouterr().err


def test_fig6_sizes_are_relative_to_the_d64_full_model(tmp_path: Path) -> None:
    fe, sq = fake_record(7.0, 0), fake_record(6.0, 0)
    fe["size"] = {"bits": 400, "fe_bits": 400, "percent": 100.0}
    sq["size"] = {"bits": 100, "fe_bits": 400, "percent": 25.0}
    small = fake_record(5.0, 0)
    small["size"] = {"bits": 50, "fe_bits": 50, "percent": 100.0}  # d=8 FE: 100% of its own FE
    cfg = tiny_cfg(tmp_path)
    rep = write_report("fig6", [(Cell("FE", "d=64", cfg), fe), (Cell("SQ", "b=8", cfg), sq),
                                (Cell("FE", "d=8", cfg.replace(d=8)), small)], tmp_path)
    sizes = {(r["group"], r["row"]): r["size_percent"] for r in rep["rows"]}
    assert sizes == {("FE", "d=64"): 100.0, ("SQ", "b=8"): 25.0, ("FE", "d=8"): 100.0 * 50 / 400}
    assert (tmp_path / "fig6.png").is_file()


def test_fig6_report_states_the_equal_size_comparison(tmp_path: Path) -> None:
    """The fig6 report reads SQ's HR off its curve at the MGQE point's size and says above or below."""
    cfg = tiny_cfg(tmp_path)
    recs = {("FE", "d=64"): (7.0, 400), ("SQ", "b=2"): (4.0, 25), ("SQ", "b=8"): (8.0, 100),
            ("MGQE", "D=8"): (7.5, 50)}
    done: list[tuple[Cell, dict[str, Any] | None]] = []
    for (group, label), (hr, bits) in recs.items():
        rec = fake_record(hr, 0)
        rec["size"] = {"bits": bits, "fe_bits": 400, "percent": 100.0 * bits / 400}
        done.append((Cell(group, label, cfg), rec))
    rep = write_report("fig6", done, tmp_path)
    # SQ at 12.5%: half way (in log size) between 6.25% and 25%, so HR 6.0; MGQE's 7.5 is above it
    assert rep["equal_size"][-1] == "- **MGQE above SQ at every compared size: True** (1 of 1 points)"
    md = (tmp_path / "fig6.md").read_text()
    assert "HR@10 7.50 (1 seed) vs SQ 6.00 at that size (between b=2 and b=8): above" in md


def test_fig6_flags_a_gap_within_two_standard_errors(tmp_path: Path) -> None:
    """A point's HR is its mean over seeds; the gap to the baseline comes with its standard error, and a gap
    within two of them is flagged."""
    done: list[tuple[Cell, dict[str, Any] | None]] = []
    points = [("FE", "d=64", [7.0], 400), ("SQ", "b=2", [3.9, 4.1], 25), ("SQ", "b=8", [7.9, 8.1], 100),
              ("MGQE", "D=8", [5.0, 8.0], 50), ("MGQE", "D=16", [9.0, 9.2], 50)]
    for group, label, hrs, bits in points:
        for seed, hr in enumerate(hrs):
            rec = fake_record(hr, seed)
            rec["size"] = {"bits": bits, "fe_bits": 400, "percent": 100.0 * bits / 400}
            done.append((Cell(group, label, tiny_cfg(tmp_path, seed=seed)), rec))
    eq = write_report("fig6", done, tmp_path)["equal_size"]
    # SQ at 12.5% is half way (log size) between its points: 6.0, with variance (0.02 / 2) / 4 * 2 = 0.005.
    # MGQE D=8: mean 6.5, std 2.12 over 2 seeds: se = sqrt(4.5 / 2 + 0.005) = 1.50, gap 0.5 within two of them
    assert "- MGQE D=8 (12.5%): HR@10 6.50 ± 2.12 (2 seeds) vs SQ 6.00 at that size (between b=2 and b=8): " \
           "above (gap +0.50, standard error 1.50), within 2 standard errors" in eq
    # MGQE D=16: 9.1 ± 0.14: se = sqrt(0.02 / 2 + 0.005) = 0.12, gap 3.1 far beyond
    assert "- MGQE D=16 (12.5%): HR@10 9.10 ± 0.14 (2 seeds) vs SQ 6.00 at that size (between b=2 and b=8):" \
           " above (gap +3.10, standard error 0.12)" in eq


@pytest.mark.parametrize("model", ["gmf", "sasrec"])
def test_embedding_size_percent_excludes_the_dense_weights(tmp_path: Path, model: str) -> None:
    """From a record's whole-model sizes, the embedding-only percentage equals Table 1 of the tables alone."""
    from mgqe.proto.config import EmbeddingConfig
    from mgqe.proto.sizes import model_size_bits
    from mgqe.trainer.models.factory import build_model, dense_param_count
    from mgqe.trainer.train import model_size

    cfg = tiny_cfg(tmp_path).replace(model=model)
    spec = cfg.model_spec(60, 40)
    size = model_size(spec, dense_param_count(build_model(cfg, spec, 40)))
    rec = {"config": cfg.to_dict(), "size": size}
    fe = {k: EmbeddingConfig.fe(t.n, t.d) for k, t in spec.tables.items()}
    expected = 100.0 * model_size_bits(spec.tables, 0) / model_size_bits(fe, 0)
    assert embedding_size_percent(rec) == pytest.approx(expected)
    assert embedding_size_percent(rec) < size["percent"]  # float32 dense weights raise the total


def test_report_stem_names_every_hashed_override() -> None:
    assert report_stem("table3", None) == "table3"
    assert report_stem("table3", {"device": "cpu", "data_dir": "/x"}) == "table3"  # not hashed: same report
    assert report_stem("table3", {"neg_filter": False, "epochs": 40}) == "table3-epochs=40-neg_filter=false"


def test_remaining_seconds_estimates_unfinished_cells() -> None:
    def row(group: str, name: str, finished: list[int], secs: float | None) -> dict:
        r: dict = {"group": group, "row": name, "planned_seeds": [0, 1, 2], "finished_seeds": finished}
        if secs is not None:
            r["seconds"] = {"mean": secs}
        return r

    rows = [row("gmf", "FE", [0], 100.0), row("gmf", "SQ", [0, 1], 300.0),
            row("gmf", "DPQ", [], None),  # at the mean of the timed gmf rows: 150 s
            row("sasrec", "FE", [1], None) | {"planned_seeds": [0, 1]},  # nothing timed to go by
            row("gmf", "MGQE", [0, 1, 2], 50.0)]  # finished: adds nothing
    assert remaining_seconds(rows) == (2 * 100.0 + 300.0 + 3 * 150.0, 1)


def test_table3_report_states_sizes_against_the_targets(tmp_path: Path) -> None:
    cfg = tiny_cfg(tmp_path).replace(model="gmf")
    mgqe, fe = fake_record(7.0, 0), fake_record(7.0, 1)
    mgqe["config"], fe["config"] = cfg.to_dict(), cfg.replace(method="fe").to_dict()
    fe_bits = 100_000 + 32 * 9  # tables + GMF's dense `out` (8 weights and a bias at d=8)
    mgqe["size"] = {"bits": 20_000 + 32 * 9, "fe_bits": fe_bits, "percent": 100 * (20_000 + 32 * 9) / fe_bits}
    fe["size"] = {"bits": fe_bits, "fe_bits": fe_bits, "percent": 100.0}
    done: list[tuple[Cell, dict[str, Any] | None]] = [(Cell("gmf", "FE", cfg.replace(method="fe")), fe),
                                                       (Cell("gmf", "MGQE", cfg), mgqe)]
    write_report("table3", done, tmp_path)
    md = (tmp_path / "table3.md").read_text()
    assert "Model size against the targets" in md
    assert "- gmf: dense float32 weights are 0.3% of our FE model" in md
    assert "  - MGQE: 20.2% of the model, tables 20.0%; whole-model size within the target: **True**" in md
    write_report("table6", [(Cell("gmf", "MGQE", cfg), mgqe)], tmp_path)
    assert "Model size against the targets" not in (tmp_path / "table6.md").read_text()


def test_table6_report_quotes_the_papers_variant_rows(tmp_path: Path) -> None:
    """Table 6's rows stand beside the paper's Table 6 numbers (HR, NDCG; the paper reports no size)."""
    cfg = tiny_cfg(tmp_path).replace(model="neumf")
    done: list[tuple[Cell, dict[str, Any] | None]] = [
        (Cell("neumf", label, cfg.replace(seed=i)), fake_record(7.0 + i, i))
        for i, label in enumerate(("shared K=[256,64]", "unshared K=[256,64]", "unshared D=[64,32]"))]
    write_report("table6", done, tmp_path)
    md = (tmp_path / "table6.md").read_text()
    assert "| neumf | shared K=[256,64] | 7.00 |" in md and md.count(" | 8.04 / 3.98 / — |") == 1
    assert " | 8.22 / 4.04 / — |" in md and " | 7.66 / 3.72 / — |" in md


def test_fig8_without_item_arrays_is_a_named_error_that_leaves_the_report(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a fresh checkout: fig8's cells are cached, their run directories (not in git) are not there
    c = cells("fig8", [0])[0]
    rec = {**fake_record(7.0, 0), "config_hash": config_hash(c.cfg)}
    cache_path(tmp_path, c.cfg).parent.mkdir(parents=True)
    cache_path(tmp_path, c.cfg).write_text(json.dumps(rec))
    (tmp_path / "fig8.md").write_text("the committed report\n")
    with pytest.raises(MissingItemArraysError, match=rf"{c.row} \(.*{config_hash(c.cfg)}/item_arrays.npz\)"):
        write_report("fig8", [(c, rec)], tmp_path)
    assert main(["experiment", "fig8", "--report-only", "--results", str(tmp_path)]) == 2
    assert "move those cells' results/cache/<hash>.json aside" in capsys.readouterr().err
    assert (tmp_path / "fig8.md").read_text() == "the committed report\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "fig8.md"]
