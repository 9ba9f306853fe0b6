"""Shared by the pipeline tests: a tiny synthetic pipeline config and the `mgqe-train pipeline` runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# the console script, as users run it (`python -m mgqe.trainer.cli` would load the CLI module twice)
MGQE_TRAIN = str(Path(sys.executable).parent / "mgqe-train")

TRAIN = """
[train]
model = "gmf"
dataset = "synthetic"
data_kwargs = { n_users = 120, n_items = 160, mean_length = 12.0, seed = 5 }
method = "mgqe"
d = 16
D = [4]
K = [16, 4]
head = [0.2]
epochs = 2
batch_size = 1024
lr = 0.01
n_neg = 2
device = "cpu"
"""


def write_config(path: Path, store: Path, gate: str = "", model: str = "tiny") -> Path:
    path.write_text(f'[pipeline]\nmodel_name = "{model}"\nstore = "{store}"\nkeep = 2\n'
                    f'out_dir = "{path.parent / "run"}"\n\n[gate]\n{gate}\n{TRAIN}')
    return path


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([MGQE_TRAIN, "pipeline", *args, "--quiet"],
                          capture_output=True, text=True, timeout=300, cwd=cwd, env=env)
