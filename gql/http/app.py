"""The ASGI application: ``create_app(settings)``.

One POST JSON endpoint at ``/graphql``, GraphQL over HTTP as the spec's
draft has it (media types in ``gql.http.media``; GraphiQL over GET in dev only),
``/healthz`` (the process), ``/readyz`` (the database) and, when enabled,
``/metrics`` (``gql.http.observability``, which also gives every request its id).
The endpoint is written here rather than taken from strawberry's view so that
every edge rule of docs/architecture.md section 7 is in one readable place: JSON only, no batching,
a body limit, credentials checked before anything runs, unexpected errors
masked with a request id, and orjson responses.

The app's state (engine, schema, signer, limiter, ...) is built by
``lifespan`` and yielded to Starlette, which hands it to every request
(``gql.http.state.app_state``); every endpoint is a module-level function.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import hmac
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import orjson
import sqlalchemy as sa
from graphql import GraphQLError
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.ext.asyncio import async_sessionmaker
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gql.auth.authentication import AuthenticationFailed, authenticate
from gql.auth.cookies import CsrfRejected, SessionCookies
from gql.auth.rate_limits import rate_limiter_for
from gql.auth.tokens import TokenSigner
from gql.http import auth_routes, password_routes, portal_routes
from gql.http.context import graphql_context
from gql.http.errors import JSONResponse, database_failure_response, error_response
from gql.http.get_requests import (
    BadGetRequest,
    get_payload,
    names_a_document,
    operation_type,
    revalidated,
)
from gql.http.graphiql import graphiql_page, graphiql_routes
from gql.http.graphql_schema import build_schema
from gql.http.media import JSON, content_type, failed_before_execution, negotiate
from gql.http.observability import (
    MASKED_MESSAGE,
    Metrics,
    Observability,
    current_request_id,
    graphql_error_code,
    note_error,
    note_operation,
)
from gql.http.state import STATE_KEY, AppState, app_state
from gql.outbound.links import SignedLinks
from gql.outbound.mailer import Mailer, Wakeup, waking_session_class
from gql.settings import Settings
from permissions.errors import AuthorizationError
from resolvers.db import DatabaseUnavailable, Db, StatementTimedOut, create_engine, translate
from resolvers.events import record_reads
from resolvers.tables import utc_now
from schema.graphql_context import Policy

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
    # The request id is on the record (gql.http.observability); the traceback too.
    log.error("unexpected error at %s", error.path, exc_info=original, extra={"path": error.path})
    note_error("INTERNAL_SERVER_ERROR")
    masked: dict[str, Any] = {
        "message": MASKED_MESSAGE.format(request_id=request_id),
        "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
    }
    if error.path is not None:
        masked["path"] = error.path
    return masked


def _post_only(message: str) -> Response:
    return error_response(405, "METHOD_NOT_ALLOWED", message, {"allow": "POST"})


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


@contextlib.asynccontextmanager
async def lifespan(
    _: Starlette,
    *,
    settings: Settings,
    clock: Callable[[], dt.datetime],
    metrics: Metrics | None,
) -> AsyncIterator[Mapping[str, AppState]]:
    """Opens the database, builds the schema and what requests share, runs
    the outbox mailer; yields the ``AppState`` every request reads
    (``gql.http.state``)."""
    engine = create_engine(
        settings.database_url, statement_timeout_ms=settings.statement_timeout_ms or None
    )
    wakeup = Wakeup()
    state = AppState(
        settings=settings,
        engine=engine,
        # Commits that queued email wake the outbox mailer.
        sessions=async_sessionmaker(
            engine, expire_on_commit=False, sync_session_class=waking_session_class(wakeup)
        ),
        schema=build_schema(settings),
        signer=signer_for(settings),
        policy=Policy(
            max_page_size=settings.max_page_size,
            large_batch_threshold=settings.large_batch_threshold,
            public_url=settings.public_url,
            welcome_link_lifetime=dt.timedelta(days=settings.welcome_link_days),
            cursor_key=settings.cursor_key(),
            address_limit=settings.address_limit(),
        ),
        links=SignedLinks(settings.secret_key, settings.public_url),
        rate_limiter=rate_limiter_for(settings, engine, clock=clock),
        cookies=SessionCookies.from_settings(settings),
        clock=clock,
        metrics=metrics,
    )
    if metrics is not None:
        metrics.pool = engine.pool
    mailer = Mailer(settings, state.sessions, clock=clock, wakeup=wakeup)
    sending = asyncio.create_task(mailer.run(), name="outbox mailer")
    try:
        yield {STATE_KEY: state}
    finally:
        await mailer.stop(sending)
        await state.rate_limiter.close()
        if metrics is not None:
            metrics.pool = None
        await engine.dispose()


async def graphql(request: Request) -> Response:
    """GraphQL over HTTP: answer in the media type the client accepts
    (``gql.http.media``), 406 when it accepts neither."""
    is_ide = request.method == "GET" and "text/html" in request.headers.get("accept", "")
    media = negotiate(request.headers.get("accept"))
    if media is None and not is_ide:
        response: Response = error_response(
            406,
            "NOT_ACCEPTABLE",
            "Accept application/graphql-response+json or application/json.",
        )
    else:
        response = await _answer(request, media or JSON)
        if response.media_type == JSON:
            response.headers["content-type"] = content_type(media or JSON)
    response.headers.setdefault("vary", "Accept")
    return response


async def _answer(request: Request, media: str) -> Response:
    state = app_state(request)
    request_id = current_request_id()
    if request.method == "GET":
        if names_a_document(request.query_params):
            try:
                get = get_payload(request.query_params)
            except BadGetRequest as exc:
                return error_response(400, "BAD_REQUEST", str(exc))
            return await _run(request, state, get, media, request_id)
        if state.settings.is_dev and "text/html" in request.headers.get("accept", ""):
            return graphiql_page()
        return _post_only(
            "Send queries as POST with a JSON body (GET runs registered documents only)."
        )
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        return error_response(
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            "The body must be JSON (Content-Type: application/json).",
        )
    body = await _read_body(request, state.settings.max_body_bytes)
    if body is None:
        return error_response(
            413,
            "PAYLOAD_TOO_LARGE",
            f"The body is larger than {state.settings.max_body_bytes} bytes.",
        )
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return error_response(400, "BAD_REQUEST", "The body is not valid JSON.")
    if isinstance(payload, list):
        return error_response(400, "BAD_REQUEST", "Batched operations are off.")
    if not isinstance(payload, dict):
        return error_response(400, "BAD_REQUEST", "The body must be a JSON object.")
    return await _run(request, state, payload, media, request_id)


async def _run(
    request: Request, state: AppState, payload: dict[str, Any], media: str, request_id: str
) -> Response:
    """A request's parameters (a POST body, or a GET's, as a body would
    carry them) checked, then executed under the request's time limit."""
    trusted_hash = _trusted_document_hash(payload)
    if isinstance(payload.get("query"), str):
        if state.settings.trusted_documents_only:
            return error_response(
                400,
                "TRUSTED_DOCUMENTS_ONLY",
                "This server runs only trusted documents: send a registered documentId.",
            )
    elif trusted_hash is None:
        return error_response(
            400,
            "BAD_REQUEST",
            "The body must have a 'query' string or a trusted 'documentId'.",
        )
    variables = payload.get("variables")
    operation_name = payload.get("operationName")
    if variables is not None and not isinstance(variables, dict):
        return error_response(400, "BAD_REQUEST", "'variables' must be an object.")
    if payload.get("extensions") is not None and not isinstance(payload["extensions"], dict):
        return error_response(400, "BAD_REQUEST", "'extensions' must be an object.")
    if operation_name is not None and not isinstance(operation_name, str):
        return error_response(400, "BAD_REQUEST", "'operationName' must be a string.")

    try:
        # Everything that touches the database runs under the request's
        # time limit, sign-in check included: a hung database fails fast.
        async with asyncio.timeout(state.settings.request_timeout_seconds):
            response = await _execute(
                request, state, payload, trusted_hash, variables, operation_name, request_id, media
            )
    except TimeoutError:
        log.warning("request timed out request_id=%s", request_id)
        return error_response(
            503,
            "TIMEOUT",
            "The request took too long and was stopped. Read back any change it was "
            "making before you retry it.",
        )
    except Exception as exc:
        failure = translate(exc)
        if not isinstance(failure, DatabaseUnavailable | StatementTimedOut):
            raise
        return database_failure_response(failure)
    if request.method == "GET":
        return revalidated(response, request.headers.get("if-none-match"))
    return response


async def _execute(
    request: Request,
    state: AppState,
    payload: dict[str, Any],
    trusted_hash: str | None,
    variables: dict[str, Any] | None,
    operation_name: str | None,
    request_id: str,
    media: str,
) -> Response:
    now = state.clock()
    async with state.sessions() as session:
        db = Db(session)
        try:
            query = payload.get("query")
            if not isinstance(query, str):
                assert trusted_hash is not None
                query = await state.trusted_document(db, trusted_hash)
                if query is None:
                    return error_response(
                        400,
                        "PERSISTED_QUERY_NOT_FOUND",
                        "No trusted document has that id; register it first "
                        "(accessgraph documents register).",
                    )
            # What does not say which operation runs fails in execution, running nothing.
            if request.method == "GET" and operation_type(query, operation_name) in {
                "mutation",
                "subscription",
            }:
                return _post_only("Over GET only queries run; send mutations as POST.")
            note_operation(query, operation_name)
            try:
                viewer = await authenticate(request, db, state.signer, now, state.cookies)
            except CsrfRejected as exc:
                return error_response(403, "CSRF_FAILED", str(exc))
            except AuthenticationFailed as exc:
                return error_response(401, "UNAUTHENTICATED", str(exc))
            context = graphql_context(
                db,
                viewer,
                policy=state.policy,
                links=state.links,
                rate_limiter=state.rate_limiter,
                clock=state.clock,
                request_id=request_id,
                client_address=request.client.host if request.client else "unknown",
                request=request,
            )
            result = await state.schema.execute(
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
        failures = [translate(e.original_error) for e in result.errors or [] if e.original_error]
        unavailable = [f for f in failures if isinstance(f, DatabaseUnavailable)]
        if unavailable:
            await _close_quietly(db)
            return database_failure_response(unavailable[0])
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
    headers = {"x-request-id": request_id}
    if failed_before_execution(result.data, result.errors):
        headers["cache-control"] = "no-store"  # a request error is never revalidated
        if media != JSON:
            # 400 and no data entry (application/json: 200 and data null).
            return JSONResponse(response, status_code=400, headers=headers)
    response["data"] = result.data
    return JSONResponse(response, headers=headers)


async def healthz(_: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    try:
        async with asyncio.timeout(2), app_state(request).engine.connect() as connection:
            await connection.execute(sa.text("SELECT 1"))
    except Exception as exc:  # any failure, a hang included, means not ready
        log.warning("database not reachable: %s", exc)
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "reachable"})


async def serve_metrics(request: Request) -> Response:
    """``GET /metrics`` (only routed when enabled); with a token, only for
    ``Authorization: Bearer <token>``."""
    state = app_state(request)
    assert state.metrics is not None, "routed only when metrics are enabled"
    token = state.settings.metrics_token
    if token:
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, f"Bearer {token}".encode()):
            return error_response(
                401,
                "UNAUTHENTICATED",
                "Metrics need the bearer token (ACCESSGRAPH_METRICS_TOKEN).",
                {"www-authenticate": "Bearer"},
            )
    return Response(
        state.metrics.exposition(),
        media_type=CONTENT_TYPE_LATEST,
        headers={"cache-control": "no-store"},
    )


async def database_failure(_: Request, exc: Exception) -> Response:
    # The REST routes (sign-in first: its rate limit may be counted in a
    # database or Redis that is down) answer as /graphql does: 503.
    return database_failure_response(exc)


ROUTES: list[BaseRoute] = [
    Route("/graphql", graphql, methods=["GET", "POST"]),
    Route("/healthz", healthz),
    Route("/readyz", readyz),
    # Each workflow adds its REST routes in its own module.
    *auth_routes.ROUTES,
    *password_routes.ROUTES,
    *portal_routes.ROUTES,
]


def create_app(settings: Settings, *, clock: Callable[[], dt.datetime] | None = None) -> Starlette:
    """The app for ``settings``; ``clock`` is the time every request sees
    (the wall clock unless a test fixes it)."""
    # Off unless enabled: no route, and no counting per request either.
    metrics = Metrics() if settings.metrics_enabled else None
    operations: list[BaseRoute] = (
        [Route("/metrics", serve_metrics, methods=["GET"])] if metrics is not None else []
    )
    return Starlette(
        routes=[*ROUTES, *operations, *(graphiql_routes() if settings.is_dev else [])],
        # Request id, access log, metrics (gql.http.observability).
        middleware=[Middleware(Observability, metrics=metrics)],
        exception_handlers={
            DatabaseUnavailable: database_failure,
            StatementTimedOut: database_failure,
        },
        lifespan=functools.partial(
            lifespan, settings=settings, clock=clock or utc_now, metrics=metrics
        ),
    )


def signer_for(settings: Settings) -> TokenSigner:
    return TokenSigner(
        settings.secret_key,
        issuer=settings.token_issuer,
        audience=settings.token_audience,
        lifetime=dt.timedelta(minutes=settings.access_token_minutes),
    )
