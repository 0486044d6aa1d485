"""Accounts, their role grants and their grants to students, cut to scope."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from permissions.capabilities import Capability
from permissions.roles import AccountKind
from permissions.viewer import Viewer, narrowed
from resolvers.common import grouped_in_key_order, in_key_order, name_search, split_prefixed
from resolvers.db import Db
from resolvers.pagination import (
    Page,
    PageRequest,
    count,
    counts_by_parent,
    keyset_page,
    keyset_pages_by_parent,
)
from resolvers.portal.lifecycle import PortalStatus, reason_columns, status_condition
from resolvers.scope import (
    account_filter,
    at_district_domain,
    capability_student_filter,
    school_filter,
    student_filter,
    unlinked_staff_account,
)
from resolvers.tables import (
    ACCOUNTS,
    CONTACTS,
    DISTRICTS,
    GRANTS,
    ROLE_GRANTS,
    SCHOOLS,
    STAFF,
    STAFF_SCHOOLS,
    STUDENTS,
)

ORDER = (ACCOUNTS.c.display_name, ACCOUNTS.c.id)
GRANT_ORDER = (GRANTS.c.granted_at, GRANTS.c.id)


@dataclass(frozen=True, slots=True)
class AccountFilter:
    kind: str | None = None
    school_id: int | None = None
    portal_status: PortalStatus | None = None
    never_logged_in: bool | None = None
    search: str | None = None


def _account_columns() -> list[Any]:
    return [*ACCOUNTS.c, *reason_columns(ACCOUNTS)]


def scoped_accounts(viewer: Viewer, where: AccountFilter = AccountFilter()) -> sa.Select[Any]:
    """Accounts in scope, filtered only on what the viewer may read."""
    query = sa.select(*_account_columns()).where(account_filter(viewer))
    if where.kind is not None:
        query = query.where(ACCOUNTS.c.kind == where.kind)
    if where.portal_status is not None or where.never_logged_in is not None:
        # Portal status and last sign-in are ACCOUNT_LIFECYCLE's.
        query = query.where(account_filter(narrowed(viewer, Capability.ACCOUNT_LIFECYCLE)))
    if where.portal_status is not None:
        query = query.where(status_condition(where.portal_status))
    if where.never_logged_in is not None:
        never = ACCOUNTS.c.last_login_at.is_(None)
        query = query.where(never if where.never_logged_in else sa.not_(never))
    if where.search:
        query = query.where(
            name_search(
                where.search,
                ACCOUNTS.c.display_name,
                restricted=[ACCOUNTS.c.email],
                # Account.email is PORTAL_VIEW's (and one's own); a student
                # login's is the student's, CONTACT_DETAILS's.
                may_read_restricted=sa.and_(
                    account_filter(narrowed(viewer, Capability.PORTAL_VIEW)),
                    student_email_readable(viewer),
                ),
            )
        )
    if where.school_id is not None:
        # Another school's id is an unknown id.
        query = query.where(
            _at_school(where.school_id),
            sa.exists(
                sa.select(SCHOOLS.c.id).where(
                    SCHOOLS.c.id == where.school_id, school_filter(viewer.scope)
                )
            ),
        )
    return query


def student_email_readable(viewer: Viewer) -> sa.ColumnElement[bool]:
    """Whether the viewer may read the account's email as a student's: any
    account but a STUDENT one, whose email is its student's and needs
    CONTACT_DETAILS on that student (or to be that student), as the field
    does (schema.restrictions, ``of_student``). So a search cannot reveal
    what the field hides."""
    student = STUDENTS.alias("email_student")
    readable = [
        ACCOUNTS.c.kind != AccountKind.STUDENT,
        sa.exists(
            sa.select(student.c.id).where(
                student.c.id == ACCOUNTS.c.student_id,
                capability_student_filter(viewer.scope, Capability.CONTACT_DETAILS, student),
            )
        ),
    ]
    if viewer.account_id is not None:
        readable.append(ACCOUNTS.c.id == viewer.account_id)
    return sa.or_(*readable)


def _at_school(school_id: int) -> sa.ColumnElement[bool]:
    """Accounts tied to a school: its staff, or holders of grants to (or
    contacts of) its students."""
    grant = GRANTS.alias("at_school_grant")
    student = STUDENTS.alias("at_school_student")
    contact = CONTACTS.alias("at_school_contact")
    contact_student = STUDENTS.alias("at_school_contact_student")
    return sa.or_(
        sa.exists(
            sa.select(STAFF_SCHOOLS.c.staff_member_id).where(
                STAFF_SCHOOLS.c.staff_member_id == ACCOUNTS.c.staff_member_id,
                STAFF_SCHOOLS.c.school_id == school_id,
            )
        ),
        sa.exists(
            sa.select(grant.c.id)
            .join(student, student.c.id == grant.c.student_id)
            .where(grant.c.account_id == ACCOUNTS.c.id, student.c.school_id == school_id)
        ),
        sa.exists(
            sa.select(contact.c.id)
            .join(contact_student, contact_student.c.id == contact.c.student_id)
            .where(
                contact.c.guardian_id == ACCOUNTS.c.guardian_id,
                contact_student.c.school_id == school_id,
            )
        ),
    )


async def account_page(
    db: Db, viewer: Viewer, request: PageRequest, where: AccountFilter = AccountFilter()
) -> Page:
    return await keyset_page(db, scoped_accounts(viewer, where), ORDER, request)


async def account_count(db: Db, viewer: Viewer, where: AccountFilter = AccountFilter()) -> int:
    return await count(db, scoped_accounts(viewer, where))


async def accounts_in_scope(db: Db, viewer: Viewer, ids: Sequence[int]) -> list[Row[Any] | None]:
    rows = await db.all(
        sa.select(*_account_columns()).where(ACCOUNTS.c.id.in_(list(ids)), account_filter(viewer))
    )
    return in_key_order(ids, rows, lambda r: r.id)


async def accounts_by_id(db: Db, ids: Sequence[int]) -> list[Row[Any] | None]:
    """Path lookups: the account of a visible grant, the viewer's own."""
    rows = await db.all(sa.select(*_account_columns()).where(ACCOUNTS.c.id.in_(list(ids))))
    return in_key_order(ids, rows, lambda r: r.id)


async def newest_account_by_guardian_id(
    db: Db, guardian_ids: Sequence[int]
) -> list[Row[Any] | None]:
    rows = await db.all(
        sa.select(*_account_columns())
        .where(ACCOUNTS.c.guardian_id.in_(list(guardian_ids)))
        .order_by(ACCOUNTS.c.revoked_at.is_(None), ACCOUNTS.c.created_at, ACCOUNTS.c.id)
    )
    # The last row per guardian wins: a live account over a revoked one,
    # then the newest.
    return in_key_order(guardian_ids, rows, lambda r: r.guardian_id)


async def accounts_by_staff_id(db: Db, staff_ids: Sequence[int]) -> list[Row[Any] | None]:
    rows = await db.all(
        sa.select(*_account_columns())
        .where(ACCOUNTS.c.staff_member_id.in_(list(staff_ids)))
        .order_by(ACCOUNTS.c.revoked_at.is_(None), ACCOUNTS.c.created_at, ACCOUNTS.c.id)
    )
    return in_key_order(staff_ids, rows, lambda r: r.staff_member_id)


async def role_grants_by_account_id(db: Db, account_ids: Sequence[int]) -> list[list[Row[Any]]]:
    """Roles granted to the account, and SIS roles of its active staff record."""
    direct = sa.select(
        ROLE_GRANTS.c.account_id.label("holder"),
        ROLE_GRANTS.c.role,
        ROLE_GRANTS.c.school_id,
        ROLE_GRANTS.c.district_id,
    ).where(ROLE_GRANTS.c.account_id.in_(list(account_ids)))
    through_staff = (
        sa.select(
            ACCOUNTS.c.id.label("holder"),
            ROLE_GRANTS.c.role,
            ROLE_GRANTS.c.school_id,
            ROLE_GRANTS.c.district_id,
        )
        .join(STAFF, STAFF.c.id == ACCOUNTS.c.staff_member_id)
        .join(ROLE_GRANTS, ROLE_GRANTS.c.staff_member_id == STAFF.c.id)
        .where(ACCOUNTS.c.id.in_(list(account_ids)), STAFF.c.active)
    )
    union = sa.union(direct, through_staff).subquery()
    rows = await db.all(
        sa.select(union).order_by(
            union.c.holder, union.c.role, union.c.district_id, union.c.school_id
        )
    )
    return grouped_in_key_order(account_ids, rows, lambda r: r.holder)


STUDENT_PREFIX = "student__"
ACCOUNT_PREFIX = "account__"
# A grant's account, joined under its own alias so its lifecycle conditions
# (cached per alias) are built once.
GRANT_ACCOUNT = ACCOUNTS.alias("grant_account")


def _grants(viewer: Viewer, *, include_revoked: bool) -> sa.Select[Any]:
    """Grants to students in scope, each row carrying its student and its
    account: the revoke view needs both, and the loaders are primed with
    them instead of asking again (``split_grant_row``)."""
    query = (
        sa.select(
            GRANTS,
            *[c.label(STUDENT_PREFIX + c.name) for c in STUDENTS.c],
            *account_columns(GRANT_ACCOUNT),
        )
        .join(STUDENTS, STUDENTS.c.id == GRANTS.c.student_id)
        .join(GRANT_ACCOUNT, GRANT_ACCOUNT.c.id == GRANTS.c.account_id)
        .where(grant_filter(viewer))
    )
    if not include_revoked:
        query = query.where(GRANTS.c.revoked_at.is_(None))
    return query


def grant_filter(viewer: Viewer) -> sa.ColumnElement[bool]:
    """Grants the viewer may see: those to students it holds PORTAL_VIEW on
    (the revoke view), and its own to students in its scope."""
    portal_view = capability_student_filter(viewer.scope, Capability.PORTAL_VIEW)
    if viewer.account_id is None:
        return portal_view
    own = sa.and_(GRANTS.c.account_id == viewer.account_id, student_filter(viewer.scope))
    return sa.or_(portal_view, own)


def split_grant_row(row: Row[Any]) -> tuple[SimpleNamespace, SimpleNamespace]:
    """The student row and the account row a grants row carries."""
    return split_prefixed(row, STUDENT_PREFIX), split_prefixed(row, ACCOUNT_PREFIX)


def account_columns(account: Any) -> list[Any]:
    """An account's columns and lifecycle reasons, under ACCOUNT_PREFIX."""
    return [
        *[c.label(ACCOUNT_PREFIX + c.name) for c in account.c],
        *[column.element.label(ACCOUNT_PREFIX + column.name) for column in reason_columns(account)],
    ]


async def grant_pages_by_account(
    db: Db,
    viewer: Viewer,
    account_ids: Sequence[int],
    request: PageRequest,
    *,
    include_revoked: bool,
) -> list[Page]:
    """``Account.grants``: each account's grants to students in scope (the
    revoke view: other schools' students stay hidden)."""
    return await keyset_pages_by_parent(
        db,
        _grants(viewer, include_revoked=include_revoked),
        GRANTS.c.account_id,
        GRANT_ORDER,
        account_ids,
        request,
    )


async def grant_counts_by_account(
    db: Db, viewer: Viewer, account_ids: Sequence[int], *, include_revoked: bool
) -> list[int]:
    return await counts_by_parent(
        db, _grants(viewer, include_revoked=include_revoked), GRANTS.c.account_id, account_ids
    )


async def grant_pages_by_student(
    db: Db,
    viewer: Viewer,
    student_ids: Sequence[int],
    request: PageRequest,
    *,
    include_revoked: bool,
) -> list[Page]:
    return await keyset_pages_by_parent(
        db,
        _grants(viewer, include_revoked=include_revoked),
        GRANTS.c.student_id,
        GRANT_ORDER,
        student_ids,
        request,
    )


async def grant_counts_by_student(
    db: Db, viewer: Viewer, student_ids: Sequence[int], *, include_revoked: bool
) -> list[int]:
    return await counts_by_parent(
        db, _grants(viewer, include_revoked=include_revoked), GRANTS.c.student_id, student_ids
    )


async def grants_in_scope(db: Db, viewer: Viewer, ids: Sequence[int]) -> list[Row[Any] | None]:
    rows = await db.all(_grants(viewer, include_revoked=True).where(GRANTS.c.id.in_(list(ids))))
    return in_key_order(ids, rows, lambda r: r.id)


async def reach_by_account_id(db: Db, account_ids: Sequence[int]) -> list[list[Row[Any]]]:
    """Where each account reaches: the students it holds live grants to and the
    schools of its staff record, to decide capabilities on the account."""
    granted = (
        sa.select(
            GRANTS.c.account_id.label("holder"),
            STUDENTS.c.id.label("student_id"),
            STUDENTS.c.school_id,
            STUDENTS.c.district_id,
        )
        .join(STUDENTS, STUDENTS.c.id == GRANTS.c.student_id)
        # A revoked grant is history, not reach (scope.account_filter).
        .where(GRANTS.c.account_id.in_(list(account_ids)), GRANTS.c.revoked_at.is_(None))
    )
    staff = (
        sa.select(
            ACCOUNTS.c.id.label("holder"),
            sa.cast(sa.null(), sa.Integer).label("student_id"),
            STAFF_SCHOOLS.c.school_id,
            STAFF_SCHOOLS.c.district_id,
        )
        .join(STAFF_SCHOOLS, STAFF_SCHOOLS.c.staff_member_id == ACCOUNTS.c.staff_member_id)
        .where(ACCOUNTS.c.id.in_(list(account_ids)))
    )
    # A role held at a school by the account itself (a hand-granted role):
    # the school's roles see the account (scope.account_filter), and decide
    # about it with what they hold there.
    roles = sa.select(
        ROLE_GRANTS.c.account_id.label("holder"),
        sa.cast(sa.null(), sa.Integer).label("student_id"),
        ROLE_GRANTS.c.school_id,
        ROLE_GRANTS.c.district_id,
    ).where(ROLE_GRANTS.c.account_id.in_(list(account_ids)), ROLE_GRANTS.c.school_id.is_not(None))
    # An unlinked staff account reaches its district (by email domain): the
    # district's account administrators decide about it (scope.account_filter).
    unlinked = (
        sa.select(
            ACCOUNTS.c.id.label("holder"),
            sa.cast(sa.null(), sa.Integer).label("student_id"),
            sa.cast(sa.null(), sa.Integer).label("school_id"),
            DISTRICTS.c.id.label("district_id"),
        )
        .join(DISTRICTS, at_district_domain(ACCOUNTS, DISTRICTS))
        .where(ACCOUNTS.c.id.in_(list(account_ids)), unlinked_staff_account(ACCOUNTS))
    )
    rows = await db.all(sa.union_all(granted, staff, roles, unlinked))
    return grouped_in_key_order(account_ids, rows, lambda r: r.holder)
