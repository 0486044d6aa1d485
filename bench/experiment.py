"""P3X, an experiment: P3 with the two CPU fixes RESULTS.md proposes, applied
by patching at start-up, to measure what they buy before the server has them.

1. Parsing and validation are cached for real: strawberry's ValidationCache
   keys on the validation rules, and ``gql.graphql_schema.build_schema``
   makes a new depth-rule class (``QueryDepthLimiter``) and a new budget-rule
   class (``budget_rule(budget)`` inside the factory) for every request, so
   the cache never hits. Here both rule classes are built once.
2. The lifecycle reason columns of an account (``resolvers.lifecycle.
   reason_columns``: five CASEs over ten correlated EXISTS, selected with
   every account row) are built once per table or alias instead of for
   every query.

Nothing else changes: P3X must answer with P3's bytes (the identity check
compares them). Delete this module once the server has both fixes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from gql.settings import Settings


def patched_schema_builder(settings: Settings) -> Any:
    """``build_schema`` as it is, with each validation rule class made once."""
    from graphql.validation import NoSchemaIntrospectionCustomRule
    from strawberry.extensions import (
        AddValidationRules,
        MaxTokensLimiter,
        ParserCache,
        ValidationCache,
    )
    from strawberry.extensions.base_extension import SchemaExtension
    from strawberry.extensions.query_depth_limiter import create_validator
    from strawberry.schema.config import StrawberryConfig

    from gql.graphql_schema import AccessGraphSchema
    from gql.limits import Budget, budget_rule
    from schema.root import CONTRACT_TYPES, Mutation, Query

    budget = Budget(
        max_aliases=settings.max_aliases,
        max_fields=settings.max_fields,
        max_directives=settings.max_directives,
        max_cost=settings.max_cost,
        max_page_size=settings.max_page_size,
    )
    rules: list[Any] = [create_validator(settings.max_depth, None, None), budget_rule(budget)]
    if not settings.is_dev:
        rules.append(NoSchemaIntrospectionCustomRule)
    extensions: list[Callable[[], SchemaExtension]] = [
        lambda: ParserCache(maxsize=256),
        lambda: ValidationCache(maxsize=256),
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
        lambda: AddValidationRules(rules),
    ]
    return AccessGraphSchema(
        query=Query,
        mutation=Mutation,
        types=CONTRACT_TYPES,
        config=StrawberryConfig(disable_field_suggestions=True),
        extensions=extensions,
    )


def apply() -> None:
    import sys

    import gql.app
    import resolvers.lifecycle

    # setattr: these are the module globals the server looks up at call time.
    setattr(gql.app, "build_schema", patched_schema_builder)  # noqa: B010
    original = resolvers.lifecycle.reason_columns
    cached = functools.cache(original)
    # Every module that imported the function by name gets the cached one.
    for name, module in list(sys.modules.items()):
        if (name == "resolvers" or name.startswith("resolvers.")) and getattr(
            module, "reason_columns", None
        ) is original:
            setattr(module, "reason_columns", cached)  # noqa: B010
    accounts = sys.modules.get("resolvers.accounts")
    columns = getattr(accounts, "_account_columns", None)
    if columns is not None and not hasattr(columns, "cache_info"):
        setattr(accounts, "_account_columns", functools.cache(columns))  # noqa: B010
