"""`mgqe-serve`: run the API with uvicorn. Every flag overrides the MGQE_* environment variable of the same
name (see settings.py); the admin token comes from MGQE_ADMIN_TOKEN only."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pydantic import ValidationError

from mgqe.server.settings import Settings

# flag -> (Settings field, type); help texts are the Settings field descriptions
_FLAGS: dict[str, tuple[str, type]] = {
    "--store": ("store", Path),
    "--model": ("models", str),
    "--artifact": ("artifact", Path),
    "--name": ("model_name", str),
    "--host": ("host", str),
    "--port": ("port", int),
    "--reload-interval": ("reload_interval_s", float),
    "--max-k": ("max_k", int),
    "--max-batch": ("max_batch", int),
    "--max-items": ("max_items", int),
    "--max-body-bytes": ("max_body_bytes", int),
    "--max-in-flight": ("max_in_flight", int),
    "--log-level": ("log_level", str),
    "--drain": ("drain_s", float),
    "--shutdown-grace": ("shutdown_grace_s", float),
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mgqe-serve",
        description="Serve MGQE artifacts over HTTP (/v1). Flags override MGQE_* environment variables; "
        "set MGQE_ADMIN_TOKEN to enable /v1/admin.",
    )
    fields = Settings.model_fields
    for flag, (name, typ) in _FLAGS.items():
        help_text = fields[name].description or name
        if name == "models":
            p.add_argument(
                flag, dest=name, action="append", type=typ, help=f"{help_text}; repeat for several"
            )
        else:
            p.add_argument(flag, dest=name, type=typ, help=f"{help_text} (env MGQE_{name.upper()})")
    return p


def settings_from_args(argv: list[str] | None = None) -> Settings:
    args = build_parser().parse_args(argv)
    overrides = {k: v for k, v in vars(args).items() if v is not None}
    try:
        return Settings(**overrides)
    except ValidationError as e:
        msgs = "; ".join(
            f"{'.'.join(map(str, err['loc'])) or 'settings'}: {err['msg']}" for err in e.errors()
        )
        raise SystemExit(f"mgqe-serve: invalid settings: {msgs}") from None


def main(argv: list[str] | None = None) -> int:
    settings = settings_from_args(argv)
    import uvicorn

    from mgqe.server.app import create_app
    from mgqe.server.draining import DrainingServer

    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=settings.shutdown_grace_s,  # type: ignore[arg-type]  # a float works
    )
    DrainingServer(config, app.state, settings.drain_s).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
