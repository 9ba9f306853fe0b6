"""A publish killed (SIGKILL) at any moment leaves the store valid.

Two ways of choosing the moment:
  * deterministic: the child process SIGKILLs itself right before (or right after) its k-th file-system
    mutation or fsync, for every k, so every step of publish (copy, fsync, rename, pointer swap, pruning)
    is hit;
  * random: the parent SIGKILLs a child that publishes in a loop after a random delay.
After every kill: `check_store` finds nothing, CURRENT names the old or the new version, its bytes are a
complete payload, and the next publish succeeds and cleans the leftovers.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mgqe.proto import store as st

# Child: optionally arm a self-kill at the k-th call of a mutating os function, then publish.
_CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from mgqe.proto import store as st

    store, src, kill_at, when = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    loop = sys.argv[5] == "1"
    calls = [0]

    def arm(name):
        real = getattr(os, name)
        def wrapped(*a, **kw):
            calls[0] += 1
            if calls[0] == kill_at and when == "before":
                os.kill(os.getpid(), signal.SIGKILL)
            out = real(*a, **kw)
            if calls[0] == kill_at and when == "after":
                os.kill(os.getpid(), signal.SIGKILL)
            return out
        setattr(os, name, wrapped)

    for name in ("fsync", "rename", "replace", "mkdir", "unlink", "rmdir", "open"):
        arm(name)
    while True:
        st.publish(store, "m", Path(src), keep=2, validate=None)
        if not loop:
            break
    print("calls", calls[0], flush=True)
    """
)


def _payload(path: Path, seed: int, size: int) -> bytes:
    """Random bytes followed by their sha256, so any stored copy can be checked for completeness."""
    body = random.Random(seed).randbytes(size)
    data = body + hashlib.sha256(body).digest()
    path.write_bytes(data)
    return data


def _is_complete(data: bytes) -> bool:
    return len(data) > 32 and hashlib.sha256(data[:-32]).digest() == data[-32:]


def _run_child(store: Path, src: Path, kill_at: int, when: str, loop: bool = False) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(store), str(src), str(kill_at), when, "1" if loop else "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _assert_valid(store: Path, allowed: set[str]) -> str:
    assert st.check_store(store) == []
    cur = st.current_version(store, "m")
    assert cur in allowed
    assert _is_complete(st.resolve_current(store, "m").read_bytes())
    return cur


def test_kill_at_every_step(tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    _payload(src, 0, 200_000)
    # Count the mutating calls one uninterrupted publish makes (with pruning) in the same situation.
    probe = tmp_path / "probe"
    for _ in range(2):
        st.publish(probe, "m", src, keep=2, validate=None)
    out = _run_child(probe, src, kill_at=0, when="never").communicate(timeout=60)
    n_calls = int(out[0].split()[-1])
    assert n_calls >= 10, out
    assert [v.version for v in st.list_versions(probe, "m")] == ["v2", "v3"]

    outcomes: dict[str, int] = {}
    for k in range(1, n_calls + 1):
        for when in ("before", "after"):
            store = tmp_path / f"s-{k}-{when}"
            for _ in range(2):
                st.publish(store, "m", src, keep=2, validate=None)
            proc = _run_child(store, src, kill_at=k, when=when)
            proc.communicate(timeout=60)
            assert proc.returncode == -signal.SIGKILL, (k, when, proc.returncode)
            cur = _assert_valid(store, {"v2", "v3"})
            outcomes[cur] = outcomes.get(cur, 0) + 1
            # the store keeps working: the next publish succeeds and removes the dead writer's leftovers
            nxt = st.publish(store, "m", src, keep=2, validate=None)
            assert nxt in ("v3", "v4")
            assert st.current_version(store, "m") == nxt
            assert st.check_store(store) == []
            leftovers = [p.name for p in (store / "m").iterdir() if p.name.startswith(".")]
            assert leftovers == [".lock"]
    # both outcomes happened: killed before the pointer swap (old stays) and after it (new is served)
    assert outcomes.get("v2", 0) > 0 and outcomes.get("v3", 0) > 0, outcomes


def test_kill_at_random_moments(tmp_path: Path) -> None:
    rng = random.Random(7)
    store = tmp_path / "s"
    src = tmp_path / "src.bin"
    _payload(src, 1, 1_000_000)
    st.publish(store, "m", src, keep=2, validate=None)
    for _ in range(5):
        before = st.version_number(st.current_version(store, "m") or "v1")
        proc = _run_child(store, src, kill_at=0, when="never", loop=True)
        # wait until the child is inside its publish loop (start-up time varies with load), then kill it
        # at a random moment of the following publishes
        deadline = time.monotonic() + 60
        while st.version_number(st.current_version(store, "m") or "v1") == before:
            assert time.monotonic() < deadline and proc.poll() is None, "the child never published"
            time.sleep(0.005)
        time.sleep(rng.random() * 0.2)
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=60)
        assert proc.returncode == -signal.SIGKILL
        versions = [v.version for v in st.list_versions(store, "m")]
        _assert_valid(store, set(versions))
        assert len(versions) <= 3  # keep=2, plus at most one renamed in before its pruning ran


@pytest.mark.parametrize("when", ["before", "after"])
def test_kill_during_first_publish(tmp_path: Path, when: str) -> None:
    """A first publish killed anywhere leaves either no servable model or a complete v1."""
    src = tmp_path / "src.bin"
    _payload(src, 2, 50_000)
    for k in range(1, 12):
        store = tmp_path / f"s{k}"
        proc = _run_child(store, src, kill_at=k, when=when)
        proc.communicate(timeout=60)
        assert st.check_store(store) == []
        if st.list_models(store):
            assert _is_complete(st.resolve_current(store, "m").read_bytes())
        else:
            assert st.current_version(store, "m") is None
