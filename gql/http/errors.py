"""JSON responses and the one error shape of every HTTP route.

``/graphql``, the sign-in routes and the portal's PDF route answer a failure
the same way, so a client parses one format:

    {"errors": [{"message": "…", "extensions": {"code": "RATE_LIMITED"}}]}

``error_response`` builds it (and counts the code for the access log and
``accessgraph_errors_total``, ``gql.http.observability``). Errors are never
cached. The request id is added to every response by the middleware.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response

from gql.http.observability import current_request_id, note_error
from resolvers.db import StatementTimedOut

log = logging.getLogger("accessgraph")


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The GraphQL error shape: one error with its ``extensions.code``."""
    note_error(code)
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": code}}]},
        status_code=status,
        headers={"cache-control": "no-store", **(headers or {})},
    )


def database_failure_response(failure: Exception) -> JSONResponse:
    """503 for a database that timed out a statement or cannot be reached
    (``resolvers.db.translate``): the client retries later."""
    request_id = current_request_id()
    if isinstance(failure, StatementTimedOut):
        log.warning("statement timeout request_id=%s", request_id)
        return error_response(503, "TIMEOUT", "The request took too long and was stopped.")
    log.warning("database unavailable request_id=%s: %s", request_id, failure)
    return error_response(
        503,
        "SERVICE_UNAVAILABLE",
        "The database is unavailable; try again shortly.",
        {"retry-after": "5"},
    )
