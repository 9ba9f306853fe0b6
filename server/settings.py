"""Server settings: environment variables with the prefix MGQE_ (e.g. MGQE_STORE=/srv/store), or CLI flags.

Exactly one source of models: a store directory (every model in it, or the ones named in MGQE_MODELS) or a
single artifact file (MGQE_ARTIFACT, served under MGQE_MODEL_NAME). The admin token is read from the
environment only (MGQE_ADMIN_TOKEN), never from a flag, so it does not show up in `ps`.
The field descriptions double as the CLI's --help texts (cli.py).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MGQE_", extra="ignore", frozen=True)
    # Defaults by keyword (default=...): type checkers see a field's default only there, so Settings() with
    # no arguments type-checks (pydantic's dataclass_transform).

    store: Path | None = Field(default=None, description="artifact store directory (<store>/<model>/CURRENT)")
    models: list[str] = Field(default_factory=list, description="models of the store to serve (default: all)")
    artifact: Path | None = Field(
        default=None, description="serve this single artifact file instead of a store",
    )
    model_name: str = Field(default="default", description="model name of the single --artifact")
    reload_interval_s: float = Field(
        default=2.0, ge=0, description="store polling period in s; 0 turns polling off",
    )
    admin_token: SecretStr | None = Field(
        default=None, description="bearer token of /v1/admin (unset: disabled)",
    )
    max_k: int = Field(default=1000, ge=1, description="largest k of recommend/similar")
    max_batch: int = Field(
        default=256, ge=1, description="most queries (users, histories, items, pairs) per request",
    )
    max_items: int = Field(
        default=10_000, ge=1, description="most item ids in one score/embeddings/exclude list",
    )
    max_body_bytes: int = Field(default=1 << 20, ge=1024, description="request bodies above this get 413")
    max_in_flight: int = Field(default=64, ge=1, description="concurrent model requests before answering 503")
    inline_max_items: int = Field(
        default=200_000,
        ge=0,
        description="models with at most this many items are scored on the event loop (a thread "
        "hop costs more than their scan); larger ones in the thread pool",
    )
    drain_s: float = Field(
        default=0.0,
        ge=0,
        description="on SIGTERM: seconds to keep serving while /v1/health/ready answers 503 (lets a load "
        "balancer stop sending) before the server stops accepting connections",
    )
    shutdown_grace_s: float = Field(
        default=10.0, ge=0,
        description="on shutdown: seconds in-flight requests get to finish before being cancelled"
    )
    retry_after_s: int = Field(default=1, ge=1, description="Retry-After seconds of an overload 503")
    log_level: str = Field(
        default="INFO", description="level of the JSON log lines (DEBUG, INFO, WARNING, ...)",
    )
    host: str = Field(default="127.0.0.1", description="address to listen on")
    port: int = Field(default=8000, ge=1, le=65535, description="port to listen on")
    reuse_port: bool = Field(
        default=False,
        description="bind the port with SO_REUSEPORT so several replicas (same user, same host or host "
        "network) share it and the kernel spreads connections over them; every replica must set it, and "
        "each starts listening only once its models are loaded",
    )
    uds: Path | None = Field(
        default=None,
        description="also serve on this Unix socket: a per-replica address (health checks, /metrics) "
        "when replicas share a TCP port",
    )

    @model_validator(mode="after")
    def _one_source(self) -> Settings:
        if (self.store is None) == (self.artifact is None):
            raise ValueError(
                "set exactly one of store (MGQE_STORE, --store) and artifact (MGQE_ARTIFACT, --artifact)"
            )
        return self
