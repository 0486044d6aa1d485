"""The strawberry schema, with its limits (docs/architecture.md section 7)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from graphql import GraphQLError, OperationDefinitionNode
from graphql.validation import ASTValidationRule, NoSchemaIntrospectionCustomRule
from strawberry import Schema
from strawberry.extensions import (
    AddValidationRules,
    MaxTokensLimiter,
    ParserCache,
    ValidationCache,
)
from strawberry.extensions.base_extension import SchemaExtension
from strawberry.extensions.query_depth_limiter import create_validator
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from gql.http.limits import Budget, budget_rule
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


class OperationSelection(SchemaExtension):
    """The operation to run, chosen as the GraphQL spec says (section 6.1):
    the one named by ``operationName``, or the only one. Anything else is a
    request error and nothing runs (docs/architecture.md section 7), where
    strawberry would run the first operation or fail unexpectedly."""

    def on_parse(self) -> Iterator[None]:
        yield
        document = self.execution_context.graphql_document
        if document is None:
            return  # it did not parse: that error is answered
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        # What the request named: ``operation_name`` itself falls back to the
        # first operation's name, the very behaviour refused here.
        name = getattr(self.execution_context, "_provided_operation_name", None)
        if name is not None:
            if not any(o.name is not None and o.name.value == name for o in operations):
                raise _bad_request(f"Unknown operation named '{name}'.")
        elif not operations:
            raise _bad_request("The document has no operation to run.")
        elif len(operations) > 1:
            raise _bad_request("Must provide operation name if query contains multiple operations.")


def _bad_request(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "BAD_REQUEST"})


def build_schema(settings: Settings) -> Schema:
    budget = Budget(
        max_aliases=settings.max_aliases,
        max_fields=settings.max_fields,
        max_directives=settings.max_directives,
        max_cost=settings.max_cost,
        max_page_size=settings.max_page_size,
    )
    # The validation rules are built once, here: strawberry's ValidationCache
    # keys on the rule classes, and a class made per request (as the
    # QueryDepthLimiter extension and a per-request ``budget_rule`` do)
    # would never hit it. Parsing and validation are cached: validating even
    # a small document costs ~1 ms, executing it ~0.1 ms (docs/architecture.md section 8). The
    # extensions are factories, so each request gets fresh instances; the
    # caches live at module level in strawberry and survive across requests.
    rules: list[type[ASTValidationRule]] = [
        create_validator(settings.max_depth, None, None),
        budget_rule(budget),
    ]
    if not settings.is_dev:
        rules.append(NoSchemaIntrospectionCustomRule)
    extensions: list[Callable[[], SchemaExtension]] = [
        lambda: ParserCache(maxsize=256),
        lambda: ValidationCache(maxsize=256),
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
        OperationSelection,
        lambda: AddValidationRules(rules),
    ]
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
