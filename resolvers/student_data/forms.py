"""Forms and their assignments: the read side.

Which assignments a viewer sees is decided in SQL, from the capability
table: staff see every assignment of the students on whom their roles hold
FORMS; a guardian sees their children's assignments meant for guardians; a
signed-in student (with the FORMS section visible) sees the ones meant for
them. The relations holding FORMS are read from ``CAPABILITIES``, not
repeated here, so a change to the table changes this filter.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.sql import ColumnElement

from permissions.capabilities import CAPABILITIES, SCHOOL_WIDE_ROLES, Capability
from permissions.roles import Relation, Role
from permissions.scope import Scope, roles_holding, self_holds
from permissions.viewer import Viewer
from resolvers.common import grouped_in_key_order, in_key_order, rows_by_id
from resolvers.db import Db
from resolvers.pagination import Page, PageRequest, count, keyset_page
from resolvers.tables import FORM_ASSIGNMENTS, FORM_QUESTIONS, FORMS, STUDENTS

ORDER = (FORM_ASSIGNMENTS.c.id,)


def assignment_filter(
    scope: Scope, assignments: sa.FromClause = FORM_ASSIGNMENTS, students: sa.FromClause = STUDENTS
) -> ColumnElement[bool]:
    """Assignments the viewer may see; ``students`` is joined on the
    assignment's student."""
    staff_roles = roles_holding(Capability.FORMS)
    school_wide = staff_roles & SCHOOL_WIDE_ROLES
    conditions: list[ColumnElement[bool]] = []

    def among(column: Any, ids: frozenset[int]) -> None:
        if ids:
            conditions.append(column.in_(sorted(ids)))

    among(students.c.school_id, scope.schools_where(school_wide))
    among(students.c.district_id, scope.districts_where(school_wide))
    if Role.TEACHER in staff_roles:
        # Already only the students of the sections taught where the viewer
        # holds TEACHER (see Scope.teacher_student_ids).
        among(students.c.id, scope.teacher_student_ids)
    if Capability.FORMS in CAPABILITIES[Relation.GUARDIAN] and scope.granted_student_ids:
        conditions.append(
            sa.and_(
                students.c.id.in_(sorted(scope.granted_student_ids)),
                sa.not_(assignments.c.assigned_to_student),
            )
        )
    if scope.self_student is not None and self_holds(scope, Capability.FORMS):
        conditions.append(
            sa.and_(
                students.c.id == scope.self_student.student_id,
                assignments.c.assigned_to_student,
            )
        )
    if not conditions:
        return sa.false()
    return conditions[0] if len(conditions) == 1 else sa.or_(*conditions)


def scoped_assignments(viewer: Viewer) -> sa.Select[Any]:
    return (
        sa.select(FORM_ASSIGNMENTS)
        .join(STUDENTS, STUDENTS.c.id == FORM_ASSIGNMENTS.c.student_id)
        .where(assignment_filter(viewer.scope))
    )


async def assignment_page(db: Db, viewer: Viewer, request: PageRequest) -> Page:
    return await keyset_page(db, scoped_assignments(viewer), ORDER, request)


async def assignment_count(db: Db, viewer: Viewer) -> int:
    return await count(db, scoped_assignments(viewer))


async def assignments_in_scope(db: Db, viewer: Viewer, ids: Sequence[int]) -> list[Row[Any] | None]:
    """Node lookups and mutation inputs: ids from a client."""
    rows = await db.all(scoped_assignments(viewer).where(FORM_ASSIGNMENTS.c.id.in_(list(ids))))
    return in_key_order(ids, rows, lambda r: r.id)


def form_filter(scope: Scope, forms: sa.FromClause = FORMS) -> ColumnElement[bool]:
    """Forms the viewer may see: every form of a school where a role of the
    viewer administers forms (FORMS, from the capability table), and any
    form on the path to an assignment the viewer sees
    (``assignment_filter``: a guardian's or a student's own)."""
    school_wide = roles_holding(Capability.FORMS) & SCHOOL_WIDE_ROLES
    administered = _school_ids_where(scope, school_wide, forms)
    if not scope.granted_student_ids and scope.self_student is None:
        return administered
    assignment = FORM_ASSIGNMENTS.alias("scope_form_assignment")
    student = STUDENTS.alias("scope_form_student")
    assigned = sa.exists(
        sa.select(assignment.c.id)
        .join(student, student.c.id == assignment.c.student_id)
        .where(
            assignment.c.form_id == forms.c.id,
            assignment_filter(scope, assignment, student),
        )
    )
    return sa.or_(administered, assigned)


def _school_ids_where(
    scope: Scope, roles: frozenset[Role], forms: sa.FromClause
) -> ColumnElement[bool]:
    conditions: list[ColumnElement[bool]] = []
    schools = scope.schools_where(roles)
    districts = scope.districts_where(roles)
    if schools:
        conditions.append(forms.c.school_id.in_(sorted(schools)))
    if districts:
        conditions.append(forms.c.district_id.in_(sorted(districts)))
    if not conditions:
        return sa.false()
    return conditions[0] if len(conditions) == 1 else sa.or_(*conditions)


async def forms_in_scope(db: Db, viewer: Viewer, ids: Sequence[int]) -> list[Row[Any] | None]:
    """Node lookups: ids from a client, filtered by ``form_filter``."""
    rows = await db.all(
        sa.select(FORMS).where(FORMS.c.id.in_(list(ids)), form_filter(viewer.scope))
    )
    return in_key_order(ids, rows, lambda r: r.id)


async def forms_by_id(db: Db, ids: Sequence[int]) -> list[Row[Any] | None]:
    """Path lookups: the form of a visible assignment."""
    return await rows_by_id(db, FORMS, ids)


async def questions_by_form_id(db: Db, form_ids: Sequence[int]) -> list[list[Row[Any]]]:
    rows = await db.all(
        sa.select(FORM_QUESTIONS)
        .where(FORM_QUESTIONS.c.form_id.in_(list(form_ids)))
        .order_by(FORM_QUESTIONS.c.form_id, FORM_QUESTIONS.c.position, FORM_QUESTIONS.c.id)
    )
    return grouped_in_key_order(form_ids, rows, lambda r: r.form_id)
