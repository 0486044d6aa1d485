"""The strawberry schema, with its limits (DESIGN 7)."""

from __future__ import annotations

from collections.abc import Callable

from graphql import GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry import Schema
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.extensions.base_extension import SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from gql.settings import Settings
from schema.root import CONTRACT_TYPES, Mutation, Query


class AccessGraphSchema(Schema):
    """Errors are logged where they are formatted (``gql.app``): expected
    ones (limits, validation, authorization) are data, not log noise, and
    unexpected ones are logged once with the request id."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        return None


def build_schema(settings: Settings) -> Schema:
    # Factories, so that each request gets fresh extension instances; the
    # caches live at module level in strawberry and survive across requests.
    # Parsing and validation are cached: validating even a small document
    # costs ~1 ms, executing it ~0.1 ms (DESIGN 8).
    extensions: list[Callable[[], SchemaExtension]] = [
        lambda: ParserCache(maxsize=256),
        lambda: ValidationCache(maxsize=256),
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
        lambda: MaxAliasesLimiter(max_alias_count=settings.max_aliases),
        lambda: QueryDepthLimiter(max_depth=settings.max_depth),
    ]
    if not settings.is_dev:
        extensions.append(lambda: AddValidationRules([NoSchemaIntrospectionCustomRule]))
    return AccessGraphSchema(
        query=Query,
        mutation=Mutation,
        types=CONTRACT_TYPES,
        config=StrawberryConfig(disable_field_suggestions=True),
        extensions=extensions,
    )


def print_sdl() -> str:
    """The served schema as SDL, independent of settings (what schema.graphql holds)."""
    return build_schema(Settings(env="dev")).as_str() + "\n"


__all__ = ["GraphQLError", "build_schema", "print_sdl"]
