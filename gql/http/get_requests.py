"""Trusted documents over GET: ``GET /graphql?documentId=sha256:<hex>&variables=…``.

Only registered documents run over GET, and only their queries: a mutation
is 405 (``Allow: POST``), as is a query text (it would make every query a
link another site could embed). Apollo's persisted-query GET
(``extensions={"persistedQuery": {"sha256Hash": …}}``) is read too.

A GET answer can be revalidated: ``Cache-Control: private, no-cache`` (the
answer is the viewer's own, so no shared cache keeps it, and the browser
asks again each time) with an ``ETag`` of the body; a request whose
``If-None-Match`` names it gets 304 and no body.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

import orjson
from graphql import GraphQLError, OperationDefinitionNode, parse
from starlette.datastructures import QueryParams
from starlette.responses import Response

CACHE_CONTROL = "private, no-cache"
VARY = "Accept, Authorization, Cookie"


class BadGetRequest(ValueError):
    """A GET whose parameters are not what the spec allows."""


def names_a_document(params: QueryParams) -> bool:
    return "documentId" in params or "extensions" in params


def _json_object(params: QueryParams, name: str) -> dict[str, Any] | None:
    text = params.get(name)
    if text is None or text == "":
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise BadGetRequest(f"'{name}' must be a URL-encoded JSON object.") from exc
    if value is not None and not isinstance(value, dict):
        raise BadGetRequest(f"'{name}' must be a URL-encoded JSON object.")
    return value


def get_payload(params: QueryParams) -> dict[str, Any]:
    """The parameters of a GET as a POST body would carry them."""
    if "query" in params:
        raise BadGetRequest("A query text runs only over POST; GET runs registered documents.")
    payload: dict[str, Any] = {
        "documentId": params.get("documentId"),
        "variables": _json_object(params, "variables"),
        "extensions": _json_object(params, "extensions"),
    }
    if "operationName" in params:
        payload["operationName"] = params["operationName"]
    return payload


@functools.lru_cache(maxsize=512)
def operation_type(document: str, operation_name: str | None) -> str | None:
    """``query``, ``mutation`` or ``subscription``: the operation that would
    run. None when the document does not say (execution then reports why)."""
    try:
        operations = [
            d for d in parse(document).definitions if isinstance(d, OperationDefinitionNode)
        ]
    except GraphQLError:
        return None
    if operation_name is None:
        return operations[0].operation.value if len(operations) == 1 else None
    for operation in operations:
        if operation.name is not None and operation.name.value == operation_name:
            return operation.operation.value
    return None


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _matches(if_none_match: str | None, etag: str) -> bool:
    if if_none_match is None:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return etag in tags or "*" in tags


def revalidated(response: Response, if_none_match: str | None) -> Response:
    """A successful GET answer with its validators, or 304 when the client
    holds it already."""
    if response.status_code != 200 or response.headers.get("cache-control") == "no-store":
        response.headers["cache-control"] = "no-store"  # errors are answered afresh
        return response
    etag = _etag(bytes(response.body))
    headers = {"etag": etag, "cache-control": CACHE_CONTROL, "vary": VARY}
    if _matches(if_none_match, etag):
        kept = {k: v for k, v in response.headers.items() if k == "x-request-id"}
        return Response(status_code=304, headers={**kept, **headers})
    for name, value in headers.items():
        response.headers[name] = value
    return response
