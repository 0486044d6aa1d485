"""The one place a request's GraphQL ``Context`` is built.

The app builds it for every ``/graphql`` request (``gql.http.app``); the
tests that execute the schema directly build theirs with the same function,
so a field added to the context reaches both.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from starlette.requests import Request

from permissions.viewer import Viewer
from resolvers.auth.rate_limits import RateLimiter
from resolvers.db import Db
from resolvers.loaders import Loaders
from schema.graphql_context import Context, Links, Policy


def graphql_context(
    db: Db,
    viewer: Viewer,
    *,
    policy: Policy,
    links: Links,
    rate_limiter: RateLimiter,
    clock: Callable[[], dt.datetime],
    request_id: str = "",
    client_address: str = "unknown",
    request: Request | None = None,
) -> Context:
    """The context of one request by ``viewer``: its own loaders (never
    shared across requests or viewers) over its own session ``db``."""
    return Context(
        db=db,
        viewer=viewer,
        loaders=Loaders(db, viewer),
        policy=policy,
        request_id=request_id,
        links=links,
        rate_limiter=rate_limiter,
        client_address=client_address,
        clock=clock,
        request=request,
    )
