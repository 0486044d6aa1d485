"""The served schema documents itself: every type, field, argument, input
field and enum value has a description, and every restricted field's
description ends with who may see it, as the capability table says
(permissions/visibility.py computes the words; restricted() appends them)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    is_introspection_type,
    is_specified_scalar_type,
)

from permissions.capabilities import Capability
from permissions.visibility import Reach, visible_to
from schema.restrictions import Restricted
from tests.client import served_schema


def _schema() -> GraphQLSchema:
    return served_schema()._schema  # type: ignore[no-any-return]


def _own_types(schema: GraphQLSchema) -> list[Any]:
    return [
        t
        for t in schema.type_map.values()
        if not is_introspection_type(t) and not is_specified_scalar_type(t)
    ]


def undescribed(schema: GraphQLSchema) -> list[str]:
    missing = []
    for named in _own_types(schema):
        name = named.name
        if not named.description:
            missing.append(name)
        if isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
            for field_name, field in named.fields.items():
                if not field.description:
                    missing.append(f"{name}.{field_name}")
                missing += [
                    f"{name}.{field_name}({arg}:)"
                    for arg, argument in field.args.items()
                    if not argument.description
                ]
        if isinstance(named, GraphQLInputObjectType):
            missing += [f"{name}.{f}" for f, field in named.fields.items() if not field.description]
        if isinstance(named, GraphQLEnumType):
            missing += [f"{name}.{v}" for v, value in named.values.items() if not value.description]
    return missing


def test_every_type_field_argument_input_field_and_enum_value_is_described() -> None:
    assert undescribed(_schema()) == []


def test_the_walk_sees_what_is_missing() -> None:
    """The check itself: a schema with undescribed parts is reported part by part."""
    from graphql import build_schema

    bare = build_schema(
        '"A root." type Query { "ok" a(x: Int): E b(y: I): Int }\n'
        'enum E { "ok" ONE TWO }\n"ok" input I { z: Int }'
    )
    assert undescribed(bare) == ["Query.a(x:)", "Query.b", "Query.b(y:)", "E", "E.TWO", "I.z"]


def restricted_fields(schema: GraphQLSchema) -> dict[str, tuple[Any, Restricted, str]]:
    found = {}
    for named in _own_types(schema):
        if not isinstance(named, GraphQLObjectType):
            continue
        for field_name, field in named.fields.items():
            definition = field.extensions.get("strawberry-definition")
            rules = [e for e in definition.extensions if isinstance(e, Restricted)]
            if rules:
                (rule,) = rules
                found[f"{named.name}.{field_name}"] = (definition, rule, field.description or "")
    return found


def _declared_restrictions() -> int:
    sources = (Path(__file__).resolve().parent.parent / "schema").rglob("*.py")
    return sum(
        len(re.findall(r"\brestricted\(\s*Capability\.", path.read_text())) for path in sources
    )


def test_restricted_fields_say_who_may_see_them_as_the_capability_table_does() -> None:
    fields = restricted_fields(_schema())
    wrong = []
    for coordinate, (definition, rule, description) in fields.items():
        who = visible_to(rule.capability, definition.origin.reach)
        what = description.removesuffix(" " + who)
        if what == description or not what.strip() or "Visible to" in what:
            wrong.append(coordinate)
    assert wrong == []
    # every restricted(...) declaration in schema/ is served, and checked here
    assert len(fields) == _declared_restrictions() > 0


def test_only_restricted_fields_say_who_may_see_them() -> None:
    restricted = restricted_fields(_schema())
    claims = [
        f"{named.name}.{field_name}"
        for named in _own_types(_schema())
        if isinstance(named, GraphQLObjectType)
        for field_name, field in named.fields.items()
        if "Visible to" in (field.description or "")
        and f"{named.name}.{field_name}" not in restricted
    ]
    assert claims == []


def test_the_words_follow_the_table() -> None:
    assert visible_to(Capability.CONTACT_DETAILS, Reach.STUDENT) == (
        "Visible to: district admins, school admins and enrolment managers of the student's "
        "school (or its district); the student's guardians; the student themself. "
        "Anyone else gets null here, with a FORBIDDEN error at this field."
    )
    assert visible_to(Capability.HOMEWORK, Reach.STUDENT) == (
        "Visible to: district admins, school admins, enrolment managers and support staff of "
        "the student's school (or its district); the student's teachers; the student's "
        "guardians; the student themself when their school shows them their homework. "
        "Anyone else gets null here, with a FORBIDDEN error at this field."
    )
    assert visible_to(Capability.CROSS_SCHOOL_LINKS, Reach.DISTRICT) == (
        "Visible to: district admins of the district, granted district-wide. "
        "Anyone else gets null here, with a FORBIDDEN error at this field."
    )
    assert visible_to(Capability.CONTACT_DETAILS, Reach.CONTACT).endswith(
        "; the contact themself. Anyone else gets null here, with a FORBIDDEN error at this field."
    )
