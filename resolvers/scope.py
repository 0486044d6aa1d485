"""Scope → SQL: the WHERE clauses every list and lookup is filtered by.

Each function takes the viewer's ``Scope`` (ids computed once per request)
and the table (or alias) to filter, and returns a boolean SQL expression.
Nothing is fetched and then thrown away in Python. Each clause is served by
an index named in ``resolvers.tables``.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ColumnElement, FromClause
from sqlalchemy.sql.functions import FunctionElement

from permissions.capabilities import REACH, Capability, Reach, relations_with
from permissions.roles import AccountKind, Relation, Role
from permissions.scope import Scope, managing_districts, self_holds
from permissions.viewer import Viewer
from resolvers.tables import (
    ACCOUNTS,
    CONTACTS,
    DISTRICTS,
    GRANTS,
    GUARDIANS,
    ROLE_GRANTS,
    SCHOOLS,
    SECTIONS,
    STAFF,
    STAFF_SCHOOLS,
    STUDENTS,
)

FALSE: ColumnElement[bool] = sa.false()


def _any(conditions: list[ColumnElement[bool]]) -> ColumnElement[bool]:
    if not conditions:
        return FALSE
    return conditions[0] if len(conditions) == 1 else sa.or_(*conditions)


def _in(column: Any, ids: frozenset[int]) -> ColumnElement[bool] | None:
    return column.in_(sorted(ids)) if ids else None


def _reached(
    scope: Scope, relations: frozenset[Relation], students: FromClause
) -> ColumnElement[bool]:
    """Students reached through any of ``relations``: the SQL form of the
    reach table (``permissions.capabilities.REACH``), as
    ``Scope.relations_to_student`` is its Python form."""
    reaches = {REACH[r] for r in relations}
    place_roles = {Role(r.value) for r in relations if REACH[r] is Reach.PLACE}
    conditions = [
        _in(students.c.district_id, scope.districts_where(place_roles)),
        _in(students.c.school_id, scope.schools_where(place_roles)),
    ]
    if Reach.TAUGHT_SECTIONS in reaches:
        # Only students of sections taught where the viewer holds TEACHER
        # (``resolvers.viewers`` computes them so).
        conditions.append(_in(students.c.id, scope.teacher_student_ids))
    if Reach.LIVE_GRANT in reaches:
        conditions.append(_in(students.c.id, scope.granted_student_ids))
    if Reach.SELF in reaches and scope.self_student is not None:
        conditions.append(students.c.id == scope.self_student.student_id)
    return _any([c for c in conditions if c is not None])


_STAFF_REACHES = frozenset({Reach.PLACE, Reach.TAUGHT_SECTIONS})


def student_filter(
    scope: Scope, students: FromClause = STUDENTS, *, staff_only: bool = False
) -> ColumnElement[bool]:
    """Students in scope. ``staff_only`` leaves out the personal ties
    (guardian, self) for questions that only staff roles may ask."""
    relations = frozenset(
        r for r, reach in REACH.items() if not staff_only or reach in _STAFF_REACHES
    )
    return _reached(scope, relations, students)


def capability_student_filter(
    scope: Scope, capability: Capability, students: FromClause = STUDENTS
) -> ColumnElement[bool]:
    """Students on whom the viewer holds ``capability``: the SQL form of
    ``Scope.student_capabilities`` (a subset of ``student_filter``), read
    from the capability and reach tables, for rows reached by id rather than
    through a restricted field of a student already visible (``node``)."""
    relations = relations_with(capability) - {Relation.STUDENT_SELF}
    if self_holds(scope, capability):
        relations |= {Relation.STUDENT_SELF}
    return _reached(scope, relations, students)


def _normalised_email(email: Any) -> Any:
    return sa.func.lower(sa.func.trim(email))


def custody_restricted(
    student_id: Any, *, guardian_id: Any = None, email: Any = None
) -> ColumnElement[bool]:
    """The one custody check (docs/architecture.md section 3): a contact
    record restricted from the student is this person's, either the record
    ``guardian_id`` names or one whose email is ``email`` (compared trimmed
    and case-insensitively). A restriction binds the person, not an
    account: every path that could give access to a student (a code, a
    connection request, its activation, provisioning, the scope of a
    request, the sync's revocation) asks this. ``guardian_id`` and ``email``
    are columns or values; None leaves that way of matching out. Served by
    ``student_contacts``' (student_id, guardian_id) key."""
    contact = CONTACTS.alias("custody_contact")
    guardian = GUARDIANS.alias("custody_guardian")
    ways: list[ColumnElement[bool]] = []
    if guardian_id is not None:
        ways.append(contact.c.guardian_id == guardian_id)
    if email is not None:
        ways.append(_normalised_email(guardian.c.email) == _normalised_email(email))
    if not ways:
        return FALSE
    return sa.exists(
        sa.select(contact.c.id)
        .join(guardian, guardian.c.id == contact.c.guardian_id)
        .where(contact.c.student_id == student_id, contact.c.restricted, _any(ways))
        # The student and the person may come from any enclosing query level.
        .correlate_except(contact, guardian)
    )


def account_restricted_from(
    student_id: Any, accounts: FromClause = ACCOUNTS
) -> ColumnElement[bool]:
    """``custody_restricted`` for an account: through the contact record it
    is linked to, or its email once verified (an account made by the
    restricted person himself, whatever it is linked to)."""
    verified_email = sa.case((accounts.c.email_verified_at.is_not(None), accounts.c.email))
    return custody_restricted(student_id, guardian_id=accounts.c.guardian_id, email=verified_email)


def student_sis_id_match(scope: Scope, search: str) -> ColumnElement[bool]:
    """A search's exact match on a student's SIS id, where the viewer may see
    SIS ids (Capability.SIS_IDS): nobody else can probe for them."""
    return sa.and_(
        STUDENTS.c.sourced_id == search.strip(),
        capability_student_filter(scope, Capability.SIS_IDS),
    )


def school_id_filter(
    scope: Scope, school_id: Any, district_id: Any, *, staff_only: bool = False
) -> ColumnElement[bool]:
    """Schools in scope, for any pair of (school id, district id) columns."""
    schools = (
        scope.staff_school_ids if staff_only else scope.staff_school_ids | scope.personal_school_ids
    )
    conditions = [_in(school_id, schools), _in(district_id, scope.staff_district_ids)]
    return _any([c for c in conditions if c is not None])


def school_filter(scope: Scope, schools: FromClause = SCHOOLS) -> ColumnElement[bool]:
    return school_id_filter(scope, schools.c.id, schools.c.district_id)


def district_ids(scope: Scope) -> frozenset[int]:
    """Districts on the path to anything in scope."""
    return frozenset(r.district_id for r in scope.roles) | scope.personal_district_ids


def district_filter(scope: Scope, districts: FromClause = DISTRICTS) -> ColumnElement[bool]:
    return _any([c for c in [_in(districts.c.id, district_ids(scope))] if c is not None])


def guardian_filter(viewer: Viewer, guardians: FromClause = GUARDIANS) -> ColumnElement[bool]:
    """A guardian record is visible when one of its students is, and to its
    own account."""
    contact = CONTACTS.alias("scope_contact")
    student = STUDENTS.alias("scope_student")
    through_student = sa.exists(
        sa.select(contact.c.id)
        .join(student, student.c.id == contact.c.student_id)
        .where(contact.c.guardian_id == guardians.c.id, student_filter(viewer.scope, student))
    )
    if viewer.guardian_id is None:
        return through_student if not viewer.scope.is_empty else FALSE
    return sa.or_(guardians.c.id == viewer.guardian_id, through_student)


def staff_filter(viewer: Viewer, staff: FromClause = STAFF) -> ColumnElement[bool]:
    """Staff members of the schools in scope, and one's own record."""
    link = STAFF_SCHOOLS.alias("scope_staff_school")
    at_school = sa.exists(
        sa.select(link.c.staff_member_id).where(
            link.c.staff_member_id == staff.c.id,
            school_id_filter(viewer.scope, link.c.school_id, link.c.district_id),
        )
    )
    if viewer.staff_member_id is None:
        return at_school if not viewer.scope.is_empty else FALSE
    return sa.or_(staff.c.id == viewer.staff_member_id, at_school)


def section_filter(scope: Scope, sections: FromClause = SECTIONS) -> ColumnElement[bool]:
    return school_id_filter(scope, sections.c.school_id, sections.c.district_id)


class EmailDomain(FunctionElement[str]):
    """The part of an email after the ``@``, lower-cased."""

    type = sa.String()
    inherit_cache = True
    name = "email_domain"


@compiles(EmailDomain)
def _email_domain_default(element: EmailDomain, compiler: Any, **kw: Any) -> str:
    return f"email_domain({compiler.process(element.clauses, **kw)})"


@compiles(EmailDomain, "postgresql")
def _email_domain_postgresql(element: EmailDomain, compiler: Any, **kw: Any) -> str:
    return f"lower(split_part({compiler.process(element.clauses, **kw)}, '@', 2))"


@compiles(EmailDomain, "sqlite")
def _email_domain_sqlite(element: EmailDomain, compiler: Any, **kw: Any) -> str:
    email = compiler.process(element.clauses, **kw)
    return f"lower(substr({email}, instr({email}, '@') + 1))"


class ContainsText(FunctionElement[bool]):
    """Whether the first string contains the second (no pattern characters)."""

    type = sa.Boolean()
    inherit_cache = True
    name = "contains_text"


@compiles(ContainsText)
def _contains_default(element: ContainsText, compiler: Any, **kw: Any) -> str:
    haystack, needle = (compiler.process(c, **kw) for c in element.clauses)
    return f"contains_text({haystack}, {needle})"


@compiles(ContainsText, "postgresql")
def _contains_postgresql(element: ContainsText, compiler: Any, **kw: Any) -> str:
    haystack, needle = (compiler.process(c, **kw) for c in element.clauses)
    return f"(strpos({haystack}, {needle}) > 0)"


@compiles(ContainsText, "sqlite")
def _contains_sqlite(element: ContainsText, compiler: Any, **kw: Any) -> str:
    haystack, needle = (compiler.process(c, **kw) for c in element.clauses)
    return f"(instr({haystack}, {needle}) > 0)"


def at_district_domain(accounts: FromClause, districts: FromClause) -> ColumnElement[bool]:
    """The account's email is at one of the district's own email domains
    (``districts.email_domains`` is space-separated)."""
    padded_domains = sa.literal(" ") + sa.func.lower(districts.c.email_domains) + sa.literal(" ")
    padded_domain = sa.literal(" ") + EmailDomain(accounts.c.email) + sa.literal(" ")
    return ContainsText(padded_domains, padded_domain)


def unlinked_staff_account(accounts: FromClause = ACCOUNTS) -> ColumnElement[bool]:
    """A live STAFF account linked to no staff record, whose address is
    verified: anyone can type a district address into the sign-up form, so
    neither the kind nor the domain means anything until the mailbox owner
    has proven it (and, with it, set the credentials: docs/adr/0006). An
    unverified one is no one's new colleague: not visible, not linkable."""
    return sa.and_(
        accounts.c.kind == AccountKind.STAFF,
        accounts.c.staff_member_id.is_(None),
        accounts.c.revoked_at.is_(None),
        accounts.c.email_verified_at.is_not(None),
    )


def unlinked_staff_account_filter(
    district_ids: frozenset[int], accounts: FromClause = ACCOUNTS
) -> ColumnElement[bool]:
    """STAFF accounts not yet linked to a staff record, at one of these
    districts' own email domains: a new colleague's first sign-in, before the
    SIS or an administrator has linked it (``linkAccountToStaffMember``).
    Served by ``ix_accounts_kind_staff_member``."""
    district = DISTRICTS.alias("scope_account_domain")
    return sa.and_(
        unlinked_staff_account(accounts),
        sa.exists(
            sa.select(district.c.id).where(
                district.c.id.in_(sorted(district_ids)), at_district_domain(accounts, district)
            )
        ),
    )


def account_filter(viewer: Viewer, accounts: FromClause = ACCOUNTS) -> ColumnElement[bool]:
    """Accounts in scope: oneself; holders of a live grant to, and the
    accounts of contacts of, a student the viewer holds PORTAL_VIEW on (the
    revoke view); for staff roles, the staff accounts of their schools and
    holders of roles there; for account administrators, also their
    districts' unlinked staff accounts."""
    scope = viewer.scope
    conditions: list[ColumnElement[bool]] = []
    if viewer.account_id is not None:
        conditions.append(accounts.c.id == viewer.account_id)
    if scope.is_empty:
        return _any(conditions)
    grant = GRANTS.alias("scope_grant")
    student = STUDENTS.alias("scope_grant_student")
    conditions.append(
        sa.exists(
            sa.select(grant.c.id)
            .join(student, student.c.id == grant.c.student_id)
            .where(
                grant.c.account_id == accounts.c.id,
                # Only a live grant ties the account to the student's
                # people: a revoked one is history (the grant stays visible
                # on the student's page), not reach.
                grant.c.revoked_at.is_(None),
                # Paired accounts are the revoke view: PORTAL_VIEW.
                capability_student_filter(scope, Capability.PORTAL_VIEW, student),
            )
        )
    )
    if scope.roles:
        link = STAFF_SCHOOLS.alias("scope_account_staff_school")
        conditions.append(
            sa.exists(
                sa.select(link.c.staff_member_id).where(
                    link.c.staff_member_id == accounts.c.staff_member_id,
                    school_id_filter(scope, link.c.school_id, link.c.district_id, staff_only=True),
                )
            )
        )
        contact = CONTACTS.alias("scope_account_contact")
        contact_student = STUDENTS.alias("scope_account_contact_student")
        conditions.append(
            sa.exists(
                sa.select(contact.c.id)
                .join(contact_student, contact_student.c.id == contact.c.student_id)
                .where(
                    contact.c.guardian_id == accounts.c.guardian_id,
                    capability_student_filter(scope, Capability.PORTAL_VIEW, contact_student),
                )
            )
        )
        managing = managing_districts(scope)
        if managing:
            conditions.append(unlinked_staff_account_filter(managing, accounts))
        role_grant = ROLE_GRANTS.alias("scope_account_role")
        conditions.append(
            sa.exists(
                sa.select(role_grant.c.id).where(
                    role_grant.c.account_id == accounts.c.id,
                    school_id_filter(
                        scope, role_grant.c.school_id, role_grant.c.district_id, staff_only=True
                    ),
                )
            )
        )
    return _any(conditions)
