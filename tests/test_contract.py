"""The client contract holds, and the committed schema is what is served.

``find_breaking_changes(contract, served)`` may only report the parts listed
in PENDING: contract parts later issues build. The list only shrinks: an item
that is served already fails the test, so it must be removed from the list.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from graphql import (
    GraphQLInterfaceType,
    GraphQLObjectType,
    build_schema,
    get_named_type,
    is_non_null_type,
)
from graphql.utilities import find_breaking_changes

from gql.http.graphql_schema import print_sdl
from schema.restrictions import Restricted
from tests.client import served_schema

ROOT = Path(__file__).resolve().parent.parent
# The released client contract, kept in the repository (docs/contract/README.md).
CONTRACT = Path(
    os.environ.get("ACCESSGRAPH_CONTRACT", ROOT / "docs" / "contract" / "contract.graphql")
)

# Mutations and their input and payload types, built by the workflow issues.
PENDING_MUTATIONS: dict[str, list[str]] = {}
# The whole Mutation root, while no mutation is served yet (served now).
PENDING_ROOT: set[str] = set()
# Contract types no query reaches until their mutation lands.
PENDING_TYPES: set[str] = set()


def _pending_names() -> set[str]:
    names = set(PENDING_ROOT) | set(PENDING_TYPES)
    for field, types in PENDING_MUTATIONS.items():
        names.add(f"Mutation.{field}")
        names.update(types)
    return names


def _subject(description: str) -> str:
    """The type or field a breaking-change description is about."""
    return description.split(" ", 1)[0].rstrip(".")


def _served():
    return build_schema(print_sdl())


def test_the_served_schema_breaks_nothing_in_the_contract_beyond_the_pending_list() -> None:
    contract = build_schema(CONTRACT.read_text())
    changes = find_breaking_changes(contract, _served())
    unexpected = [c.description for c in changes if _subject(c.description) not in _pending_names()]
    assert unexpected == []


def test_the_pending_list_names_only_parts_not_served_yet() -> None:
    contract = build_schema(CONTRACT.read_text())
    reported = {_subject(c.description) for c in find_breaking_changes(contract, _served())}
    mutation_fields_reported = "Mutation" in reported or any(
        n.startswith("Mutation.") for n in reported
    )
    stale = set()
    for name in _pending_names():
        if name.startswith("Mutation.") and "Mutation" in reported:
            continue  # the whole root is missing, so its fields are too
        if name not in reported:
            stale.add(name)
    assert stale == set(), "served already: remove these from the pending list"
    assert mutation_fields_reported or not PENDING_MUTATIONS


def test_restricted_fields_stay_nullable() -> None:
    contract = build_schema(CONTRACT.read_text())
    served = _served()
    made_non_null = []
    for name, contract_type in contract.type_map.items():
        served_type = served.type_map.get(name)
        if not isinstance(contract_type, GraphQLObjectType) or not isinstance(
            served_type, GraphQLObjectType
        ):
            continue
        for field_name, field in contract_type.fields.items():
            served_field = served_type.fields.get(field_name)
            if (
                served_field
                and not is_non_null_type(field.type)
                and is_non_null_type(served_field.type)
            ):
                made_non_null.append(f"{name}.{field_name}")
    assert made_non_null == []


def test_the_committed_schema_is_the_served_schema() -> None:
    committed = (ROOT / "schema.graphql").read_text()
    assert committed == print_sdl(), "schema.graphql drifted: run `make schema` and commit it"


def _restricted(field: Any) -> bool:
    definition = field.extensions.get("strawberry-definition")
    return any(isinstance(e, Restricted) for e in getattr(definition, "extensions", []))


def test_connection_fields_are_non_null_unless_restricted() -> None:
    """A list always exists, so its connection is never null; a restricted
    one is null with FORBIDDEN when the role does not allow it (and must
    stay nullable: test_restricted_fields_stay_nullable)."""
    schema = served_schema()._schema
    wrong = []
    for type_name, named in schema.type_map.items():
        if not isinstance(named, GraphQLObjectType) or type_name.startswith("__"):
            continue
        for field_name, field in named.fields.items():
            returned = get_named_type(field.type)
            if not returned.name.endswith("Connection"):
                continue
            if is_non_null_type(field.type) == _restricted(field):
                wrong.append(f"{type_name}.{field_name}")
    assert wrong == []


def test_every_connection_pages_both_ways() -> None:
    schema = served_schema()._schema
    missing = []
    for type_name, named in schema.type_map.items():
        if not isinstance(named, GraphQLObjectType) or type_name.startswith("__"):
            continue
        for field_name, field in named.fields.items():
            paged = get_named_type(field.type).name.endswith("Connection")
            if paged and not {"first", "after", "last", "before"} <= set(field.args):
                missing.append(f"{type_name}.{field_name}")
    assert missing == []


def test_every_type_with_an_id_is_a_node_or_says_why_not() -> None:
    schema = served_schema()._schema
    node = schema.type_map["Node"]
    unexplained = []
    for type_name, named in schema.type_map.items():
        if not isinstance(named, GraphQLObjectType) or "id" not in named.fields:
            continue
        if node in named.interfaces:
            continue
        if "Not a Node:" not in (named.description or ""):
            unexplained.append(type_name)
    assert unexplained == []


def test_no_connection_type_is_served_that_no_field_returns() -> None:
    schema = served_schema()._schema
    returned = {
        get_named_type(field.type).name
        for named in schema.type_map.values()
        if isinstance(named, GraphQLObjectType | GraphQLInterfaceType)
        for field in named.fields.values()
    }
    unused = [
        name
        for name in schema.type_map
        if name.endswith(("Connection", "Edge")) and name not in returned
    ]
    assert unused == []
