"""Operations (docs/architecture.md section 7): request ids, structured logs, Prometheus metrics.

One pure-ASGI middleware per app (``Observability``) does, for every HTTP
request:

- takes the client's ``X-Request-ID`` when it is sane (1-128 characters of
  ``A-Z a-z 0-9 . _ : -``), else makes one, keeps it in a contextvar for the
  request's duration and echoes it in the response header, so that every
  line logged while the request is handled carries it (``RequestIdFilter``,
  and both formatters read it);
- writes one access-log line (``accessgraph.access``: method, path without
  the query string, status, duration, operation name and type; never the
  body, variables or query string, which hold tokens, passwords, codes and
  PINs);
- counts the request in its app's own ``CollectorRegistry`` (tests build
  many apps; the global registry would collide), with labels from bounded
  sets only: the route's template, never the raw path;
- answers an exception nothing else handled with the masked 500 that
  ``/graphql`` gives (a message and the request id), logged in full once.

Endpoints annotate the request through ``note_operation`` and
``note_error`` (the ``extensions.code`` of each error answered), which cost
a contextvar read.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from graphql import GraphQLError, OperationDefinitionNode, parse
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.pool import Pool, QueuePool
from starlette.datastructures import MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("accessgraph")
access_log = logging.getLogger("accessgraph.access")

REQUEST_ID_HEADER = "x-request-id"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_GRAPHQL_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,99}")
_ERROR_CODE = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Probes and scrapes come every few seconds: their access lines are DEBUG.
_QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
MASKED_MESSAGE = "Internal error. Quote request id {request_id} when reporting it."


# --- request ids -----------------------------------------------------------


@dataclass(slots=True)
class RequestInfo:
    """What one request's log lines and metrics need, filled in as it runs."""

    request_id: str
    operation_name: str | None = None
    operation_type: str = "none"
    error_codes: list[str] = field(default_factory=list)


_current: ContextVar[RequestInfo | None] = ContextVar("accessgraph_request", default=None)


def accepted_request_id(incoming: str | None) -> str:
    """The client's id when it is safe to log and echo, else a new one."""
    if incoming is not None and _SANE_REQUEST_ID.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


def current_request_id() -> str:
    """The id of the request being handled (a fresh one outside any)."""
    info = _current.get()
    return info.request_id if info is not None else uuid.uuid4().hex


def note_operation(query: str, operation_name: str | None) -> None:
    """The GraphQL operation this request runs, for its access line and metrics."""
    info = _current.get()
    if info is None:
        return
    name, kind = describe_operation(query, operation_name)
    info.operation_name = name if name is not None and _GRAPHQL_NAME.fullmatch(name) else None
    info.operation_type = kind


def note_error(code: str) -> None:
    """One error answered in the GraphQL error shape, by its ``extensions.code``."""
    info = _current.get()
    if info is not None:
        info.error_codes.append(code if _ERROR_CODE.fullmatch(code) else "OTHER")


def graphql_error_code(error: GraphQLError, formatted: dict[str, Any]) -> str:
    """The code a formatted error carries; syntax and validation errors carry
    none from graphql-core and are named as Apollo names them."""
    extensions = formatted.get("extensions")
    if isinstance(extensions, dict) and isinstance(extensions.get("code"), str):
        return str(extensions["code"])
    if error.message.startswith("Syntax Error"):
        return "GRAPHQL_PARSE_FAILED"
    return "GRAPHQL_VALIDATION_FAILED"


def describe_operation(query: str, operation_name: str | None) -> tuple[str | None, str]:
    """The operation's name and type (query, mutation or subscription);
    the type is "unknown" when the document does not say (it does not
    parse, or names no such operation)."""
    operations = _operations(query)
    if operation_name is not None:
        return operation_name, operations.get(operation_name, "unknown")
    if len(operations) == 1:
        return next(iter(operations.items()))
    return None, "unknown"


@functools.lru_cache(maxsize=256)
def _operations(query: str) -> dict[str | None, str]:
    # Cached like strawberry's own parser cache: a client sends the same few
    # documents, so the cost is hashing the text. max_tokens bounds a miss.
    try:
        document = parse(query, no_location=True, max_tokens=20_000)
    except GraphQLError:
        return {}
    return {
        (definition.name.value if definition.name else None): definition.operation.value
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode)
    }


# --- logs ------------------------------------------------------------------

# Attributes every LogRecord has; anything else on a record came from
# ``extra=`` and is written as a field of its own.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "request_id",
    "taskName",
    "color_message",  # uvicorn's copy of the message with ANSI colours
}


def _request_id_of(record: logging.LogRecord) -> str | None:
    request_id = getattr(record, "request_id", None)
    if request_id is None:
        info = _current.get()
        request_id = info.request_id if info is not None else None
    return request_id


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {
        key: value
        for key, value in record.__dict__.items()
        if key not in _RECORD_ATTRIBUTES and not key.startswith("_")
    }


class RequestIdFilter(logging.Filter):
    """Puts the current request's id on every record a handler sees (None
    outside a request): ``%(request_id)s`` works in any format string."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id_of(record)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id,
    the record's extras, and the traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": _request_id_of(record),
        }
        entry.update(_extras(record))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        try:
            return orjson.dumps(entry, default=str).decode()
        except (TypeError, orjson.JSONEncodeError):  # e.g. an int past 64 bits
            return orjson.dumps({key: str(value) for key, value in entry.items()}).decode()


class TextFormatter(logging.Formatter):
    """For people at a terminal: ``time LEVEL logger [request id] message k=v``."""

    def format(self, record: logging.LogRecord) -> str:
        line = (
            f"{self.formatTime(record)} {record.levelname} {record.name} "
            f"[{_request_id_of(record) or '-'}] {record.getMessage()}"
        )
        extras = _extras(record)
        if extras:
            line += " " + " ".join(f"{key}={value}" for key, value in extras.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


def logging_config(log_format: Literal["json", "text"], log_level: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for ``accessgraph serve``, uvicorn's
    loggers included (uvicorn applies it in each worker process)."""
    formatter = JsonFormatter if log_format == "json" else TextFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"default": {"()": formatter}},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "default",
                "filters": ["request_id"],
            }
        },
        "loggers": {
            # Through the root handler, in the same format.
            "uvicorn": {"handlers": [], "propagate": True, "level": log_level},
            "uvicorn.error": {"handlers": [], "propagate": True, "level": log_level},
            # The app writes its own access line (with the request id, and
            # without the query string, which may hold a token).
            "uvicorn.access": {"handlers": [], "propagate": False, "level": "WARNING"},
            # SQLAlchemy logs every statement at INFO, httpx every request.
            "sqlalchemy": {"level": "WARNING"},
            "httpx": {"level": "WARNING"},
            "httpcore": {"level": "WARNING"},
        },
        "root": {"handlers": ["default"], "level": log_level},
    }


# --- metrics ---------------------------------------------------------------

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class PoolCollector(Collector):
    """The database pool, read at scrape time (nothing per request).

    QueuePool (PostgreSQL, and SQLite files) reports its size, connections
    checked out, idle, and the overflow opened beyond the size; other pools
    (an in-memory SQLite's StaticPool) keep no counts and report only their
    class in ``accessgraph_db_pool_info``.
    """

    def __init__(self, pool: Callable[[], Pool | None]) -> None:
        self._pool = pool

    def collect(self) -> Iterable[Metric]:
        pool = self._pool()
        if pool is None:  # before the lifespan started
            return
        info = GaugeMetricFamily(
            "accessgraph_db_pool_info", "The database pool's class.", labels=["pool"]
        )
        info.add_metric([type(pool).__name__], 1)
        yield info
        if not isinstance(pool, QueuePool):
            return
        yield GaugeMetricFamily(
            "accessgraph_db_pool_size", "Connections the pool keeps open.", value=pool.size()
        )
        yield GaugeMetricFamily(
            "accessgraph_db_pool_checked_out",
            "Connections in use by requests.",
            value=pool.checkedout(),
        )
        yield GaugeMetricFamily(
            "accessgraph_db_pool_checked_in", "Idle connections.", value=pool.checkedin()
        )
        yield GaugeMetricFamily(
            "accessgraph_db_pool_overflow",
            "Connections open beyond the pool size.",
            # QueuePool counts up from -size until it is full.
            value=max(pool.overflow(), 0),
        )


class Metrics:
    """One app's metrics, in a registry of its own."""

    def __init__(self) -> None:
        # The database pool, set by the app's lifespan while it runs.
        self.pool: Pool | None = None
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "accessgraph_http_requests",
            "HTTP requests answered, by route template, method, GraphQL "
            "operation type (none outside /graphql) and status.",
            ["route", "method", "operation_type", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "accessgraph_http_request_duration_seconds",
            "Time from the request's arrival to its response's end.",
            ["route", "operation_type"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter(
            "accessgraph_errors",
            "Errors answered in the GraphQL error shape, by route and extensions.code "
            "(userErrors are data and are not counted).",
            ["route", "code"],
            registry=self.registry,
        )
        self.registry.register(PoolCollector(self.current_pool))
        ProcessCollector(registry=self.registry)

    def current_pool(self) -> Pool | None:
        return self.pool

    def observe(
        self, route: str, method: str, info: RequestInfo, status: int, seconds: float
    ) -> None:
        self.requests.labels(route, method, info.operation_type, str(status)).inc()
        self.latency.labels(route, info.operation_type).observe(seconds)
        for code in info.error_codes:
            self.errors.labels(route, code).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


# --- the middleware --------------------------------------------------------


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


class Observability:
    """Request id, access line, metrics and the last-resort masked 500."""

    def __init__(self, app: ASGIApp, metrics: Metrics | None = None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started_at = time.perf_counter()
        info = RequestInfo(accepted_request_id(_header(scope, b"x-request-id")))
        token = _current.set(info)
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = MutableHeaders(scope=message)
                if REQUEST_ID_HEADER not in headers:
                    headers.append(REQUEST_ID_HEADER, info.request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unexpected error", extra={"path": scope["path"]})
            if response_started:
                raise
            note_error("INTERNAL_SERVER_ERROR")
            await _masked_500(info.request_id)(scope, receive, send_with_id)
        finally:
            self._finish(scope, info, status, time.perf_counter() - started_at)
            _current.reset(token)

    def _finish(self, scope: Scope, info: RequestInfo, status: int, seconds: float) -> None:
        route_object = scope.get("route")
        route = getattr(route_object, "path", None) or "unmatched"
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        if self.metrics is not None:
            self.metrics.observe(route, method, info, status, seconds)
        level = logging.DEBUG if route in _QUIET_ROUTES else logging.INFO
        if not access_log.isEnabledFor(level):
            return
        duration_ms = round(seconds * 1000, 1)
        extra: dict[str, Any] = {
            "method": method,
            "path": scope["path"],
            "status": status,
            "duration_ms": duration_ms,
        }
        if info.operation_type != "none":
            extra["operation_type"] = info.operation_type
            extra["operation_name"] = info.operation_name
        if info.error_codes:
            extra["error_codes"] = info.error_codes
        access_log.log(
            level, "%s %s %d %.1fms", method, scope["path"], status, duration_ms, extra=extra
        )


def _masked_500(request_id: str) -> Response:
    body = {
        "errors": [
            {
                "message": MASKED_MESSAGE.format(request_id=request_id),
                "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
            }
        ]
    }
    return Response(
        orjson.dumps(body),
        status_code=500,
        media_type="application/json",
        headers={REQUEST_ID_HEADER: request_id},
    )
