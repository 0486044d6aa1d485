"""The strawberry schema, with its limits (docs/architecture.md section 7)."""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import NamedTuple

from graphql import DocumentNode, GraphQLError, GraphQLSchema, OperationDefinitionNode
from graphql.validation import (
    ASTValidationRule,
    NoSchemaIntrospectionCustomRule,
    specified_rules,
    validate,
)
from strawberry import Schema
from strawberry.extensions import MaxTokensLimiter, ParserCache
from strawberry.extensions.base_extension import SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule
from strawberry.types import ExecutionContext

from gql.http.limits import Budget, check_limits
from gql.http.text_inputs import ControlCharactersInVariables, ControlCharactersRule
from gql.settings import Settings
from schema.root import CONTRACT_TYPES, Mutation, Query


class AccessGraphSchema(Schema):
    """Errors are logged where they are formatted (``gql.app``): expected
    ones (limits, validation, authorization) are data, not log noise, and
    unexpected ones are logged once with the request id."""

    # Limits, then graphql-core's rules, cached per document (set by build_schema).
    validate_document: DocumentValidator
    # Prod names nothing of the schema a client did not name itself.
    hide_hints: bool = False

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        if self.hide_hints:
            for error in errors:
                error.message = without_hints(error.message)


# graphql-core's did_you_mean(): " Did you mean 'a', 'b', or 'c'?", also "the
# enum value 'a'" or "to use an inline fragment on 'A'"; names never hold "?".
_HINT = re.compile(r" ?Did you mean [^?]*\?")


def without_hints(message: str) -> str:
    """The message without the schema names graphql-core suggests, wherever
    it suggests them (unknown arguments, types, enum values and input fields,
    in validation and in variable coercion alike)."""
    return _HINT.sub("", message)


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


class ValidationWithLimits(SchemaExtension):
    """Validation, cached per document: the query limits first (linear in
    the document, ``gql.http.limits``), then, only if the document is within
    them, graphql-core's rules. Replaces strawberry's ValidationCache and
    QueryDepthLimiter (which walks every expansion of every fragment)."""

    def __init__(self, validate_document: Callable[[DocumentNode], list[GraphQLError]]) -> None:
        self.validate_document = validate_document

    def on_validate(self) -> Iterator[None]:
        document = self.execution_context.graphql_document
        assert document is not None
        self.execution_context.pre_execution_errors = self.validate_document(document)
        yield


class CacheInfo(NamedTuple):
    hits: int
    misses: int
    maxsize: int
    currsize: int


class DocumentValidator:
    """Limits, then the rules, for one schema; the answers are cached by the
    document's text (hashing or comparing the document itself recurses as
    deep as it is nested, and a deep one would overflow the stack)."""

    def __init__(
        self,
        graphql_schema: GraphQLSchema,
        budget: Budget,
        rules: tuple[type[ASTValidationRule], ...],
        maxsize: int = 256,
    ) -> None:
        self.graphql_schema = graphql_schema
        self.budget = budget
        self.rules = rules
        self.maxsize = maxsize
        self.answers: OrderedDict[str, list[GraphQLError]] = OrderedDict()
        self.hits = self.misses = 0

    def __call__(self, document: DocumentNode) -> list[GraphQLError]:
        text = document.loc.source.body if document.loc is not None else None
        if text is not None and text in self.answers:
            self.hits += 1
            self.answers.move_to_end(text)
            return self.answers[text]
        self.misses += 1
        errors = check_limits(self.graphql_schema, document, self.budget) or validate(
            self.graphql_schema, document, self.rules
        )
        if text is not None:
            self.answers[text] = errors
            if len(self.answers) > self.maxsize:
                self.answers.popitem(last=False)
        return errors

    def cache_info(self) -> CacheInfo:
        return CacheInfo(self.hits, self.misses, self.maxsize, len(self.answers))


def build_schema(settings: Settings) -> AccessGraphSchema:
    budget = Budget(
        max_depth=settings.max_depth,
        max_aliases=settings.max_aliases,
        max_fields=settings.max_fields,
        max_directives=settings.max_directives,
        max_cost=settings.max_cost,
        max_page_size=settings.max_page_size,
    )
    # Parsing and validation are cached: validating even a small document
    # costs ~1 ms, executing it ~0.1 ms (docs/architecture.md section 8). The
    # extensions are factories, so each request gets fresh instances; the
    # parser cache lives at module level in strawberry, the validation cache
    # with the schema built here.
    rules: tuple[type[ASTValidationRule], ...] = (
        *specified_rules,
        MaybeNullValidationRule,
        OneOfInputValidationRule,
        ControlCharactersRule,
    )
    if not settings.is_dev:
        rules = (*rules, NoSchemaIntrospectionCustomRule)
    extensions: list[Callable[[], SchemaExtension]] = [
        lambda: ParserCache(maxsize=256),
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
        OperationSelection,
        lambda: ValidationWithLimits(schema.validate_document),
        ControlCharactersInVariables,
    ]
    schema = AccessGraphSchema(
        query=Query,
        mutation=Mutation,
        types=CONTRACT_TYPES,
        config=StrawberryConfig(disable_field_suggestions=True),
        extensions=extensions,
    )
    schema.validate_document = DocumentValidator(schema._schema, budget, rules)
    schema.hide_hints = not settings.is_dev
    return schema


def print_sdl() -> str:
    """The served schema as SDL, independent of settings (what schema.graphql holds)."""
    return build_schema(Settings(env="dev")).as_str() + "\n"


__all__ = ["GraphQLError", "build_schema", "print_sdl"]
