"""Embedding and model configuration: the frozen description that travels inside every artifact header.

Trainer and server both rebuild everything from these objects, so every derived quantity (dsub, bits per
group, group sizes) is computed and validated here, in one place.

Notation (as in the paper and faiss' ProductQuantizer):
    n      rows in the table (users or items), internal ids 0..n-1 in descending training popularity
    d      embedding dimension
    D      number of subspaces (code length in sub-codes); dsub = d / D
    K      centroids per subspace; a code entry takes log2(K) bits
    groups contiguous internal-id ranges [start, stop) of decreasing popularity; group i has (D_i, K_i)

Artifact array naming for a table named T (the contract between trainer export and server decode):
    fe      T.weight        (n, d)        float32
    lrf     T.A             (n, r)        float32      T.B  (r, d) float32;   e = A @ B
    sq      T.codes         (n, d)        uint8/16, bit-packed at `bits`;  T.lo, T.hi (d,) float32
            decode: e = lo + codes * (hi - lo) / (2**bits - 1)
    dpq     treated as mgqe with one group covering [0, n) and shared centroids
    mgqe    T.codes.g{i}    (|V_i|, D_i)  uint8/16, bit-packed at log2(K_i) bits per entry
            shared centroids:   T.centroids        (D, K_max, dsub) float32; group i uses [:, :K_i]
            unshared:           T.centroids.g{i}   (D_i, K_i, d / D_i) float32
            decode of row r in group i: e[j*dsub_i:(j+1)*dsub_i] = C_i[j, codes[r - start_i, j]]
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Method = Literal["fe", "lrf", "sq", "dpq", "mgqe"]
MGQEVariant = Literal["shared_k", "unshared_k", "unshared_d"]
ModelType = Literal["gmf", "neumf", "sasrec", "relevance"]


def _is_pow2(x: int) -> bool:
    return x >= 2 and (x & (x - 1)) == 0


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class GroupSpec(_Frozen):
    """One frequency tier: internal ids [start, stop) share (D, K)."""

    start: int = Field(ge=0)
    stop: int = Field(ge=0)
    D: int = Field(ge=1)
    K: int = Field(ge=2)

    @property
    def size(self) -> int:
        return self.stop - self.start

    @property
    def bits(self) -> int:
        """Bits per code entry: log2(K)."""
        return self.K.bit_length() - 1


class EmbeddingConfig(_Frozen):
    """How one embedding table (users or items) is represented.

    `groups` is only used by dpq (exactly one group [0, n)) and mgqe (one or more contiguous groups
    covering [0, n) in order). Use the `fe`, `lrf`, `sq`, `dpq`, `mgqe` constructors below.
    """

    method: Method
    n: int = Field(ge=1)
    d: int = Field(ge=1)
    rank: int | None = None  # lrf
    bits: int | None = None  # sq
    variant: MGQEVariant | None = None  # mgqe (dpq is stored as shared_k with one group)
    groups: tuple[GroupSpec, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> EmbeddingConfig:
        m = self.method
        if m == "lrf" and not (self.rank and self.rank >= 1):
            raise ValueError("lrf needs rank >= 1")
        if m == "sq" and not (self.bits and 1 <= self.bits <= 16):
            raise ValueError("sq needs 1 <= bits <= 16")
        if m in ("dpq", "mgqe"):
            if not self.groups:
                raise ValueError(f"{m} needs at least one group")
            if m == "dpq" and len(self.groups) != 1:
                raise ValueError("dpq has exactly one group")
            if self.groups[0].start != 0 or self.groups[-1].stop != self.n:
                raise ValueError(f"groups must cover [0, {self.n}) exactly")
            for a, b in zip(self.groups, self.groups[1:], strict=False):
                if a.stop != b.start:
                    raise ValueError("groups must be contiguous and ordered")
            for g in self.groups:
                if g.stop <= g.start:
                    raise ValueError(f"empty group [{g.start}, {g.stop})")
                if not _is_pow2(g.K) or g.K > 65536:
                    raise ValueError(f"K={g.K} must be a power of two in [2, 65536]")
                if self.d % g.D:
                    raise ValueError(f"d={self.d} is not divisible by D={g.D}")
            v = self.variant or "shared_k"
            Ds = {g.D for g in self.groups}
            Ks = {g.K for g in self.groups}
            if v == "shared_k" and len(Ds) != 1:
                raise ValueError("shared_k needs the same D in every group")
            if v == "unshared_k" and len(Ds) != 1:
                raise ValueError("unshared_k needs the same D in every group")
            if v == "unshared_d" and len(Ks) != 1:
                raise ValueError("unshared_d needs the same K in every group")
        return self

    # ---- derived values -------------------------------------------------------------------------
    @property
    def shared(self) -> bool:
        """True when one centroid table (D, K_max, dsub) serves all groups."""
        return self.method == "dpq" or (self.method == "mgqe" and (self.variant or "shared_k") == "shared_k")

    @property
    def K_max(self) -> int:
        return max(g.K for g in self.groups)

    # ---- constructors ---------------------------------------------------------------------------
    @classmethod
    def fe(cls, n: int, d: int) -> EmbeddingConfig:
        return cls(method="fe", n=n, d=d)

    @classmethod
    def lrf(cls, n: int, d: int, rank: int) -> EmbeddingConfig:
        return cls(method="lrf", n=n, d=d, rank=rank)

    @classmethod
    def sq(cls, n: int, d: int, bits: int = 8) -> EmbeddingConfig:
        return cls(method="sq", n=n, d=d, bits=bits)

    @classmethod
    def dpq(cls, n: int, d: int, D: int = 64, K: int = 256) -> EmbeddingConfig:
        return cls(method="dpq", n=n, d=d, variant="shared_k", groups=(GroupSpec(start=0, stop=n, D=D, K=K),))

    @classmethod
    def mgqe(
        cls,
        n: int,
        d: int,
        bounds: list[int] | tuple[int, ...],
        D: int | list[int] | tuple[int, ...] = 64,
        K: int | list[int] | tuple[int, ...] = (256, 64),
        variant: MGQEVariant = "shared_k",
    ) -> EmbeddingConfig:
        """Groups from stop bounds, e.g. bounds=[342, 3416] for a 10% head of 3,416 items."""
        m = len(bounds)
        Ds = [D] * m if isinstance(D, int) else list(D)
        Ks = [K] * m if isinstance(K, int) else list(K)
        if len(Ds) != m or len(Ks) != m:
            raise ValueError(f"{m} groups but D={D} and K={K}")
        starts = [0, *bounds[:-1]]
        groups = tuple(
            GroupSpec(start=s, stop=e, D=Di, K=Ki)
            for s, e, Di, Ki in zip(starts, bounds, Ds, Ks, strict=True)
        )
        return cls(method="mgqe", n=n, d=d, variant=variant, groups=groups)


class ModelSpec(_Frozen):
    """A whole servable model: its backbone type, its embedding tables and backbone hyper-parameters.

    tables: "user" and/or "item" (sasrec and relevance have only "item").
    hparams: backbone settings the server needs to rebuild the forward pass, e.g.
        neumf:  {"mlp": [64, 32, 16]}
        sasrec: {"max_len": 50, "n_blocks": 2, "n_heads": 1}
        gmf:    {"task": "ranking"} or {"task": "rating"}
    """

    model_type: ModelType
    d: int = Field(ge=1)
    tables: dict[str, EmbeddingConfig]
    hparams: dict[str, int | float | str | bool | list[int]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> ModelSpec:
        for name, t in self.tables.items():
            if t.d != self.d:
                raise ValueError(f"table {name!r} has d={t.d}, model has d={self.d}")
        need = {"gmf": {"user", "item"}, "neumf": {"user", "item"}, "sasrec": {"item"}, "relevance": {"item"}}
        if set(self.tables) != need[self.model_type]:
            raise ValueError(f"{self.model_type} needs tables {sorted(need[self.model_type])}")
        return self
