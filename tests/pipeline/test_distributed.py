"""DDP under torchrun: 2 gloo processes on CPU train the same model as one process, within tolerance.

The 2-process run goes through the real launcher (`python -m torch.distributed.run --standalone
--nproc_per_node 2`), which sets RANK/WORLD_SIZE/MASTER_* exactly as `torchrun` does; rank 0 writes its
final weights and metrics, which are compared with `train_model` on the same config in this process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch

from mgqe.trainer.config import TrainConfig
from mgqe.trainer.distributed import train, world_size
from mgqe.trainer.train import train_model

_DRIVER = textwrap.dedent(
    """
    import json, os, sys
    import torch
    from mgqe.trainer.config import from_dict
    from mgqe.trainer.distributed import train

    cfg = from_dict(json.loads(sys.argv[1]))
    res = train(cfg)
    # threads still alive in this rank once train() has destroyed its process group (Linux: /proc)
    names = [open(f"/proc/self/task/{t}/comm").read().strip() for t in os.listdir("/proc/self/task")]
    open(sys.argv[2] + f"/rank{os.environ['RANK']}_threads.json", "w").write(json.dumps(names))
    if res is not None:  # rank 0 only
        torch.save(res.model.state_dict(), sys.argv[2] + "/state.pt")
        json.dump({"metrics": res.metrics, "history": res.history, "prov": res.provenance},
                  open(sys.argv[2] + "/result.json", "w"))
    """
)


def _cfg(tmp: Path, **kw: Any) -> TrainConfig:
    base = dict(model="gmf", dataset="synthetic", method="fe", d=16, epochs=3, batch_size=512, lr=0.01,
                n_neg=2, seed=3, progress=False, device="cpu", out_dir=str(tmp),
                data_kwargs={"n_users": 150, "n_items": 200, "mean_length": 15.0, "seed": 1})
    base.update(kw)
    return TrainConfig(**base)  # type: ignore[arg-type]


def _torchrun(cfg: TrainConfig, out: Path, nproc: int = 2) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    driver = out / "driver.py"
    driver.write_text(_DRIVER)
    r = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
         str(driver), json.dumps(cfg.to_dict()), str(out)],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    res = json.loads((out / "result.json").read_text())
    res["state"] = torch.load(out / "state.pt", weights_only=True)
    return res


@pytest.mark.parametrize("method", ["fe", pytest.param("mgqe", marks=pytest.mark.slow)])
def test_two_gloo_processes_match_single_process(tmp_path: Path, method: str) -> None:
    extra = {"method": "mgqe", "D": (4,), "K": (16, 4), "head": (0.2,)} if method == "mgqe" else {}
    single = train_model(_cfg(tmp_path / "single", **extra))
    ddp_out = tmp_path / "ddp"
    ddp_out.mkdir()
    ddp = _torchrun(_cfg(ddp_out / "run", **extra), ddp_out)

    assert ddp["prov"]["distributed"] == {"world_size": 2, "backend": "gloo"}
    # the group's gloo threads stopped with it: none survive into interpreter teardown, where they
    # made a rank abort at exit
    for r in (0, 1):
        threads = json.loads((ddp_out / f"rank{r}_threads.json").read_text())
        assert not [t for t in threads if "gloo" in t], (r, threads)
    # same data, same global batches: per-epoch mean losses agree
    for a, b in zip(single.history, ddp["history"], strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-3, abs=1e-4)
    # weights agree up to float summation order amplified by a few Adam steps
    ref = single.model.state_dict()
    assert set(ref) == set(ddp["state"])
    for k, v in ref.items():
        if v.dtype.is_floating_point:
            torch.testing.assert_close(ddp["state"][k], v, rtol=1e-3, atol=2e-4, msg=k)
    # and so do the final metrics (HR/NDCG in percent; one user switching rank changes them by 100/150)
    for split in ("valid", "test"):
        for m, v in single.metrics[split].items():
            assert ddp["metrics"][split][m] == pytest.approx(v, abs=1.0), (split, m)
    # it learned something: the loss went down
    assert ddp["history"][-1]["loss"] < ddp["history"][0]["loss"]


def test_single_process_is_plain_train_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert world_size() == 1
    res = train(_cfg(tmp_path, epochs=1))
    assert res is not None and "distributed" not in res.provenance
