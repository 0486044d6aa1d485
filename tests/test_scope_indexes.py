"""Every scope filter is served by an index (issue 6: "indexes for every
scope filter").

Each ``*_filter`` function of ``resolvers.scope`` is built for a viewer who
holds every kind of reach at once (district and school roles, taught
sections, grants, a guardian record, a staff record, a student login), and
must have an index to go by, the way a planner reads it: every branch of an
``OR`` needs one (a bitmap OR of index scans), an ``AND`` needs one of its
conditions to have one (the rest are checked on the rows it finds), an
``EXISTS`` needs one for its WHERE (usually its correlation with the outer
row), and a comparison (``=``, ``IN``) has one when its column leads an
index, a unique constraint or the primary key of its table. A new filter, or
a new condition in one, that would scan fails here, before a
1,000,000-student district does.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.sql import operators, visitors
from sqlalchemy.sql.elements import (
    BinaryExpression,
    BooleanClauseList,
    ColumnClause,
    False_,
    Grouping,
    True_,
)
from sqlalchemy.sql.selectable import Exists

from permissions.capabilities import Capability
from permissions.roles import AccountKind, Role, StudentSection
from permissions.scope import RoleAt, Scope, StudentRef
from permissions.viewer import Viewer
from resolvers import scope as scope_sql
from resolvers.tables import CONTACTS, GRANTS

FULL_SCOPE = Scope(
    roles=(
        RoleAt(Role.DISTRICT_ADMIN, district_id=1),
        RoleAt(Role.SCHOOL_ADMIN, district_id=2, school_id=20),
        RoleAt(Role.TEACHER, district_id=2, school_id=21),
    ),
    teacher_student_ids=frozenset({100, 101}),
    teacher_section_ids=frozenset({7}),
    granted_students=(StudentRef(student_id=200, school_id=22, district_id=2),),
    self_student=StudentRef(student_id=300, school_id=23, district_id=2),
    self_visible_sections=frozenset(StudentSection),
)
FULL_VIEWER = Viewer(
    account_id=1,
    kind=AccountKind.STAFF,
    session_id="s",
    staff_member_id=5,
    staff_member_active=True,
    guardian_id=6,
    student_id=300,
    scope=FULL_SCOPE,
)
# Filters taking columns rather than a table: covered through their callers.
TAKES_COLUMNS = {"school_id_filter"}


def _filters() -> list[tuple[str, Callable[..., Any]]]:
    found: list[tuple[str, Callable[..., Any]]] = []
    for name, function in inspect.getmembers(scope_sql, inspect.isfunction):
        if (
            not name.endswith("_filter")
            or name.startswith("_")
            or function.__module__ != scope_sql.__name__
            or name in TAKES_COLUMNS
        ):
            continue
        if "capability" in inspect.signature(function).parameters:
            # One filter per capability the full scope holds somewhere.
            found.extend(
                (f"{name}[{c.value}]", functools.partial(function, capability=c))
                for c in Capability
                if FULL_SCOPE.holds_anywhere(c)
            )
        else:
            found.append((name, function))
    return found


def _build(function: Callable[..., Any]) -> sa.ColumnElement[bool]:
    first = next(iter(inspect.signature(function).parameters.values()))
    annotation = str(first.annotation)
    if annotation.endswith("Viewer"):
        return function(FULL_VIEWER)  # type: ignore[no-any-return]
    if first.name == "district_ids":
        return function(frozenset({1, 2}))  # type: ignore[no-any-return]
    assert annotation.endswith("Scope"), f"{function.__name__}: first parameter {annotation}"
    return function(FULL_SCOPE)  # type: ignore[no-any-return]


def _base_column(column: ColumnClause[Any]) -> sa.Column[Any] | None:
    """The table column behind ``column`` (through aliases)."""
    table = column.table
    while table is not None and not isinstance(table, sa.Table):
        table = getattr(table, "element", None)
    if table is None:
        return None
    return table.c[column.name]  # type: ignore[no-any-return]


COMPARISONS = {operators.eq, operators.in_op}


def _unserved(expression: Any) -> list[str]:
    """What in ``expression`` no index serves; empty when an index does."""
    if isinstance(expression, Grouping):
        return _unserved(expression.element)
    if isinstance(expression, (True_, False_)):
        return []
    if isinstance(expression, BooleanClauseList):
        parts = [_unserved(clause) for clause in expression.clauses]
        if expression.operator is operators.or_:
            return [problem for part in parts for problem in part]
        assert expression.operator is operators.and_, expression.operator
        return [] if any(not part for part in parts) else [p for part in parts for p in part]
    if isinstance(expression, Exists):
        select = next(e for e in visitors.iterate(expression) if isinstance(e, sa.Select))
        return _unserved(select.whereclause)
    if isinstance(expression, BinaryExpression):
        if expression.operator not in COMPARISONS:
            return [f"not a comparison an index serves: {expression}"]
        columns = [
            base
            for side in (expression.left, expression.right)
            if isinstance(side, ColumnClause)
            for base in [_base_column(side)]
            if base is not None and isinstance(base.table, sa.Table)
        ]
        if any(column.name in _leading_columns(column.table) for column in columns):
            return []
        return [f"{column.table.name}.{column.name}" for column in columns]
    return [f"{type(expression).__name__}: {expression}"]


def _leading_columns(table: sa.Table) -> set[str]:
    leading = {next(iter(table.primary_key.columns)).name}
    for index in table.indexes:
        leading.add(next(iter(index.columns)).name)
    for constraint in table.constraints:
        if isinstance(constraint, sa.UniqueConstraint) and constraint.columns:
            leading.add(next(iter(constraint.columns)).name)
    leading.update(c.name for c in table.columns if c.unique or c.index)
    return leading


def test_the_filters_are_found() -> None:
    names = {name for name, _ in _filters()}
    assert {"student_filter", "account_filter", "guardian_filter", "staff_filter"} <= names


@pytest.mark.parametrize(
    ("name", "function"), _filters(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_every_column_a_scope_filter_compares_leads_an_index(
    name: str, function: Callable[..., Any]
) -> None:
    expression = _build(function)
    assert not isinstance(expression, False_), f"{name} is empty for a full scope"
    assert _unserved(expression) == [], f"{name}: no index serves {_unserved(expression)}"


def test_the_check_notices_what_no_index_serves() -> None:
    # contact_type leads no index.
    assert _unserved(CONTACTS.c.contact_type == "Guardian") == ["student_contacts.contact_type"]
    # An AND is served by any one of its conditions...
    assert _unserved(sa.and_(CONTACTS.c.student_id == 1, CONTACTS.c.contact_type == "x")) == []
    # ...an OR only by all of its branches.
    assert _unserved(sa.or_(CONTACTS.c.student_id == 1, CONTACTS.c.contact_type == "x")) == [
        "student_contacts.contact_type"
    ]
    # Through an alias and an EXISTS.
    alias = CONTACTS.alias("c")
    assert _unserved(
        sa.exists(sa.select(alias.c.id).where(alias.c.portal_eligible == sa.true()))
    ) == ["student_contacts.portal_eligible"]
    assert _unserved(sa.exists(sa.select(GRANTS.c.id).where(GRANTS.c.account_id == 1))) == []
