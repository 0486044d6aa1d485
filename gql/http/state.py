"""What the app holds while it runs, built by its lifespan (``gql.http.app``).

Starlette copies the mapping a lifespan yields into every request's
``request.state``; the endpoints (``gql.http.app``, ``gql.http.auth_routes``,
``gql.http.portal_routes``) are module-level functions that read it through
``app_state(request)``. Nothing is captured in closures, so an endpoint's
dependencies are the fields below.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.requests import Request
from strawberry import Schema

from gql.auth.cookies import SessionCookies
from gql.auth.oidc import OidcClients
from gql.auth.passwords import Argon2Cost, Passwords
from gql.auth.tokens import TokenSigner
from gql.auth.verification import VerificationTokens
from gql.http.observability import Metrics
from gql.outbound.links import SignedLinks
from gql.settings import Settings
from resolvers.auth.rate_limits import RateLimiter
from resolvers.db import Db
from resolvers.documents import document_by_hash
from schema.graphql_context import Policy

# The key of the lifespan state under which the app's state is found.
STATE_KEY = "accessgraph"


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
    cookies: SessionCookies
    # The time every request sees (tests inject one to move it forward).
    clock: Callable[[], dt.datetime]
    # None unless ACCESSGRAPH_METRICS_ENABLED.
    metrics: Metrics | None = None
    # Trusted documents, cached once read: they never change once registered.
    documents: dict[str, str] = field(default_factory=dict)

    async def trusted_document(self, db: Db, sha: str) -> str | None:
        document = self.documents.get(sha)
        if document is None:
            document = await document_by_hash(db, sha)
            if document is not None:
                self.documents[sha] = document
        return document

    # The sign-in parts are built on first use, not at start: hashing the
    # decoy password and loading the CA bundle cost time most apps (and
    # tests) never spend. The OIDC clients then keep the providers'
    # discovery and keys.

    @cached_property
    def passwords(self) -> Passwords:
        return Passwords(
            Argon2Cost(
                time_cost=self.settings.argon2_time_cost,
                memory_kib=self.settings.argon2_memory_kib,
                parallelism=self.settings.argon2_parallelism,
            )
        )

    @cached_property
    def oidc(self) -> OidcClients:
        return OidcClients(
            self.settings.oidc_providers,
            secret_key=self.settings.secret_key,
            public_url=self.settings.public_url,
        )

    @cached_property
    def verification(self) -> VerificationTokens:
        return VerificationTokens(
            self.settings.secret_key,
            self.settings.public_url,
            lifetime=dt.timedelta(hours=self.settings.email_verification_hours),
        )

    @property
    def session_lifetime(self) -> dt.timedelta:
        return dt.timedelta(days=self.settings.session_days)


def app_state(request: Request) -> AppState:
    """The state the app's lifespan yielded, as this request sees it."""
    state = getattr(request.state, STATE_KEY, None)
    assert isinstance(state, AppState), (
        "no lifespan state: serve the app with a server that runs its lifespan "
        "(uvicorn), or in tests through tests.lifespan.started(app)"
    )
    return state


def client_address(request: Request) -> str:
    """Whom attempts are counted against: the connecting address, or the
    client a trusted proxy names (``ACCESSGRAPH_FORWARDED_ALLOW_IPS``; uvicorn
    rewrites the connection's address only for those proxies)."""
    return request.client.host if request.client else "unknown"
