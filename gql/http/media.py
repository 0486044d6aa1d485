"""GraphQL over HTTP (the current spec draft): which media type to answer in.

``application/graphql-response+json`` is the spec's own type: with it,
a request that fails before execution (the document does not parse or
validate, the variables do not coerce) is answered 400 with no ``data``
entry, so caches and proxies see the failure. ``application/json`` is kept
for older clients: the same failures are 200 with ``{"errors": [...]}``.

The client's ``Accept`` decides, by quality; when both are as acceptable,
the spec's type wins. No ``Accept`` (or ``*/*``, ``application/*``) means
``application/json``, as the spec asks. An ``Accept`` that names neither is
answered 406.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"


def _quality(params: list[str]) -> float:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return max(0.0, min(1.0, float(value.strip())))
            except ValueError:
                return 0.0
    return 1.0


def negotiate(accept: str | None) -> str | None:
    """The media type to answer in, or None when ``accept`` allows neither."""
    if accept is None or not accept.strip():
        return JSON
    best: tuple[float, int] = (0.0, 0)
    chosen: str | None = None
    for part in accept.split(","):
        media, *params = part.split(";")
        media = media.strip().lower()
        if media == GRAPHQL_RESPONSE_JSON:
            offered, preference = GRAPHQL_RESPONSE_JSON, 2
        elif media == JSON:
            offered, preference = JSON, 1
        elif media in {"*/*", "application/*"}:
            offered, preference = JSON, 0
        else:
            continue
        quality = _quality(params)
        if quality > 0 and (quality, preference) > best:
            best, chosen = (quality, preference), offered
    return chosen


def content_type(media: str) -> str:
    return f"{media}; charset=utf-8" if media == GRAPHQL_RESPONSE_JSON else media


def failed_before_execution(data: Any, errors: list[GraphQLError] | None) -> bool:
    """Parsing, validation (limits included) or variable coercion failed:
    nothing ran, so there is no data, and no error has a path."""
    return data is None and bool(errors) and all(e.path is None for e in errors or [])
