"""The ASGI application: ``create_app(settings)``.

One POST JSON endpoint at ``/graphql`` (GraphiQL over GET in dev only),
``/healthz`` (the process), ``/readyz`` (the database) and, when enabled,
``/metrics`` (``gql.observability``, which also gives every request its id).
The endpoint is written here rather than taken from strawberry's view so that
every edge rule of docs/architecture.md section 7 is in one readable place: JSON only, no batching,
a body limit, credentials checked before anything runs, unexpected errors
masked with a request id, and orjson responses.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import sqlalchemy as sa
from graphql import GraphQLError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route
from strawberry import Schema
from strawberry.http.ides import get_graphql_ide_html

from gql.auth.authentication import AuthenticationFailed, authenticate
from gql.auth.cookies import CsrfRejected, SessionCookies
from gql.auth.rate_limits import rate_limiter_for
from gql.auth.routes import auth_routes
from gql.auth.tokens import TokenSigner
from gql.http.graphql_schema import build_schema
from gql.http.observability import (
    MASKED_MESSAGE,
    Metrics,
    Observability,
    current_request_id,
    graphql_error_code,
    metrics_route,
    note_error,
    note_operation,
)
from gql.http.portal_routes import portal_routes
from gql.outbound.links import SignedLinks
from gql.outbound.mailer import Mailer
from gql.settings import Settings
from permissions.errors import AuthorizationError
from resolvers.auth.rate_limits import RateLimiter
from resolvers.db import DatabaseUnavailable, Db, StatementTimedOut, create_engine, translate
from resolvers.documents import document_by_hash
from resolvers.events import record_reads
from resolvers.loaders import Loaders
from schema.graphql_context import Context, Policy

log = logging.getLogger("accessgraph")


def _trusted_document_hash(payload: dict[str, Any]) -> str | None:
    """The SHA-256 a client names instead of sending the text: ``documentId``
    ("sha256:…" or bare hex) or Apollo's ``extensions.persistedQuery``."""
    document_id = payload.get("documentId")
    if isinstance(document_id, str):
        return document_id.removeprefix("sha256:").lower()
    extensions = payload.get("extensions")
    if isinstance(extensions, dict):
        persisted = extensions.get("persistedQuery")
        if isinstance(persisted, dict) and isinstance(persisted.get("sha256Hash"), str):
            return str(persisted["sha256Hash"]).lower()
    return None


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class AppState:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    schema: Schema
    signer: TokenSigner
    policy: Policy
    links: SignedLinks
    rate_limiter: RateLimiter
    # Trusted documents, cached once read: they never change once registered.
    documents: dict[str, str] = field(default_factory=dict)
    # The time every request sees (tests inject one to move it forward).
    clock: Callable[[], dt.datetime] = utc_now

    async def trusted_document(self, db: Db, sha: str) -> str | None:
        document = self.documents.get(sha)
        if document is None:
            document = await document_by_hash(db, sha)
            if document is not None:
                self.documents[sha] = document
        return document


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def _error_response(status: int, message: str, code: str, request_id: str) -> JSONResponse:
    note_error(code)
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": code}}]},
        status_code=status,
        headers={"x-request-id": request_id},
    )


def _format_error(error: GraphQLError, request_id: str) -> dict[str, Any]:
    """Readable for limits, validation and authorization; masked otherwise."""
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        formatted = error.formatted
        if isinstance(original, AuthorizationError):
            formatted["extensions"] = {"code": original.code}
        elif isinstance(original, GraphQLError) and original.extensions:
            formatted["extensions"] = dict(original.extensions)
        note_error(graphql_error_code(error, dict(formatted)))
        return dict(formatted)
    # The request id is on the record (gql.observability); the traceback too.
    log.error("unexpected error at %s", error.path, exc_info=original, extra={"path": error.path})
    note_error("INTERNAL_SERVER_ERROR")
    masked: dict[str, Any] = {
        "message": MASKED_MESSAGE.format(request_id=request_id),
        "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
    }
    if error.path is not None:
        masked["path"] = error.path
    return masked


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The body, or None once it passes ``limit`` bytes (not read further)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def _close_quietly(db: Db) -> None:
    """Close a session whose connection may already be gone."""
    try:
        await db.close()
    except Exception as exc:
        log.debug("closing a broken session: %s", exc)


def _database_failure(failure: Exception, request_id: str) -> JSONResponse:
    if isinstance(failure, StatementTimedOut):
        log.warning("statement timeout request_id=%s", request_id)
        return _error_response(
            503, "The request took too long and was stopped.", "TIMEOUT", request_id
        )
    log.warning("database unavailable request_id=%s: %s", request_id, failure)
    response = _error_response(
        503, "The database is unavailable; try again shortly.", "SERVICE_UNAVAILABLE", request_id
    )
    response.headers["retry-after"] = "5"
    return response


def create_app(settings: Settings, *, clock: Callable[[], dt.datetime] | None = None) -> Starlette:
    state: AppState | None = None
    cookies = SessionCookies.from_settings(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        nonlocal state
        engine = create_engine(
            settings.database_url, statement_timeout_ms=settings.statement_timeout_ms or None
        )
        state = AppState(
            settings=settings,
            engine=engine,
            sessions=async_sessionmaker(engine, expire_on_commit=False),
            schema=build_schema(settings),
            signer=signer_for(settings),
            policy=Policy(
                max_page_size=settings.max_page_size,
                large_batch_threshold=settings.large_batch_threshold,
                public_url=settings.public_url,
            ),
            links=SignedLinks(settings.secret_key, settings.public_url),
            rate_limiter=rate_limiter_for(settings, engine, clock=clock or utc_now),
            clock=clock or utc_now,
        )
        mailer = Mailer(settings, state.sessions, clock=state.clock)
        sending = asyncio.create_task(mailer.run(), name="outbox mailer")
        try:
            yield
        finally:
            await mailer.stop(sending)
            await state.rate_limiter.close()
            await engine.dispose()

    def current() -> AppState:
        assert state is not None, "the app's lifespan has not started"
        return state

    async def graphql(request: Request) -> Response:
        app_state = current()
        request_id = current_request_id()
        if request.method == "GET":
            if app_state.settings.is_dev and "text/html" in request.headers.get("accept", ""):
                return HTMLResponse(get_graphql_ide_html(graphql_ide="graphiql"))
            return _error_response(
                405, "Send queries as POST with a JSON body.", "METHOD_NOT_ALLOWED", request_id
            )
        content_type = request.headers.get("content-type", "")
        if content_type.split(";")[0].strip().lower() != "application/json":
            return _error_response(
                415,
                "The body must be JSON (Content-Type: application/json).",
                "UNSUPPORTED_MEDIA_TYPE",
                request_id,
            )
        body = await _read_body(request, app_state.settings.max_body_bytes)
        if body is None:
            return _error_response(
                413,
                f"The body is larger than {app_state.settings.max_body_bytes} bytes.",
                "PAYLOAD_TOO_LARGE",
                request_id,
            )
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            return _error_response(400, "The body is not valid JSON.", "BAD_REQUEST", request_id)
        if isinstance(payload, list):
            return _error_response(400, "Batched operations are off.", "BAD_REQUEST", request_id)
        if not isinstance(payload, dict):
            return _error_response(
                400, "The body must be a JSON object.", "BAD_REQUEST", request_id
            )
        trusted_hash = _trusted_document_hash(payload)
        if isinstance(payload.get("query"), str):
            if app_state.settings.trusted_documents_only:
                return _error_response(
                    400,
                    "This server runs only trusted documents: send a registered documentId.",
                    "TRUSTED_DOCUMENTS_ONLY",
                    request_id,
                )
        elif trusted_hash is None:
            return _error_response(
                400,
                "The body must have a 'query' string or a trusted 'documentId'.",
                "BAD_REQUEST",
                request_id,
            )
        variables = payload.get("variables")
        operation_name = payload.get("operationName")
        if variables is not None and not isinstance(variables, dict):
            return _error_response(400, "'variables' must be an object.", "BAD_REQUEST", request_id)
        if operation_name is not None and not isinstance(operation_name, str):
            return _error_response(
                400, "'operationName' must be a string.", "BAD_REQUEST", request_id
            )

        try:
            # Everything that touches the database runs under the request's
            # time limit, sign-in check included: a hung database fails fast.
            async with asyncio.timeout(app_state.settings.request_timeout_seconds):
                return await execute(
                    request, app_state, payload, trusted_hash, variables, operation_name, request_id
                )
        except TimeoutError:
            log.warning("request timed out request_id=%s", request_id)
            return _error_response(
                503,
                "The request took too long and was stopped. Read back any change it was "
                "making before you retry it.",
                "TIMEOUT",
                request_id,
            )
        except Exception as exc:
            failure = translate(exc)
            if not isinstance(failure, DatabaseUnavailable | StatementTimedOut):
                raise
            return _database_failure(failure, request_id)

    async def execute(
        request: Request,
        app_state: AppState,
        payload: dict[str, Any],
        trusted_hash: str | None,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        request_id: str,
    ) -> Response:
        now = app_state.clock()
        async with app_state.sessions() as session:
            db = Db(session)
            try:
                query = payload.get("query")
                if not isinstance(query, str):
                    assert trusted_hash is not None
                    query = await app_state.trusted_document(db, trusted_hash)
                    if query is None:
                        return _error_response(
                            400,
                            "No trusted document has that id; register it first.",
                            "PERSISTED_QUERY_NOT_FOUND",
                            request_id,
                        )
                note_operation(query, operation_name)
                try:
                    viewer = await authenticate(request, db, app_state.signer, now, cookies)
                except CsrfRejected as exc:
                    return _error_response(403, str(exc), "CSRF_FAILED", request_id)
                except AuthenticationFailed as exc:
                    return _error_response(401, str(exc), "UNAUTHENTICATED", request_id)
                context = Context(
                    db=db,
                    viewer=viewer,
                    loaders=Loaders(db, viewer),
                    policy=app_state.policy,
                    request_id=request_id,
                    links=app_state.links,
                    rate_limiter=app_state.rate_limiter,
                    client_address=request.client.host if request.client else "unknown",
                    clock=app_state.clock,
                    request=request,
                )
                result = await app_state.schema.execute(
                    query,
                    variable_values=variables,
                    context_value=context,
                    operation_name=operation_name,
                )
            except BaseException:
                # Nothing half-done survives: the uncommitted transaction rolls
                # back on close, after any statement still in flight.
                await _close_quietly(db)
                raise
            failures = [
                translate(e.original_error) for e in result.errors or [] if e.original_error
            ]
            unavailable = [f for f in failures if isinstance(f, DatabaseUnavailable)]
            if unavailable:
                await _close_quietly(db)
                return _database_failure(unavailable[0], request_id)
            try:
                # Who looked at which student: one INSERT, then commit. A
                # mutation committed its own work already, so a failure here
                # loses only the read log, never the answer.
                await record_reads(db, viewer, context.reads, at=now)
                await db.commit()
            except Exception as exc:
                if translate(exc) is None:
                    raise
                log.warning("read log not written request_id=%s: %s", request_id, exc)
                await _close_quietly(db)
        response: dict[str, Any] = {}
        if result.errors:
            response["errors"] = [_format_error(e, request_id) for e in result.errors]
        response["data"] = result.data
        return JSONResponse(response, headers={"x-request-id": request_id})

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        try:
            async with asyncio.timeout(2), current().engine.connect() as connection:
                await connection.execute(sa.text("SELECT 1"))
        except Exception as exc:  # any failure, a hang included, means not ready
            log.warning("database not reachable: %s", exc)
            return JSONResponse(
                {"status": "unavailable", "database": "unreachable"}, status_code=503
            )
        return JSONResponse({"status": "ok", "database": "reachable"})

    async def database_failure(request: Request, exc: Exception) -> Response:
        # The REST routes (sign-in first: its rate limit may be counted in a
        # database or Redis that is down) answer as /graphql does: 503.
        return _database_failure(exc, current_request_id())

    # Off unless enabled: no route, and no counting per request either.
    metrics = (
        Metrics(lambda: state.engine.pool if state is not None else None)
        if settings.metrics_enabled
        else None
    )
    operations: list[BaseRoute] = (
        [metrics_route(metrics, settings.metrics_token)] if metrics is not None else []
    )
    return Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            # Each workflow adds its REST routes in its own module:
            # *auth_routes(current), *portal_routes(current)
            *auth_routes(current),
            *portal_routes(current),
            *operations,
        ],
        # Request id, access log, metrics (gql.observability).
        middleware=[Middleware(Observability, metrics=metrics)],
        exception_handlers={
            DatabaseUnavailable: database_failure,
            StatementTimedOut: database_failure,
        },
        lifespan=lifespan,
    )


def signer_for(settings: Settings) -> TokenSigner:
    return TokenSigner(
        settings.secret_key,
        issuer=settings.token_issuer,
        audience=settings.token_audience,
        lifetime=dt.timedelta(minutes=settings.access_token_minutes),
    )
