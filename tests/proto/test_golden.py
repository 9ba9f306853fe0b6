"""Golden bytes of a tiny artifact: any change to the byte layout must be deliberate.

If the format changes on purpose, update proto/ARTIFACT.md (and FORMAT_VERSION when old readers cannot read
the new files), then regenerate with `.venv/bin/python tests/proto/test_golden.py`.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import numpy as np

from mgqe.proto.artifact import MAGIC, read_artifact, write_artifact
from mgqe.proto.config import EmbeddingConfig, ModelSpec

GOLDEN = Path(__file__).with_name("golden_tiny.mgqe")


def tiny() -> tuple[ModelSpec, dict[str, np.ndarray]]:
    """gmf, d=4: users sq at 3 bits (3 rows), items mgqe with 8-bit head / 1-bit tail (5 rows)."""
    spec = ModelSpec(
        model_type="gmf",
        d=4,
        tables={
            "user": EmbeddingConfig.sq(3, 4, bits=3),
            "item": EmbeddingConfig.mgqe(5, 4, [2, 5], D=2, K=[256, 2]),
        },
        hparams={"task": "ranking"},
    )
    arrays: dict[str, np.ndarray] = {
        "user.codes": (np.arange(12).reshape(3, 4) * 5) % 8,
        "user.lo": np.linspace(-1, 0, 4, dtype=np.float32),
        "user.hi": np.linspace(0.5, 1, 4, dtype=np.float32),
        "item.codes.g0": np.array([[0, 255], [17, 128]]),
        "item.codes.g1": np.array([[1, 0], [0, 1], [1, 1]]),
        "item.centroids": (np.arange(2 * 256 * 2, dtype=np.float32).reshape(2, 256, 2) / 64),
        "vocab.user": np.array([10, 30, 20]),
        "vocab.item": np.array([5, 4, 3, 2, 1]),
        "dense.out.weight": np.array([[0.5, -0.25, 1.0, 2.0]], dtype=np.float32),
        "dense.out.bias": np.array([0.125], dtype=np.float32),
    }
    return spec, arrays


def write_tiny(path: Path) -> None:
    spec, arrays = tiny()
    write_artifact(
        path,
        spec,
        arrays,
        metrics={"hr@10": 8.03, "ndcg@10": 3.98},
        provenance={"created": "2026-01-01T00:00:00+00:00", "dataset": "golden", "git_commit": "0" * 40},
    )


def test_writer_reproduces_golden_bytes(tmp_path: Path) -> None:
    write_tiny(tmp_path / "t.mgqe")
    got, want = (tmp_path / "t.mgqe").read_bytes(), GOLDEN.read_bytes()
    first = next(
        (i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), min(len(got), len(want))
    )
    assert got == want, (
        f"artifact bytes changed (lengths {len(got)} vs golden {len(want)}, first difference at byte "
        f"{first}); if deliberate, see this module's docstring"
    )


def test_golden_reads_back() -> None:
    art = read_artifact(GOLDEN)
    spec, arrays = tiny()
    assert art.spec == spec and art.header.metrics == {"hr@10": 8.03, "ndcg@10": 3.98}
    assert set(art.arrays) == set(arrays)
    for name, a in arrays.items():
        np.testing.assert_array_equal(art.arrays[name], a, err_msg=name)
    assert GOLDEN.read_bytes()[:12] == MAGIC + struct.pack("<I", 1)


if __name__ == "__main__":
    write_tiny(GOLDEN)
    print(f"wrote {GOLDEN} ({GOLDEN.stat().st_size} bytes)", file=sys.stderr)
