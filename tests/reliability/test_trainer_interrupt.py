"""The trainer survives interruption (issue 8): a run stopped mid-epoch (KeyboardInterrupt = SIGINT, or a
real SIGKILL of an `mgqe-train` process) and resumed with --resume ends with exactly the weights and metrics
of the same run left alone. Tiny synthetic data: seconds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from mgqe.trainer import train as train_mod
from mgqe.trainer.config import TrainConfig, from_dict, load_config
from mgqe.trainer.train import train_model

SYN = {"n_users": 120, "n_items": 60, "mean_length": 12.0}
MGQE_TRAIN = str(Path(sys.executable).parent / "mgqe-train")


def tiny(out: Path, **kw: object) -> TrainConfig:
    base: dict[str, object] = {"dataset": "synthetic", "data_kwargs": SYN, "d": 8, "D": [4], "K": [8, 4],
                               "epochs": 4, "batch_size": 32, "progress": False, "max_len": 10,
                               "out_dir": str(out)}
    return from_dict({**base, **kw})


class _StopIn:
    """Wraps an Objective: the `epoch`-th epoch raises KeyboardInterrupt after `after` batches (what
    Ctrl-C / SIGINT does in the middle of an epoch)."""

    def __init__(self, inner: Any, epoch: int, after: int) -> None:
        self.inner, self.stop_epoch, self.after, self.calls = inner, epoch, after, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def epoch(self, *args: Any) -> Iterator[Any]:
        self.calls += 1
        for i, batch in enumerate(self.inner.epoch(*args)):
            if self.calls == self.stop_epoch and i == self.after:
                raise KeyboardInterrupt
            yield batch


def _state(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)


def _assert_same_run(a: Path, b: Path, ra: Any, rb: Any) -> None:
    assert rb.metrics == ra.metrics
    assert [h["loss"] for h in rb.history] == [h["loss"] for h in ra.history]
    sa, sb = _state(a / "best.pt"), _state(b / "best.pt")
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k
    fa, fb = ra.model.state_dict(), rb.model.state_dict()  # the finalized models (codes refreshed)
    for k in fa:
        assert torch.equal(fa[k], fb[k]), k


@pytest.mark.parametrize(("model", "method"), [("gmf", "mgqe"), ("sasrec", "mgqe")])
def test_interrupted_mid_epoch_resumes_to_the_same_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model: str, method: str
) -> None:
    bs = 32 if model == "sasrec" else 256  # several batches per epoch either way: stopped mid-epoch
    straight = train_model(tiny(tmp_path / "a", model=model, method=method, batch_size=bs))

    cfg = tiny(tmp_path / "b", model=model, method=method, batch_size=bs)
    make = train_mod.make_objective
    monkeypatch.setattr(train_mod, "make_objective", lambda c, d: _StopIn(make(c, d), epoch=3, after=1))
    with pytest.raises(KeyboardInterrupt):
        train_model(cfg)
    st = json.loads((tmp_path / "b" / "state.json").read_text())
    assert st["epoch"] == 2  # the checkpoint of the last finished epoch
    assert not (tmp_path / "b" / "result.json").exists()
    monkeypatch.setattr(train_mod, "make_objective", make)
    resumed = train_model(cfg, resume=True)
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3, 4]
    _assert_same_run(tmp_path / "a", tmp_path / "b", straight, resumed)


def test_killed_process_resumes_to_the_same_result(tmp_path: Path) -> None:
    """SIGKILL a real `mgqe-train train` once it has checkpointed epoch 2, then resume it; the reference run
    and the resume run in-process from the same config file (the CLI adds nothing to the config)."""
    cfg_file = tmp_path / "run.json"
    syn = {"n_users": 200, "n_items": 120}
    raw = tiny(tmp_path / "b", epochs=8, batch_size=256, data_kwargs=syn).to_dict()
    cfg_file.write_text(json.dumps(raw))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([MGQE_TRAIN, "train", "--config", str(cfg_file), "--no-progress"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    b = tmp_path / "b"
    try:
        end = time.monotonic() + 120
        while not (b / "state.json").is_file() or json.loads((b / "state.json").read_text())["epoch"] < 2:
            assert proc.poll() is None and time.monotonic() < end, "the run ended before it was killed"
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    killed_at = json.loads((b / "state.json").read_text())["epoch"]
    assert 2 <= killed_at < 8 and not (b / "result.json").exists()

    cfg = load_config(cfg_file)
    resumed = train_model(cfg, resume=True)
    straight = train_model(cfg.replace(out_dir=str(tmp_path / "a")))
    _assert_same_run(tmp_path / "a", b, straight, resumed)
    history = [json.loads(x)["epoch"] for x in (b / "metrics.jsonl").read_text().splitlines()]
    assert history == list(range(1, 9))  # every epoch logged once, the killed one redone
