"""A missing or corrupt dataset file stops `mgqe-train train` with exit status 2 and one line naming the file,
never a traceback (issue 8). In-process through the CLI's main(), plus one real process."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import pytest

from mgqe.trainer.cli import main

U_DATA = "1\t10\t5\t881250949\n1\t11\t3\t881250950\n1\t12\t4\t881250951\n2\t10\t5\t881250952\n"


def _gz_truncated(path: Path) -> None:
    raw = gzip.compress(U_DATA.encode() * 50)
    path.write_bytes(raw[: len(raw) // 2])


CASES = {
    # name: (dataset, relative file, how to damage it or None for missing, words of the message)
    "missing": ("ml-100k", "ml-100k/u.data", None, "not found"),
    "not_integers": ("ml-100k", "ml-100k/u.data", lambda p: p.write_text("1\tx\t5\t9\n"), "integer"),
    "empty": ("ml-100k", "ml-100k/u.data", lambda p: p.write_text(""), "no interactions"),
    "truncated_gzip": ("ml-100k", "ml-100k/u.data.gz", _gz_truncated, "cannot read"),
    "not_gzip": ("ml-100k", "ml-100k/u.data.gz", lambda p: p.write_bytes(b"\x00garbage"), "cannot read"),
    "ratings_columns": ("ml-1m", "ml-1m/ratings.dat", lambda p: p.write_text("1::2::5\n"), "columns"),
    "binary_garbage": ("ml-1m", "ml-1m/ratings.dat", lambda p: p.write_bytes(bytes(range(256)) * 4),
                       "integer"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_dataset_file_named(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dataset, rel, damage, words = CASES[case]
    path = tmp_path / "data" / rel
    path.parent.mkdir(parents=True)
    if damage is not None:
        damage(path)
    code = main(["train", "--dataset", dataset, "--data-dir", str(tmp_path / "data"), "--epochs", "1",
                 "--no-progress", "--out-dir", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert str(path) in err and words in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.slow  # ~4 s of torch import; main() above runs the same code in-process
def test_real_process_one_line_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "ml-100k" / "u.data"
    path.parent.mkdir()
    path.write_text(U_DATA + "3\t10\n")  # a short row
    r = subprocess.run([str(Path(sys.executable).parent / "mgqe-train"), "train", "--dataset", "ml-100k",
                        "--data-dir", str(tmp_path), "--epochs", "1", "--no-progress",
                        "--out-dir", str(tmp_path / "run")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert str(path) in r.stderr and "Traceback" not in r.stderr, r.stderr
