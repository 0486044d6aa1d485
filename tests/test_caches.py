"""Parsing and validation are cached for real (issue 6, docs/architecture.md section 8): the same
document a second time is neither parsed nor validated again (limits
included), in dev and in prod settings alike. Each schema has a validation
cache of its own, so schemas with other limits never share answers."""

from __future__ import annotations

import pytest
from strawberry.extensions.parser_cache import _get_parse_cache

from gql.http.graphql_schema import build_schema
from gql.settings import Settings

DOCUMENT = "query CacheProbe { __typename }"


@pytest.mark.parametrize("env", ["dev", "prod"])
async def test_a_repeated_document_hits_the_parser_and_validation_caches(env: str) -> None:
    settings = Settings.model_construct(**{**Settings().model_dump(), "env": env})
    schema = build_schema(settings)
    validated, parsed = schema.validate_document, _get_parse_cache(256)
    first = await schema.execute(DOCUMENT + f" # {env}")
    assert first.errors is None
    assert first.data == {"__typename": "Query"}
    validations, parses = validated.cache_info(), parsed.cache_info()
    for _ in range(3):
        again = await schema.execute(DOCUMENT + f" # {env}")
        assert again.data == first.data
    assert validated.cache_info().hits == validations.hits + 3
    assert validated.cache_info().misses == validations.misses
    assert parsed.cache_info().hits == parses.hits + 3


async def test_two_schemas_with_other_limits_do_not_share_validation_results() -> None:
    # The rules are part of the key: a lower depth limit is not answered from
    # a cache filled under a higher one.
    deep = "{ viewer { account { staffMember { displayName } } } }"
    lenient = build_schema(Settings(env="dev", max_depth=10))
    strict = build_schema(Settings(env="dev", max_depth=2))
    # Valid under the lenient limit: it runs (and, without a request
    # context here, fails in the resolver, not in validation).
    passed = await lenient.execute(deep)
    assert passed.errors is not None
    assert [e.path for e in passed.errors] == [["viewer"]]
    refused = await strict.execute(deep)
    assert refused.errors is not None
    assert "exceeds maximum operation depth of 2" in refused.errors[0].message
