"""bench/replay_cells.py: a cell cached by today's code replays the same, a record whose losses were
changed does not, and every ReplayError path (flags, selection, records) exits 2 with its reason."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

import replay_cells as rc
from mgqe.trainer.config import TrainConfig, from_dict
from mgqe.trainer.experiments.cells import cache_path, run_cell


def tiny_cfg(seed: int = 0) -> TrainConfig:
    syn = {"n_users": 60, "n_items": 40, "mean_length": 8.0}
    return from_dict({"dataset": "synthetic", "data_kwargs": syn, "method": "mgqe", "d": 8, "D": [4],
                      "K": [8, 4], "epochs": 2, "batch_size": 64, "progress": False, "seed": seed})


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A results directory with two finished tiny cells (seeds 0 and 1), trained as the experiments do."""
    res = tmp_path_factory.mktemp("results")
    for seed in (0, 1):
        run_cell(tiny_cfg(seed), res, save_item_arrays=False)
        p = cache_path(res, tiny_cfg(seed))  # both train within one second: give seed 1 the later time
        rec = json.loads(p.read_text())
        rec["provenance"]["time"] = f"2026-01-0{seed + 1}T00:00:00Z"
        p.write_text(json.dumps(rec))
    return res


def run(tmp_path: Path, results: Path, *flags: str) -> tuple[int, dict | None]:
    out = tmp_path / "replay.json"
    code = rc.main(["--results", str(results), "--out-json", str(out), "--out-md", str(tmp_path / "r.md"),
                    *flags])
    return code, json.loads(out.read_text()) if out.is_file() else None


def test_cells_cached_by_todays_code_replay_the_same(tmp_path: Path, results: Path) -> None:
    code, res = run(tmp_path, results, "--select", "dataset=synthetic,seed=1", "--epochs", "2")
    assert code == 0 and res is not None
    [cell] = res["cells"]  # the selection matched seed 1 only
    assert cell["seed"] == 1 and cell["same"] and len(cell["replayed"]) == 2
    assert cell["max_rel_diff"] <= 1e-4
    assert "**1 of 1 cells replay the same.**" in (tmp_path / "r.md").read_text()


def test_report_replays_the_first_cell_of_each_row(tmp_path: Path, results: Path) -> None:
    h = [json.loads(cache_path(results, tiny_cfg(s)).read_text())["config_hash"] for s in (0, 1)]
    report = tmp_path / "table3.json"  # one row with both seeds, one row listing seed 1 first
    report.write_text(json.dumps({"rows": [{"row": "MGQE", "config_hashes": h},
                                           {"row": "other", "config_hashes": h[::-1]},
                                           {"row": "unfinished", "config_hashes": []}]}))
    assert rc.report_cells([report]) == [h[0], h[1]]
    assert rc.report_cells([report, report]) == [h[0], h[1]]  # a row two reports share replays once
    code, res = run(tmp_path, results, "--report", str(report), "--epochs", "1")
    assert code == 0 and res is not None and sorted(c["seed"] for c in res["cells"]) == [0, 1]


def test_a_record_whose_losses_differ_is_flagged_and_exits_1(tmp_path: Path, results: Path) -> None:
    changed = tmp_path / "changed"
    (changed / "cache").mkdir(parents=True)
    rec = json.loads(cache_path(results, tiny_cfg(0)).read_text())
    rec["history"][1]["loss"] *= 1.01  # as if another version of the code had trained it
    (changed / "cache" / f"{rec['config_hash']}.json").write_text(json.dumps(rec))
    code, res = run(tmp_path, changed, "--cells", rec["config_hash"], "--epochs", "2")
    assert code == 1 and res is not None
    [cell] = res["cells"]
    assert not cell["same"] and cell["max_rel_diff"] == pytest.approx(0.01, rel=0.05)
    assert "| **no** |" in (tmp_path / "r.md").read_text()


@pytest.mark.parametrize(("flags", "reason"), [
    (["--select", "dataset"], "KEY=VALUE"),
    (["--select", "dataset=synthetic", "--cells", "abc"], "exactly one of --select, --cells and --report"),
    (["--report", "r.json", "--cells", "abc"], "exactly one of --select, --cells and --report"),
    ([], "exactly one of --select, --cells and --report"),
    (["--report", "/nonexistent/table3.json"], "cannot read /nonexistent/table3.json"),
    (["--select", "model=nope"], "no cached cell under"),
    (["--cells", "0123456789abcdef"], "no cached cell ['0123456789abcdef']"),
    (["--select", "dataset=synthetic", "--epochs", "0"], "--epochs must be at least 1"),
    (["--select", "dataset=synthetic", "--rtol", "0"], "--rtol must be positive"),
    (["--select", "dataset=synthetic", "--epochs", "3"], "recorded 2 epoch losses, fewer than --epochs 3"),
])
def test_bad_flags_and_selections_exit_2_with_the_reason(tmp_path: Path, results: Path,
                                                         capsys: pytest.CaptureFixture[str],
                                                         flags: list[str], reason: str) -> None:
    code, res = run(tmp_path, results, *flags)
    assert code == 2 and res is None
    assert reason in capsys.readouterr().err


def test_a_file_that_is_not_a_report_exits_2(tmp_path: Path, results: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "norows.json").write_text('{"experiment": "table3"}')
    assert run(tmp_path, results, "--report", str(tmp_path / "list.json"))[0] == 2
    assert "does not hold a JSON object" in capsys.readouterr().err
    assert run(tmp_path, results, "--report", str(tmp_path / "norows.json"))[0] == 2
    assert "is not an experiment report" in capsys.readouterr().err


def test_a_results_directory_without_cache_exits_2(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = run(tmp_path, tmp_path / "empty", "--select", "model=gmf")
    assert code == 2 and "is not a directory" in capsys.readouterr().err


def test_a_record_whose_config_no_longer_hashes_to_its_name_exits_2(
        tmp_path: Path, results: Path, capsys: pytest.CaptureFixture[str]) -> None:
    moved = tmp_path / "moved"
    (moved / "cache").mkdir(parents=True)
    rec = json.loads(cache_path(results, tiny_cfg(0)).read_text())
    rec["config"]["d"] = 16  # e.g. a default changed under an old record
    (moved / "cache" / f"{rec['config_hash']}.json").write_text(json.dumps(rec))
    code, _ = run(tmp_path, moved, "--cells", rec["config_hash"])
    assert code == 2 and f"cell {rec['config_hash']}'s config hashes to" in capsys.readouterr().err


def test_a_replay_that_stops_before_its_epochs_exits_2(tmp_path: Path, results: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    import mgqe.trainer.train as train_mod

    # what train_model returns when early stopping ends the run after one epoch
    stopped = SimpleNamespace(history=[{"epoch": 1, "loss": 1.0}])
    monkeypatch.setattr(train_mod, "train_model", lambda cfg, data=None: stopped)
    code, _ = run(tmp_path, results, "--select", "dataset=synthetic,seed=0", "--epochs", "2")
    assert code == 2 and "replayed 1 epochs, not 2" in capsys.readouterr().err


def test_render_rewrites_the_page_from_saved_results_without_training(
        tmp_path: Path, results: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, res = run(tmp_path, results, "--select", "dataset=synthetic,seed=0", "--epochs", "1")
    assert code == 0 and res is not None
    assert "for its first epoch;" in (tmp_path / "r.md").read_text()  # one epoch, said in the singular
    import mgqe.trainer.train as train_mod

    def no_training(*_: object, **__: object) -> None:
        raise AssertionError("--render trained a cell")

    monkeypatch.setattr(train_mod, "train_model", no_training)
    page = tmp_path / "again.md"
    assert rc.main(["--render", str(tmp_path / "replay.json"), "--out-md", str(page)]) == 0
    assert page.read_text() == (tmp_path / "r.md").read_text()


@pytest.mark.parametrize(("content", "flags", "reason"), [
    ('{"cells": []}', [], "is not a replay_cells result: missing ['command'"),
    ('{"command": "c", "git_commit": "g", "epochs": 1, "rtol": 1e-4, "hardware": "h", '
     '"cells": [{"seed": 0}]}', [], "cell 0 lacks ['config_hash'"),
    ('{"cells": []}', ["--cells", "abc"], "--render replays nothing"),
])
def test_render_of_something_that_is_not_a_result_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          content: str, flags: list[str],
                                                          reason: str) -> None:
    (tmp_path / "old.json").write_text(content)
    page = tmp_path / "page.md"
    assert rc.main(["--render", str(tmp_path / "old.json"), "--out-md", str(page), *flags]) == 2
    assert reason in capsys.readouterr().err and not page.exists()
