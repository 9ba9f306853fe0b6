"""TrainConfig: the frozen description of one training run (backbone, embedding method, data, optimisation).

A config is read from TOML or JSON (`load_config`), optionally overridden by command-line flags, and hashed
(`config_hash`) so experiment cells can be cached by what they compute. Unknown keys and bad values raise
`ConfigError` naming the key.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import tomllib

from mgqe.proto.config import EmbeddingConfig, Method, MGQEVariant, ModelSpec, ModelType

# the artifact contract's names: a config can only name what an artifact can hold
ModelName = ModelType
MethodName = Method
Variant = MGQEVariant
Task = Literal["ranking", "rating", "relevance"]

# fields that change where results go, not what is computed: excluded from the hash
NOT_HASHED = {"out_dir", "progress", "device", "data_dir", "eval_batch", "threads"}


class ConfigError(ValueError):
    """A bad training configuration (unknown key, wrong type, inconsistent values)."""


@dataclass(frozen=True)
class TrainConfig:
    """One training run. Defaults are the paper's (section 5.4) and the NCF / SASRec papers' settings."""

    model: ModelName = "gmf"
    task: Task = "ranking"  # gmf: ranking (implicit, BCE) or rating (squared loss); relevance: relevance
    dataset: str = "ml-1m-sasrec"
    data_dir: str | None = None  # None: $MGQE_DATA_DIR
    data_kwargs: dict[str, Any] = field(default_factory=dict)  # synthetic generator / pair split args
    method: MethodName = "fe"
    d: int = 64
    rank: int = 48  # lrf
    bits: int = 8  # sq
    D: tuple[int, ...] = (64,)  # dpq: D[0]; mgqe: one per group (or one for all)
    K: tuple[int, ...] = (256, 64)  # dpq: K[0]; mgqe: one per group (or one for all)
    head: tuple[float, ...] = (0.1,)  # mgqe: cumulative id-share bounds of the head groups
    variant: Variant = "shared_k"
    centroid_loss: float = 0.0  # dpq/mgqe: weight of the reference code's centroid loss (0 = off)
    bn_assign: bool = False  # dpq/mgqe: the reference code's batch-normalised assignment (default: argmin)
    # dpq/mgqe: False = the reference code's output stop_gradient(c - x) + x (centroids: centroid_loss only)
    centroid_task_grad: bool = True
    compress_users: bool = True  # the paper replaces user AND item embeddings
    # backbone
    mlp: tuple[int, ...] = (64, 32, 16)  # neumf
    max_len: int = 50  # sasrec
    n_blocks: int = 2
    n_heads: int = 1
    dropout: float = 0.2
    # sasrec: N(0, pos_init_std) positional embeddings; None keeps torch's N(0, 1), as every earlier run had
    pos_init_std: float | None = None
    # optimisation
    epochs: int = 20
    batch_size: int = 8192
    lr: float = 1e-3
    weight_decay: float = 0.0
    # Adam's second-moment decay; SASRec's reference code uses 0.98, torch's default (every earlier run) 0.999
    adam_beta2: float = 0.999
    n_neg: int = 4  # gmf/neumf: uniform negatives per positive, re-sampled each epoch
    neg_filter: bool = True  # gmf/neumf: re-draw negatives that are the user's training items (NCF code)
    init_std: float = 0.01
    seed: int = 0
    patience: int = 0  # epochs without validation improvement before stopping; 0 = never stop early
    eval_every: int = 1
    # run
    device: str = "auto"
    # CPU threads for torch (0 = torch's default). 1 is the default because on the shared 2-core machine one
    # thread ran a GMF step in 7.7 ms and two threads in 310 ms (oversubscription with other work).
    threads: int = 1
    out_dir: str = "runs/default"
    progress: bool = True
    eval_batch: int = 1024
    extra: dict[str, Any] = field(default_factory=dict)  # free-form notes; hashed

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            lit = {"model": ModelName, "task": Task, "method": MethodName, "variant": Variant}.get(f.name)
            if lit is not None and getattr(self, f.name) not in get_args(lit):
                raise ConfigError(f"{f.name}={getattr(self, f.name)!r}: expected one of {get_args(lit)}")
        for name in ("d", "epochs", "batch_size", "n_neg", "max_len", "n_blocks", "n_heads", "eval_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.pos_init_std is not None and (self.model != "sasrec" or not self.pos_init_std > 0):
            raise ConfigError(f"pos_init_std={self.pos_init_std} is for sasrec's positional embeddings and "
                              f"must be > 0 (model={self.model!r})")
        if not self.centroid_task_grad and self.centroid_loss <= 0:
            raise ConfigError("centroid_task_grad=false needs centroid_loss > 0: otherwise nothing trains "
                              "the centroids")
        if self.lr <= 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        if not 0.0 <= self.adam_beta2 < 1.0:
            raise ConfigError(f"adam_beta2 must be in [0, 1), got {self.adam_beta2}")
        if any(not 0.0 < h < 1.0 for h in self.head) or list(self.head) != sorted(self.head):
            raise ConfigError(f"head must be increasing shares in (0, 1), got {self.head}")
        expected_task = {"gmf": ("ranking", "rating"), "neumf": ("ranking",), "sasrec": ("ranking",),
                         "relevance": ("relevance",)}[self.model]
        if self.task not in expected_task:
            raise ConfigError(f"model {self.model!r} does not support task {self.task!r} "
                              f"(use one of {expected_task})")

    # ---- derived --------------------------------------------------------------------------------
    def embedding_config(self, n: int, freq_bounds: list[int] | None = None) -> EmbeddingConfig:
        """The EmbeddingConfig of one table of n rows. freq_bounds: mgqe group stop ids (ascending, last = n);
        computed from `head` as id shares when not given (ids are popularity-ordered)."""
        m = self.method
        if m == "fe":
            return EmbeddingConfig.fe(n, self.d)
        if m == "lrf":
            return EmbeddingConfig.lrf(n, self.d, self.rank)
        if m == "sq":
            return EmbeddingConfig.sq(n, self.d, self.bits)
        if m == "dpq":
            return EmbeddingConfig.dpq(n, self.d, D=self.D[0], K=self.K[0])
        bounds = freq_bounds or _share_bounds(n, self.head)
        g = len(bounds)
        D = self.D * g if len(self.D) == 1 else self.D
        K = self.K * g if len(self.K) == 1 else self.K
        if len(D) != g or len(K) != g:
            raise ConfigError(f"mgqe with {g} groups needs 1 or {g} values of D and K, "
                              f"got D={self.D} K={self.K}")
        try:
            return EmbeddingConfig.mgqe(n, self.d, bounds, D=list(D), K=list(K), variant=self.variant)
        except ValueError as e:
            raise ConfigError(f"mgqe table of {n} rows: {e}") from e

    def hparams(self) -> dict[str, Any]:
        """The ModelSpec hparams the server needs to rebuild the forward pass."""
        if self.model == "neumf":
            return {"mlp": list(self.mlp)}
        if self.model == "sasrec":
            return {"max_len": self.max_len, "n_blocks": self.n_blocks, "n_heads": self.n_heads}
        if self.model == "gmf":
            return {"task": self.task}
        return {}

    def model_spec(self, n_users: int, n_items: int) -> ModelSpec:
        """ModelSpec with the tables this config builds (users stay FE when compress_users is False)."""
        tables = {"item": self.embedding_config(n_items)}
        if self.model in ("gmf", "neumf"):
            tables["user"] = (
                self.embedding_config(n_users) if self.compress_users else EmbeddingConfig.fe(n_users, self.d)
            )
        return ModelSpec(model_type=self.model, d=self.d, tables=tables, hparams=self.hparams())

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        for k, v in out.items():
            if isinstance(v, tuple):
                out[k] = list(v)
        return out

    def replace(self, **changes: Any) -> TrainConfig:
        return from_dict({**self.to_dict(), **changes})


def _share_bounds(n: int, head: tuple[float, ...]) -> list[int]:
    """Group stop ids for cumulative shares of the (popularity-ordered) id range, e.g. 0.1 -> top 10%."""
    from mgqe.trainer.data.protocol import popularity_groups

    try:
        return popularity_groups(n, head)
    except ValueError as e:
        raise ConfigError(str(e)) from e


_OPTIONAL_FLOAT = {"pos_init_std"}  # float | None fields: the default None says nothing of the type


def from_dict(raw: dict[str, Any]) -> TrainConfig:
    """TrainConfig from plain data (TOML/JSON), lists become tuples; unknown keys and bad types are errors."""
    names = {f.name: f for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(raw) - set(names))
    if unknown:
        raise ConfigError(f"unknown config key(s) {unknown}; known: {sorted(names)}")
    kw: dict[str, Any] = {}
    for k, v in raw.items():
        default = getattr(TrainConfig(), k)
        if isinstance(default, tuple):
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                v = [v]
            if not isinstance(v, (list, tuple)):
                raise ConfigError(f"{k} must be a list, got {v!r}")
            v = tuple(v)
        elif isinstance(default, dict) and not isinstance(v, dict):
            raise ConfigError(f"{k} must be a table/object, got {v!r}")
        elif isinstance(default, str) and not isinstance(v, str):
            raise ConfigError(f"{k} must be a string, got {v!r}")
        elif isinstance(default, bool) and not isinstance(v, bool):
            raise ConfigError(f"{k} must be true or false, got {v!r}")
        elif isinstance(default, int) and not isinstance(default, bool) and (
            isinstance(v, bool) or not isinstance(v, int)
        ):
            raise ConfigError(f"{k} must be an integer, got {v!r}")
        elif isinstance(default, float) and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise ConfigError(f"{k} must be a number, got {v!r}")
        elif k in _OPTIONAL_FLOAT and v is not None:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ConfigError(f"{k} must be a number or null, got {v!r}")
            v = float(v)
        elif isinstance(v, float) and isinstance(default, float):
            v = float(v)
        kw[k] = v
    return TrainConfig(**kw)


def load_config(path: str | Path) -> TrainConfig:
    """Read a TOML (.toml) or JSON (.json) config file; the table `[train]` is used when present."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    text = p.read_text()
    try:
        raw = tomllib.loads(text) if p.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"cannot parse {p}: {e}") from e
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: top level must be a table/object")
    if isinstance(raw.get("train"), dict):
        raw = raw["train"]
    return from_dict(raw)


# fields added after cells were cached, with the value every earlier run had: hashed only when different
_LEGACY: dict[str, Any] = {"centroid_task_grad": True, "pos_init_std": None, "adam_beta2": 0.999}


def _hashed_fields(cfg: TrainConfig) -> dict[str, Any]:
    d = {k: v for k, v in cfg.to_dict().items() if k not in NOT_HASHED}
    # Fields added after cells were cached enter the hash only where they change what is computed, so
    # earlier cells keep their hashes: neg_filter matters only to gmf/neumf ranking, and False is the
    # behaviour of every run made before the field existed.
    if not d["neg_filter"] or cfg.model not in ("gmf", "neumf") or cfg.task != "ranking":
        del d["neg_filter"]
    for k, legacy in _LEGACY.items():
        if d[k] == legacy:
            del d[k]
    return d


def config_hash(cfg: TrainConfig) -> str:
    """Stable 16-hex-digit hash of everything that affects the result (not out_dir, device, progress)."""
    d = _hashed_fields(cfg)
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]
