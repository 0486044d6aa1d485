"""Configuration: one pydantic-settings object, validated at start.

Everything comes from ``ACCESSGRAPH_*`` environment variables. Nothing here
touches the database; ``create_app(settings)`` and the CLI receive it.
"""

from __future__ import annotations

import hmac
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from resolvers.auth.rate_limits import Limit

PLACEHOLDER_SECRET = "dev-only-insecure-secret-change-me-0123456789"  # noqa: S105  refused in prod


class OidcProvider(BaseModel):
    """An OpenID Connect provider people may sign in with (docs/architecture.md section 5).

    ``issuer`` is where discovery starts (``{issuer}/.well-known/openid-configuration``).
    Microsoft's multi-tenant endpoints (``.../organizations/v2.0``) publish the
    issuer as ``https://login.microsoftonline.com/{tenantid}/v2.0``; the ID
    token's ``tid`` fills it in. Non-empty ``allowed_hosted_domains`` (Google's
    ``hd`` claim) and ``allowed_tenants`` (Microsoft's ``tid`` claim) refuse
    everyone else; empty lists restrict nothing.
    """

    model_config = ConfigDict(frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")
    kind: Literal["google", "microsoft", "oidc"] = "oidc"
    issuer: str
    client_id: str
    client_secret: str
    scopes: tuple[str, ...] = ("openid", "email", "profile")
    allowed_hosted_domains: tuple[str, ...] = ()
    allowed_tenants: tuple[str, ...] = ()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ACCESSGRAPH_", extra="ignore")

    env: Literal["dev", "prod"] = "dev"
    database_url: str = "sqlite:///accessgraph.sqlite3"
    secret_key: str = PLACEHOLDER_SECRET
    public_url: str = "http://127.0.0.1:8000"
    token_issuer: str = "accessgraph"  # noqa: S105  a name, not a secret
    token_audience: str = "accessgraph-api"  # noqa: S105  a name, not a secret
    access_token_minutes: int = Field(default=15, ge=1, le=24 * 60)
    session_days: int = Field(default=30, ge=1, le=365)
    # A refresh token presented again this soon after its rotation is the
    # client racing itself (two SPA tabs), answered REFRESH_RACED with no
    # token; later, it is a reuse and ends the device's sessions. 0 turns
    # the window off.
    refresh_grace_seconds: int = Field(default=20, ge=0, le=120)

    # Limits (docs/architecture.md section 7).
    max_depth: int = Field(default=10, ge=1)
    max_aliases: int = Field(default=30, ge=1)
    max_tokens: int = Field(default=3000, ge=1)
    max_page_size: int = Field(default=100, ge=1, le=1000)
    max_fields: int = Field(default=250, ge=1)
    max_directives: int = Field(default=20, ge=0)
    max_cost: int = Field(default=25_000, ge=1)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    request_timeout_seconds: float = Field(default=10.0, gt=0)
    # Only registered documents run (mobile apps send their hashes).
    trusted_documents_only: bool = False
    statement_timeout_ms: int = Field(default=5000, ge=0)
    # Where sign-in, code and PIN attempts are counted: memory holds in one
    # process only; with several workers use database (the app's own) or
    # redis (ACCESSGRAPH_REDIS_URL), so that the limit holds across them.
    rate_limit_backend: Literal["memory", "database", "redis"] = "memory"
    redis_url: str | None = None
    # Prefixes every key the Redis limiter writes (one Redis, several apps).
    redis_key_prefix: str = "accessgraph:rate-limit:"
    # One client address's budget across every guessable secret (sign-in,
    # sign-up, codes, PINs, password links): wide, because a whole school or
    # a parents' evening can share one NAT address. Each account and each
    # target (a code, a request, an address typed) keeps its strict limit.
    rate_limit_address_attempts: int = Field(default=200, ge=1)
    rate_limit_address_window_seconds: int = Field(default=600, ge=1)
    # The reverse proxies whose X-Forwarded-For names the client: a
    # comma-separated list of addresses or networks (uvicorn's
    # forwarded_allow_ips), or "*". Empty (the default): no proxy is trusted
    # and the client is the connecting address, so nobody can pick the
    # address their attempts are counted against.
    forwarded_allow_ips: str = ""

    # Operations (docs/architecture.md section 7). Logs go to stderr, one JSON object per line
    # (or text for a terminal), each with the request id; the level is
    # DEBUG, INFO, WARNING or ERROR (any case).
    log_format: Literal["json", "text"] = "json"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # /metrics (Prometheus) is off unless enabled, and in prod served only
    # with the bearer token, so that it is never public by accident.
    metrics_enabled: bool = False
    metrics_token: str | None = Field(default=None, min_length=16)

    # Lifecycle (docs/architecture.md section 3).
    large_batch_threshold: int = Field(default=100, ge=1)
    # The SIS sync refuses to deactivate more than this share of a
    # district's active people at once unless confirmed (docs/architecture.md section 4).
    sync_mass_change_share: float = Field(default=0.2, gt=0, le=1)

    # Mail: without a host, email stays in the outbox with a log line.
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_from: str = "no-reply@accessgraph.invalid"
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_tls: bool = True

    # Sign-in (docs/architecture.md section 5). OIDC providers as JSON:
    # ACCESSGRAPH_OIDC_PROVIDERS='[{"name": "google", "kind": "google", ...}]'.
    oidc_providers: tuple[OidcProvider, ...] = ()
    # Native apps' OIDC return addresses (RFC 8252), matched exactly: a
    # private-use scheme (org.example.app:/oauth) or an https app link, as
    # JSON: ACCESSGRAPH_APP_REDIRECT_URIS='["org.example.app:/oauth"]'.
    app_redirect_uris: tuple[str, ...] = ()
    # Session cookies are Secure unless set otherwise; None: Secure in prod only,
    # so that dev works over http://127.0.0.1.
    cookie_secure: bool | None = None
    email_verification_hours: int = Field(default=48, ge=1, le=24 * 14)
    # Set-or-reset links: a reset asked for by email lasts an hour; the link
    # in a welcome email a week (an admin may provision before the holiday).
    password_reset_minutes: int = Field(default=60, ge=5, le=24 * 60)
    welcome_link_days: int = Field(default=7, ge=1, le=30)
    # A confirmation link to a new email address (signed-in change of email).
    email_change_hours: int = Field(default=24, ge=1, le=24 * 7)
    # argon2id cost; the defaults are argon2-cffi's (RFC 9106, low memory).
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=8)
    argon2_parallelism: int = Field(default=4, ge=1)

    @property
    def is_dev(self) -> bool:
        return self.env == "dev"

    def address_limit(self) -> Limit:
        return Limit(self.rate_limit_address_attempts, self.rate_limit_address_window_seconds)

    def cursor_key(self) -> bytes:
        """The key page cursors are signed with, derived from the secret (a
        key of its own: a cursor is never a valid token or link signature)."""
        return hmac.new(self.secret_key.encode(), b"accessgraph page cursors v1", "sha256").digest()

    @property
    def cookies_are_secure(self) -> bool:
        return self.cookie_secure if self.cookie_secure is not None else not self.is_dev

    @model_validator(mode="after")
    def _sign_in_is_sound(self) -> Settings:
        names = [provider.name for provider in self.oidc_providers]
        if len(names) != len(set(names)):
            raise ValueError("OIDC provider names must be unique")
        if self.env != "prod":
            return self
        if self.cookie_secure is False:
            raise ValueError("ACCESSGRAPH_COOKIE_SECURE cannot be false in prod")
        # OWASP's floor for argon2id: 19 MiB and two passes.
        if self.argon2_memory_kib < 19456 or self.argon2_time_cost < 2:
            raise ValueError("argon2 cost below 19456 KiB / 2 passes is refused in prod")
        for provider in self.oidc_providers:
            if not provider.issuer.startswith("https://"):
                raise ValueError(f"OIDC provider {provider.name!r} must use an https issuer")
        return self

    @model_validator(mode="after")
    def _redis_backend_has_a_server(self) -> Settings:
        if self.rate_limit_backend == "redis" and not self.redis_url:
            raise ValueError(
                "ACCESSGRAPH_RATE_LIMIT_BACKEND=redis needs ACCESSGRAPH_REDIS_URL "
                "(e.g. redis://127.0.0.1:6379/0)"
            )
        return self

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_any_case(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _metrics_are_not_public_in_prod(self) -> Settings:
        if self.env == "prod" and self.metrics_enabled and not self.metrics_token:
            raise ValueError(
                "ACCESSGRAPH_METRICS_ENABLED in prod needs ACCESSGRAPH_METRICS_TOKEN "
                "(at least 16 characters), the bearer token Prometheus sends"
            )
        return self

    @model_validator(mode="after")
    def _prod_refuses_placeholders(self) -> Settings:
        if self.env == "prod" and (
            self.secret_key == PLACEHOLDER_SECRET or len(self.secret_key) < 32
        ):
            raise ValueError(
                "ACCESSGRAPH_SECRET_KEY must be set to a random value of at least 32 "
                "characters in prod"
            )
        return self
