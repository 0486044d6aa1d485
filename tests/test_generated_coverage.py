"""Generated coverage: walks the served schema so that a new Node type or a
new filter cannot ship without these checks (docs/architecture.md section 2).

1. Every Node type: as every viewer of the permission world, the objects
   reached through field paths (breadth first from the Query root's list
   fields and ``viewer``, through every field with no required argument,
   ``first: 100`` on connections, ``include*: true``) are all found by
   ``nodes(ids:)``; and ``nodes(ids:)`` over every id of the type in the
   database finds exactly what the walk reaches (a by-id find beyond what
   fields show would be a hole), and for Student exactly the students the
   viewer has a relation to (``Scope.relations_to_student``, the oracle of
   tests/test_reach_agreement.py). A Node type missing from ``NODE_TABLES``
   fails the test.
2. Every ``filter`` or ``search`` argument (and every field of a filter
   input): as every viewer, probe values that fields the viewer may not
   read would match (every email and SIS id in the database, every portal
   status, an out-of-scope school id, ...) and assert that every row
   returned is explained by what the viewer reads of it in the same
   response (a field without a FORBIDDEN error). An argument or input field
   missing from the known lists fails the test.

Both run on SQLite and PostgreSQL, on the shared read-only world.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from graphql import (
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    Undefined,
    get_named_type,
    is_introspection_type,
    is_non_null_type,
)
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from gql.http.context import graphql_context
from gql.http.graphql_schema import build_schema
from gql.outbound.links import SignedLinks
from gql.settings import Settings
from resolvers import tables
from resolvers.auth.rate_limits import MemoryRateLimiter
from resolvers.db import Db
from resolvers.tables import STUDENTS
from resolvers.viewers import load_viewer
from schema.graphql_context import Policy
from schema.node import to_global_id
from tests.clock import NOW
from tests.world import VIEWERS, World

pytestmark = pytest.mark.asyncio(loop_scope="session")

# The walk's documents are large on purpose: a schema of its own, without
# the served size limits (everything else as served).
SETTINGS = Settings(
    env="dev",
    max_depth=100,
    max_aliases=100_000,
    max_tokens=10_000_000,
    max_fields=1_000_000,
    max_cost=1_000_000_000,
    max_directives=1000,
)

# Every Node type and the table its ids come from.
NODE_TABLES: dict[str, Any] = {
    "AccessCode": tables.AccessCode,
    "AccessEvent": tables.AccessEvent,
    "Account": tables.Account,
    "ConnectionRequest": tables.ConnectionRequest,
    "District": tables.District,
    "Form": tables.Form,
    "FormAssignment": tables.FormAssignment,
    "Guardian": tables.Guardian,
    "Homework": tables.Homework,
    "School": tables.School,
    "Section": tables.Section,
    "StaffMember": tables.StaffMember,
    "Student": tables.Student,
    "StudentAccessGrant": tables.StudentAccessGrant,
    "YearGroup": tables.YearGroup,
}


@functools.cache
def walk_schema() -> Any:
    return build_schema(SETTINGS)


def _schema() -> GraphQLSchema:
    return walk_schema()._schema  # type: ignore[no-any-return]


def node_types(schema: GraphQLSchema) -> set[str]:
    node = schema.type_map["Node"]
    assert isinstance(node, GraphQLInterfaceType)
    return {t.name for t in schema.get_possible_types(node)}


async def run(engine: AsyncEngine, world: World, who: str, query: str) -> dict[str, Any]:
    """As tests/client.py's runner, on the walk's schema; answers the
    response (data and errors)."""
    async with AsyncSession(engine, expire_on_commit=False) as session:
        db = Db(session)
        viewer = await load_viewer(db, session_id=world.sessions[who], now=NOW)
        assert viewer is not None
        context = graphql_context(
            db,
            viewer,
            policy=Policy(),
            links=SignedLinks(SETTINGS.secret_key, SETTINGS.public_url),
            rate_limiter=MemoryRateLimiter(),
            clock=lambda: NOW,
        )
        result = await walk_schema().execute(query, context_value=context)
    errors = [dict(e.formatted) for e in result.errors or []]
    for error in result.errors or []:
        original = error.original_error
        if original is not None and not hasattr(original, "extensions"):
            raise original
    codes = {e.get("extensions", {}).get("code") for e in errors}
    assert codes <= {"FORBIDDEN"}, (who, errors[:3])
    assert result.data is not None, (who, errors[:3])
    return {"data": result.data, "errors": errors}


# --- 1. Node types ---------------------------------------------------------


def _arguments(field: GraphQLField) -> str | None:
    """The arguments the walk passes, or None for a field it cannot call."""
    given = []
    for name, arg in field.args.items():
        if name == "first":
            given.append("first: 100")
        elif name.startswith("include") and str(get_named_type(arg.type)) == "Boolean":
            given.append(f"{name}: true")
        elif is_non_null_type(arg.type) and arg.default_value is Undefined:
            return None
    return f"({', '.join(given)})" if given else ""


def selection(schema: GraphQLSchema, type_: Any, nodes: set[str], budget: int) -> str:
    """``__typename id`` of every object, through every callable composite
    field; a Node below the top is not expanded (the walk asks for it next)."""
    if isinstance(type_, GraphQLInterfaceType | GraphQLUnionType):
        parts = ["__typename"]
        if isinstance(type_, GraphQLInterfaceType) and "id" in type_.fields:
            parts.append("id")
        parts.extend(
            f"... on {possible.name} {selection(schema, possible, nodes, budget)}"
            for possible in schema.get_possible_types(type_)
        )
        return "{ " + " ".join(parts) + " }"
    assert isinstance(type_, GraphQLObjectType)
    parts = ["__typename"]
    if "id" in type_.fields:
        parts.append("id")
    if budget == 0:
        return "{ " + " ".join(parts) + " }"
    for name, field in type_.fields.items():
        target = get_named_type(field.type)
        if not isinstance(target, GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType):
            continue
        arguments = _arguments(field)
        if arguments is None:
            continue
        if target.name in nodes or target.name == "Node":
            inner = "{ __typename ... on Node { id } }"
        else:
            inner = selection(schema, target, nodes, budget - 1)
        # Aliased by type: fragments on a union must not conflict.
        parts.append(f"{type_.name}_{name}: {name}{arguments} {inner}")
    return "{ " + " ".join(parts) + " }"


def root_query(schema: GraphQLSchema, nodes: set[str]) -> str:
    """The Query root's list fields and ``viewer``, expanded as a Node is."""
    assert schema.query_type is not None
    parts = []
    for name, field in schema.query_type.fields.items():
        if name in ("node", "nodes"):
            continue
        target = get_named_type(field.type)
        if not isinstance(target, GraphQLObjectType):
            continue
        arguments = _arguments(field)
        if arguments is None:
            continue
        parts.append(f"{name}{arguments} {selection(schema, target, nodes, 6)}")
    return "{ " + " ".join(parts) + " }"


def nodes_query(schema: GraphQLSchema, nodes: set[str], ids: list[str]) -> str:
    fragments = " ".join(
        f"... on {name} {selection(schema, schema.type_map[name], nodes, 6)}"
        for name in sorted(nodes)
    )
    return f"{{ nodes(ids: {json.dumps(ids)}) {{ __typename ... on Node {{ id }} {fragments} }} }}"


def collect(value: Any, nodes: set[str], found: dict[str, str]) -> None:
    """Every Node object in a response: global id -> type name."""
    if isinstance(value, list):
        for item in value:
            collect(item, nodes, found)
    elif isinstance(value, dict):
        if value.get("__typename") in nodes and "id" in value:
            found[value["id"]] = value["__typename"]
        for item in value.values():
            collect(item, nodes, found)


async def reached_by_walk(
    engine: AsyncEngine, world: World, who: str, schema: GraphQLSchema, nodes: set[str]
) -> tuple[dict[str, str], set[str]]:
    """Breadth first, one ``nodes(ids:)`` query a level: every reached id
    is also found by id (what it is found with is what the field paths
    below it show, the same resolvers)."""
    reached: dict[str, str] = {}
    not_by_id: set[str] = set()
    collect((await run(engine, world, who, root_query(schema, nodes)))["data"], nodes, reached)
    expanded: set[str] = set()
    while frontier := sorted(set(reached) - expanded):
        answer = (await run(engine, world, who, nodes_query(schema, nodes, frontier)))["data"]
        for global_id, found in zip(frontier, answer["nodes"], strict=True):
            if found is None:
                not_by_id.add(global_id)
            else:
                assert (found["__typename"], found["id"]) == (reached[global_id], global_id)
        expanded.update(frontier)
        collect(answer, nodes, reached)
    return reached, not_by_id


async def database_ids(engine: AsyncEngine) -> dict[str, str]:
    ids: dict[str, str] = {}
    async with engine.connect() as connection:
        for name, model in NODE_TABLES.items():
            table = model.__table__
            for (pk,) in await connection.execute(sa.select(table.c.id)):
                ids[str(to_global_id(name, pk))] = name
    return ids


async def found_by_id(
    engine: AsyncEngine, world: World, who: str, all_ids: dict[str, str]
) -> dict[str, str]:
    ordered = sorted(all_ids)
    query = f"{{ nodes(ids: {json.dumps(ordered)}) {{ __typename ... on Node {{ id }} }} }}"
    answer = (await run(engine, world, who, query))["data"]["nodes"]
    found = {}
    for global_id, node in zip(ordered, answer, strict=True):
        if node is not None:
            assert (node["__typename"], node["id"]) == (all_ids[global_id], global_id)
            found[global_id] = node["__typename"]
    return found


async def related_students(engine: AsyncEngine, world: World, who: str) -> set[str]:
    async with AsyncSession(engine) as session:
        db = Db(session)
        viewer = await load_viewer(db, session_id=world.sessions[who], now=NOW)
        assert viewer is not None
        rows = await db.all(sa.select(STUDENTS.c.id, STUDENTS.c.school_id, STUDENTS.c.district_id))
    return {
        str(to_global_id("Student", r.id))
        for r in rows
        if viewer.scope.relations_to_student(
            student_id=r.id, school_id=r.school_id, district_id=r.district_id
        )
    }


async def test_every_node_type_is_enumerated_from_the_database() -> None:
    assert node_types(_schema()) == set(NODE_TABLES)


SCHOOL_A_STAFF = [
    "t_maths",
    "t_art",
    "admin_a",
    "da_north",
    "enrol_a",
    "support_a",
    "security_a",
    "deactivated",
]
SCHOOL_B_STAFF = ["t_sci", "admin_b", "da_north"]

# Found by id beyond what field paths reach, by policy (world names):
# - staff members and sections follow the schools in scope
#   (docs/architecture.md section 2), their children's schools for a
#   guardian or a student too, while School.staffMembers is
#   STAFF_DIRECTORY's and no field lists a school's sections.
BEYOND_REACH: dict[str, list[tuple[str, str]]] = {
    "parent": [
        *[("Section", s) for s in ("a_maths", "a_art", "b_sci")],
        *[("StaffMember", f"{s}_staff") for s in {*SCHOOL_A_STAFF, *SCHOOL_B_STAFF}],
    ],
    "student_s1": [
        *[("Section", s) for s in ("a_maths", "a_art")],
        *[("StaffMember", f"{s}_staff") for s in SCHOOL_A_STAFF],
    ],
}
# Reached through a field path, not found by id (a known gap, not by
# policy): Student.accessReview.grants shows a guardian (ACCESS_REVIEW)
# every current grant to the child, but node(id:) finds a grant only for
# PORTAL_VIEW holders and its own account (tests/test_reach.py).
REACHED_NOT_BY_ID: dict[str, list[tuple[str, str]]] = {
    "parent": [("StudentAccessGrant", "grant_student_s1")],
}


def _global_ids(world: World, named: list[tuple[str, str]]) -> set[str]:
    return {str(to_global_id(type_name, world[key])) for type_name, key in named}


@pytest.mark.parametrize("who", VIEWERS)
async def test_what_fields_reach_is_what_nodes_finds_by_id(
    world_engine: tuple[AsyncEngine, World], who: str
) -> None:
    engine, world = world_engine
    schema = _schema()
    nodes = node_types(schema)
    assert nodes == set(NODE_TABLES)
    reached, not_by_id = await reached_by_walk(engine, world, who, schema, nodes)
    by_id = await found_by_id(engine, world, who, await database_ids(engine))
    assert not_by_id == set(reached) - set(by_id)
    assert not_by_id == _global_ids(world, REACHED_NOT_BY_ID.get(who, []))
    assert set(by_id) - set(reached) == _global_ids(world, BEYOND_REACH.get(who, []))
    # Students by id: exactly those the viewer has a relation to.
    students = {i for i, name in by_id.items() if name == "Student"}
    assert students == await related_students(engine, world, who)
    # The walk reaches something of every type the world holds for the
    # viewers who see everything of their district.
    if who == "da_north":
        assert {reached[i] for i in reached} >= {
            "Account",
            "District",
            "Guardian",
            "School",
            "Section",
            "StaffMember",
            "Student",
            "StudentAccessGrant",
            "YearGroup",
            "AccessCode",
        }


# --- 2. Filters and searches -----------------------------------------------

# Every argument named filter or search, as Type.field.argument.
KNOWN_ARGUMENTS = {
    "Query.students.search",
    "Query.guardians.filter",
    "Query.accounts.filter",
    "Viewer.students.search",
    "School.students.search",
}
# Every field of an input type named *Filter, or named search.
KNOWN_INPUT_FIELDS = {
    "GuardianFilter.schoolId",
    "GuardianFilter.portalStatus",
    "GuardianFilter.search",
    "AccountFilter.kind",
    "AccountFilter.schoolId",
    "AccountFilter.portalStatus",
    "AccountFilter.neverLoggedIn",
    "AccountFilter.search",
}


def filter_arguments(schema: GraphQLSchema) -> set[str]:
    found = set()
    for type_ in schema.type_map.values():
        if is_introspection_type(type_):
            continue
        if isinstance(type_, GraphQLObjectType | GraphQLInterfaceType):
            for name, field in type_.fields.items():
                for arg in field.args:
                    if arg in ("filter", "search"):
                        found.add(f"{type_.name}.{name}.{arg}")
    return found


def filter_input_fields(schema: GraphQLSchema) -> set[str]:
    found = set()
    for type_ in schema.type_map.values():
        if isinstance(type_, GraphQLInputObjectType) and not is_introspection_type(type_):
            for name in type_.fields:
                if name == "search" or type_.name.endswith("Filter"):
                    found.add(f"{type_.name}.{name}")
    return found


async def test_every_filter_and_search_is_known() -> None:
    schema = _schema()
    assert filter_arguments(schema) == KNOWN_ARGUMENTS
    assert filter_input_fields(schema) == KNOWN_INPUT_FIELDS


NOTHING = "zzqx-matches-nothing"

# What each list shows of a row, to explain why it matched.
STUDENT_FIELDS = "id givenName familyName sisId email school { id }"
GUARDIAN_FIELDS = "id givenName familyName sisId email portalStatus students { school { id } }"
ACCOUNT_FIELDS = "id kind displayName email portalStatus lastLoginAt"


def _readable(answer: dict[str, Any], path: list[Any]) -> Callable[[str], tuple[bool, Any]]:
    """(readable, value) of a row's field: readable when no error is at it."""
    forbidden = {tuple(e["path"]) for e in answer["errors"] if e.get("path")}
    row = answer["data"]
    for step in path:
        row = row[step]

    def read(name: str) -> tuple[bool, Any]:
        return ((*path, name) not in forbidden, row[name])

    return read


def _search_explained(
    read: Callable[[str], tuple[bool, Any]], probe: str, names: list[str]
) -> bool:
    words = probe.lower().split()
    if all(any(w in str(read(n)[1] or "").lower() for n in names) for w in words):
        return True
    for field in ("email", "sisId"):
        try:
            readable, value = read(field)
        except KeyError:
            continue
        if not readable or value is None:
            continue
        if field == "sisId" and value == probe.strip():
            return True
        if field == "email" and all(w in value.lower() for w in words):
            return True
    return False


async def _probes(engine: AsyncEngine) -> list[str]:
    """Every email and SIS id in the world: what restricted fields hold."""
    values: set[str] = set()
    async with engine.connect() as connection:
        for model in (tables.Student, tables.Guardian, tables.StaffMember, tables.School):
            table = model.__table__
            for (value,) in await connection.execute(sa.select(table.c.sourced_id)):
                values.add(value)
        for model in (tables.Student, tables.Guardian, tables.StaffMember, tables.Account):
            table = model.__table__
            for (value,) in await connection.execute(sa.select(table.c.email)):
                if value:
                    values.add(value)
                    values.add(value.split("@")[1])
    return sorted(values)


def _explain_rows(
    answer: dict[str, Any],
    alias: str,
    prefix: list[Any],
    check: Callable[[Callable[[str], tuple[bool, Any]]], bool],
) -> list[str]:
    """The rows of a connection at ``alias`` its check does not explain."""
    connection = answer["data"]
    for step in [*prefix, alias]:
        connection = connection[step]
    unexplained = []
    for index, _edge in enumerate(connection["edges"]):
        read = _readable(answer, [*prefix, alias, "edges", index, "node"])
        if not check(read):
            unexplained.append(read("id")[1])
    return unexplained


async def _school_ids(engine: AsyncEngine) -> list[int]:
    async with engine.connect() as connection:
        return [r for (r,) in await connection.execute(sa.select(tables.School.__table__.c.id))]


async def _schools_found(engine: AsyncEngine, world: World, who: str) -> set[str]:
    ids = [str(to_global_id("School", pk)) for pk in await _school_ids(engine)]
    answer = await run(engine, world, who, f"{{ nodes(ids: {json.dumps(ids)}) {{ id }} }}")
    return {n["id"] for n in answer["data"]["nodes"] if n is not None}


@pytest.mark.parametrize("who", VIEWERS)
async def test_searches_match_only_what_the_viewer_reads(
    world_engine: tuple[AsyncEngine, World], who: str
) -> None:
    engine, world = world_engine
    probes = [NOTHING, *await _probes(engine)]
    sites: dict[str, tuple[str, str, str, list[str]]] = {
        # argument: (list field with the argument, row fields, template, names)
        "Query.students.search": (
            "students(first: 100, search: %s)",
            STUDENT_FIELDS,
            "",
            ["givenName", "familyName"],
        ),
        "Viewer.students.search": (
            "students(first: 100, search: %s)",
            STUDENT_FIELDS,
            "viewer",
            ["givenName", "familyName"],
        ),
        "School.students.search": (
            "students(first: 100, search: %s)",
            STUDENT_FIELDS,
            "school",
            ["givenName", "familyName"],
        ),
        "Query.guardians.filter": (
            "guardians(first: 100, filter: {search: %s})",
            GUARDIAN_FIELDS,
            "",
            ["givenName", "familyName"],
        ),
        "Query.accounts.filter": (
            "accounts(first: 100, filter: {search: %s})",
            ACCOUNT_FIELDS,
            "",
            ["displayName"],
        ),
    }
    assert set(sites) == KNOWN_ARGUMENTS
    schools = [str(to_global_id("School", pk)) for pk in await _school_ids(engine)]
    problems: list[tuple[str, str, list[str]]] = []
    for argument, (call, fields, within, names) in sites.items():
        aliases = {f"p{i}": probe for i, probe in enumerate(probes)}
        body = " ".join(
            f"{alias}: {call % json.dumps(probe)} {{ edges {{ node {{ {fields} }} }} }}"
            for alias, probe in aliases.items()
        )
        parents: list[tuple[str, list[Any]]]
        if within == "viewer":
            query = f"{{ viewer {{ {body} }} }}"
            parents = [("", ["viewer"])]
        elif within == "school":
            query = (
                "{ "
                + " ".join(
                    f's{i}: node(id: "{school}") {{ ... on School {{ {body} }} }}'
                    for i, school in enumerate(schools)
                )
                + " }"
            )
            parents = [(f"s{i}", [f"s{i}"]) for i in range(len(schools))]
        else:
            query = f"{{ {body} }}"
            parents = [("", [])]
        answer = await run(engine, world, who, query)
        for _label, prefix in parents:
            parent = answer["data"]
            for step in prefix:
                parent = parent[step]
            if parent is None:
                continue
            nothing = parent["p0"]["edges"]
            assert nothing == [], (who, argument)
            for alias, probe in aliases.items():
                unexplained = _explain_rows(
                    answer,
                    alias,
                    prefix,
                    lambda read, probe=probe, names=names: _search_explained(read, probe, names),  # type: ignore[misc]
                )
                if unexplained:
                    problems.append((argument, probe, unexplained))
    assert problems == [], who


@pytest.mark.parametrize("who", VIEWERS)
async def test_filters_match_only_what_the_viewer_reads(
    world_engine: tuple[AsyncEngine, World], who: str
) -> None:
    engine, world = world_engine
    schema = _schema()
    in_scope = await _schools_found(engine, world, who)
    school_ids = [str(to_global_id("School", pk)) for pk in await _school_ids(engine)]
    unknown_school = str(to_global_id("School", 999_999))
    statuses = list(schema.type_map["PortalStatus"].values)  # type: ignore[attr-defined]
    kinds = list(schema.type_map["AccountKind"].values)  # type: ignore[attr-defined]

    def status_is(value: str) -> Callable[[Callable[[str], tuple[bool, Any]]], bool]:
        return lambda read: read("portalStatus") == (True, value)

    def kind_is(value: str) -> Callable[[Callable[[str], tuple[bool, Any]]], bool]:
        return lambda read: read("kind") == (True, value)

    def never(value: bool) -> Callable[[Callable[[str], tuple[bool, Any]]], bool]:
        return lambda read: read("lastLoginAt")[0] and (read("lastLoginAt")[1] is None) == value

    def at_school(school: str) -> Callable[[Callable[[str], tuple[bool, Any]]], bool]:
        # In scope: checked only for what an out-of-scope id would leak.
        return lambda read: school in in_scope

    checks: dict[str, list[tuple[str, Callable[[Callable[[str], tuple[bool, Any]]], bool]]]] = {
        "GuardianFilter.portalStatus": [(f"portalStatus: {s}", status_is(s)) for s in statuses],
        "GuardianFilter.schoolId": [
            (f"schoolId: {json.dumps(s)}", at_school(s)) for s in [*school_ids, unknown_school]
        ],
        "AccountFilter.kind": [(f"kind: {k}", kind_is(k)) for k in kinds],
        "AccountFilter.portalStatus": [(f"portalStatus: {s}", status_is(s)) for s in statuses],
        "AccountFilter.neverLoggedIn": [
            ("neverLoggedIn: true", never(True)),
            ("neverLoggedIn: false", never(False)),
        ],
        "AccountFilter.schoolId": [
            (f"schoolId: {json.dumps(s)}", at_school(s)) for s in [*school_ids, unknown_school]
        ],
    }
    # The search fields are test_searches_match_only_what_the_viewer_reads's.
    assert set(checks) | {"GuardianFilter.search", "AccountFilter.search"} == KNOWN_INPUT_FIELDS
    problems = []
    for key, cases in checks.items():
        type_name = key.split(".")[0]
        field, fields = (
            ("guardians", GUARDIAN_FIELDS)
            if type_name == "GuardianFilter"
            else ("accounts", ACCOUNT_FIELDS)
        )
        body = " ".join(
            f"c{i}: {field}(first: 100, filter: {{{value}}}) {{ edges {{ node {{ {fields} }} }} }}"
            for i, (value, _check) in enumerate(cases)
        )
        answer = await run(engine, world, who, f"{{ {body} }}")
        for i, (value, check) in enumerate(cases):
            unexplained = _explain_rows(answer, f"c{i}", [], check)
            if unexplained:
                problems.append((key, value, unexplained))
    assert problems == [], who
