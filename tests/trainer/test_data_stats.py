"""`mgqe-train data stats`: counts and frequency profile, computed by hand on a tiny log and on real data."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from mgqe.trainer.cli import main
from mgqe.trainer.data import Interactions
from mgqe.trainer.data.stats import dataset_stats

_REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("MGQE_DATA_DIR") or _REPO.parent / "shared" / "data")


def test_stats_by_hand() -> None:
    # 10 items; item 0 has 11 interactions, items 1..9 one each -> 20 interactions by 3 users
    users = np.array([0] * 8 + [1] * 6 + [2] * 6, dtype=np.int64)
    items = np.array([0] * 11 + list(range(1, 10)), dtype=np.int64)
    st = dataset_stats(Interactions("hand", users, items, "t"))
    assert (st["users"], st["items"], st["interactions"]) == (3, 10, 20)
    # top 10% of 10 items = 1 item holding 11 of 20 interactions
    assert st["top_10pct_items_share"] == 55.0
    # top 1% rounds up to 1 item as well; top 50% = 5 items: 11 + 4
    assert st["top_1pct_items_share"] == 55.0 and st["top_50pct_items_share"] == 75.0
    assert st["items_with_1_interaction"] == 9 and st["per_item_max"] == 11
    assert st["synthetic"] is False and st["dataset"] == "hand"


def test_stats_cli_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("MGQE_DATA_DIR", raising=False)
    assert main(["data", "stats", "--dataset", "ml-1m"]) == 2
    assert "pass --data-dir DIR or set $MGQE_DATA_DIR" in capsys.readouterr().err
    assert main(["data", "stats", "--dataset", "ml-100k", "--data-dir", str(tmp_path)]) == 2
    assert "download movielens-100k" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["data", "stats", "--dataset", "ml-20m"])


@pytest.mark.skipif(not (DATA / "ml-1m").is_dir(),
                    reason=f"real MovieLens data not found at {DATA} (set MGQE_DATA_DIR)")
@pytest.mark.parametrize(("name", "counts"), [
    ("ml-1m", (6040, 3706, 1_000_209)),
    ("ml-1m-sasrec", (6040, 3416, 999_611)),
])
def test_stats_cli_real(name: str, counts: tuple[int, int, int], monkeypatch: pytest.MonkeyPatch,
                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MGQE_DATA_DIR", str(DATA))
    assert main(["data", "stats", "--dataset", name, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["users"], out["items"], out["interactions"]) == counts
    assert out["synthetic"] is False
    assert 0 < out["top_10pct_items_share"] < 100
