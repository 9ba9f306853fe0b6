"""Prometheus metrics (one registry per app, so several apps in one process never collide) and JSON logs."""

from __future__ import annotations

import json
import logging
import sys
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LOGGER_NAME = "mgqe.server"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "mgqe_requests_total", "HTTP requests", ["route", "method", "status"], registry=r
        )
        self.latency = Histogram(
            "mgqe_request_seconds",
            "HTTP request latency",
            ["route"],
            registry=r,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
        )
        self.in_flight = Gauge("mgqe_in_flight", "model requests being served", registry=r)
        self.rejected = Counter("mgqe_rejected_total", "requests refused early", ["reason"], registry=r)
        self.model_version = Gauge(
            "mgqe_model_version_info", "1 for the version each model serves", ["model", "version"], registry=r
        )
        self.reloads = Counter(
            "mgqe_reloads_total", "model loads by outcome", ["model", "outcome"], registry=r
        )
        self.resident = Gauge(
            "mgqe_model_resident_bytes", "bytes of arrays held per model", ["model"], registry=r
        )

    def set_version(self, model: str, old: str | None, new: str, resident: int) -> None:
        if old is not None and old != new:
            self.model_version.remove(model, old)
        self.model_version.labels(model, new).set(1)
        self.resident.labels(model).set(resident)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, event, plus the record's `fields` extra."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        out.update(getattr(record, "fields", {}))
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def setup_logging(level: str) -> logging.Logger:
    """The server's logger, writing JSON lines to stderr (handler installed once per process)."""
    log = logging.getLogger(LOGGER_NAME)
    log.setLevel(level.upper())
    if not any(isinstance(h.formatter, JsonFormatter) for h in log.handlers):
        h = logging.StreamHandler(sys.stderr)
        h.setFormatter(JsonFormatter())
        log.addHandler(h)
    log.propagate = False
    return log


def log_event(log: logging.Logger, level: int, event: str, **fields: object) -> None:
    log.log(level, event, extra={"fields": fields})
