"""`mgqe-serve`: run the API with uvicorn. Every flag overrides the MGQE_* environment variable of the same
name (see settings.py); the admin token comes from MGQE_ADMIN_TOKEN only."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

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
    "--reuse-port": ("reuse_port", bool),
    "--uds": ("uds", Path),
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
        elif typ is bool:  # a switch; None when absent so the environment variable still applies
            p.add_argument(
                flag,
                dest=name,
                action="store_const",
                const=True,
                help=f"{help_text} (env MGQE_{name.upper()}=1)",
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


def bind_tcp(host: str, port: int, reuse_port: bool) -> socket.socket:
    """A bound (not yet listening) TCP socket for uvicorn. Bound here rather than by uvicorn so that
    SO_REUSEPORT can be set and a taken port gets an error that names it; SystemExit on failure."""
    where = f"{host}:{port}"
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as e:
        raise SystemExit(
            f"mgqe-serve: cannot listen on {where}: host not resolvable ({e.strerror})"
        ) from None
    if reuse_port and not hasattr(socket, "SO_REUSEPORT"):
        raise SystemExit("mgqe-serve: reuse_port (MGQE_REUSE_PORT) needs SO_REUSEPORT, absent on this OS")
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # restart past TIME_WAIT, like uvicorn
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind(addr)
    except OSError as e:
        sock.close()
        hint = ""
        if e.errno == errno.EADDRINUSE:
            hint = (
                " (the process holding it did not set SO_REUSEPORT or runs as another user)"
                if reuse_port
                else " by another process (to run several replicas on one port, set MGQE_REUSE_PORT=1 "
                "or --reuse-port in every one of them)"
            )
        raise SystemExit(f"mgqe-serve: cannot listen on {where}: {e.strerror}{hint}") from None
    return sock


def bind_unix(path: Path) -> socket.socket:
    """A bound Unix socket at path; a stale socket file (no server answers on it) is replaced, a live one
    or an unusable path is a SystemExit naming it."""
    if path.is_socket():
        with socket.socket(socket.AF_UNIX) as probe:
            try:
                probe.connect(str(path))
            except OSError:
                path.unlink()  # left behind by a killed server
            else:
                raise SystemExit(f"mgqe-serve: cannot listen on {path}: a running server uses it")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(path))
    except OSError as e:
        sock.close()
        raise SystemExit(f"mgqe-serve: cannot listen on {path}: {e.strerror}") from None
    return sock


def listen_when_ready(app: Any) -> None:
    """Hold the app's lifespan startup (uvicorn listens on its sockets right after it) until every model is
    loaded, or until a shutdown signal. For reuse_port: the kernel hands connections on a shared port to any
    listening replica and reads no readiness, so a replica starting or restarting must not listen before it
    can answer. app: the FastAPI app of create_app."""
    inner = app.router.lifespan_context
    state = app.state

    @contextlib.asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        async with inner(a) as value:
            while not state.registry.ready and not state.draining:  # draining: set by a signal
                await asyncio.sleep(0.05)
            yield value

    app.router.lifespan_context = lifespan


def main(argv: list[str] | None = None) -> int:
    settings = settings_from_args(argv)
    sockets = [bind_tcp(settings.host, settings.port, settings.reuse_port)]
    if settings.uds is not None:
        sockets.append(bind_unix(settings.uds))
    import uvicorn

    from mgqe.server.app import create_app
    from mgqe.server.draining import DrainingServer

    app = create_app(settings)
    if settings.reuse_port:
        listen_when_ready(app)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=settings.shutdown_grace_s,  # type: ignore[arg-type]  # a float works
    )
    try:
        DrainingServer(config, app.state, settings.drain_s).run(sockets=sockets)
    finally:
        if settings.uds is not None:
            settings.uds.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
