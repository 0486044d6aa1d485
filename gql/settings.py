"""Configuration: one pydantic-settings object, validated at start.

Everything comes from ``ACCESSGRAPH_*`` environment variables. Nothing here
touches the database; ``create_app(settings)`` and the CLI receive it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRET = "dev-only-insecure-secret-change-me-0123456789"  # noqa: S105  refused in prod


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

    # Limits (DESIGN 7).
    max_depth: int = Field(default=10, ge=1)
    max_aliases: int = Field(default=30, ge=1)
    max_tokens: int = Field(default=3000, ge=1)
    max_page_size: int = Field(default=100, ge=1, le=1000)
    statement_timeout_ms: int = Field(default=5000, ge=0)

    # Lifecycle (DESIGN 3).
    large_batch_threshold: int = Field(default=100, ge=1)

    # Mail: without a host, email stays in the outbox with a log line.
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_from: str = "no-reply@accessgraph.invalid"
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_tls: bool = True

    @property
    def is_dev(self) -> bool:
        return self.env == "dev"

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
