"""Portal status, derived from the data (docs/architecture.md section 3, account lifecycle).

Each revoke reason is a SQL condition on an account row, so the same
definition computes the status shown on an account and filters lists by it.
"""

from __future__ import annotations

import enum
import functools
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import ColumnElement, FromClause

from permissions.roles import AccountKind
from resolvers.scope import custody_restricted
from resolvers.tables import (
    ACCOUNTS,
    CONTACTS,
    GRANTS,
    GUARDIANS,
    STAFF,
    STUDENTS,
    EnrolmentStatus,
    GrantSource,
)


class PortalStatus(enum.Enum):
    READY_TO_PROVISION = "READY_TO_PROVISION"
    ACTIVE = "ACTIVE"
    READY_TO_REVOKE = "READY_TO_REVOKE"
    REVOKED = "REVOKED"
    NONE = "NONE"


class RevokeReason(enum.Enum):
    NO_CURRENT_STUDENTS = "NO_CURRENT_STUDENTS"
    SUPERSEDED = "SUPERSEDED"
    NOT_LINKED_TO_STUDENT = "NOT_LINKED_TO_STUDENT"
    PORTAL_FLAG_REMOVED = "PORTAL_FLAG_REMOVED"
    STAFF_DEACTIVATED = "STAFF_DEACTIVATED"


# Cached per table or alias (build them once, at module level): building the
# conditions anew for every request was a fifth of the CPU of a request mix.
@functools.cache
def reason_conditions(account: FromClause = ACCOUNTS) -> dict[RevokeReason, ColumnElement[bool]]:
    """Why an account no longer matches anyone with current students."""
    is_guardian = account.c.kind == AccountKind.GUARDIAN

    def contact_exists(*conditions: Any) -> ColumnElement[bool]:
        contact = CONTACTS.alias()
        student = STUDENTS.alias()
        built = [c(contact, student) for c in conditions]
        return sa.exists(
            sa.select(contact.c.id)
            .join(student, student.c.id == contact.c.student_id)
            .where(contact.c.guardian_id == account.c.guardian_id, *built)
        )

    def grant_exists(*conditions: Any) -> ColumnElement[bool]:
        grant = GRANTS.alias()
        student = STUDENTS.alias()
        built = [c(grant, student) for c in conditions]
        return sa.exists(
            sa.select(grant.c.id)
            .join(student, student.c.id == grant.c.student_id)
            .where(grant.c.account_id == account.c.id, *built)
        )

    def current(_: FromClause, student: FromClause) -> ColumnElement[bool]:
        return student.c.status == EnrolmentStatus.ENROLLED

    def usable_contact(contact: FromClause, _: FromClause) -> ColumnElement[bool]:
        return sa.not_(contact.c.restricted)

    def eligible(contact: FromClause, _: FromClause) -> ColumnElement[bool]:
        return contact.c.portal_eligible.is_(True)

    def active_grant(grant: FromClause, _: FromClause) -> ColumnElement[bool]:
        return grant.c.revoked_at.is_(None)

    def not_sis(grant: FromClause, _: FromClause) -> ColumnElement[bool]:
        return grant.c.source != GrantSource.SIS_SYNC

    linked_anywhere = sa.or_(contact_exists(), grant_exists())
    newer = ACCOUNTS.alias("newer_account")
    staff = STAFF.alias("lifecycle_staff")
    return {
        RevokeReason.NOT_LINKED_TO_STUDENT: sa.and_(is_guardian, sa.not_(linked_anywhere)),
        RevokeReason.NO_CURRENT_STUDENTS: sa.and_(
            is_guardian,
            linked_anywhere,
            sa.not_(contact_exists(current, usable_contact)),
            sa.not_(grant_exists(current, active_grant)),
        ),
        RevokeReason.PORTAL_FLAG_REMOVED: sa.and_(
            is_guardian,
            contact_exists(current),
            sa.not_(contact_exists(current, eligible)),
            sa.not_(grant_exists(current, active_grant, not_sis)),
        ),
        RevokeReason.SUPERSEDED: sa.and_(
            is_guardian,
            account.c.guardian_id.is_not(None),
            sa.exists(
                sa.select(newer.c.id).where(
                    newer.c.guardian_id == account.c.guardian_id,
                    newer.c.id != account.c.id,
                    newer.c.revoked_at.is_(None),
                    newer.c.created_at > account.c.created_at,
                )
            ),
        ),
        RevokeReason.STAFF_DEACTIVATED: sa.and_(
            account.c.kind == AccountKind.STAFF,
            sa.exists(
                sa.select(staff.c.id).where(
                    staff.c.id == account.c.staff_member_id, sa.not_(staff.c.active)
                )
            ),
        ),
    }


@functools.cache
def reason_columns(account: FromClause = ACCOUNTS) -> list[sa.Label[Any]]:
    return [
        sa.case((condition, True), else_=False).label(f"reason_{reason.value.lower()}")
        for reason, condition in reason_conditions(account).items()
    ]


def status_condition(status: PortalStatus, account: FromClause = ACCOUNTS) -> ColumnElement[bool]:
    revoked = account.c.revoked_at.is_not(None)
    any_reason = sa.or_(*reason_conditions(account).values())
    if status is PortalStatus.REVOKED:
        return revoked
    if status is PortalStatus.READY_TO_REVOKE:
        return sa.and_(sa.not_(revoked), any_reason)
    if status is PortalStatus.ACTIVE:
        return sa.and_(sa.not_(revoked), sa.not_(any_reason))
    # Accounts are never READY_TO_PROVISION or NONE: those describe contacts.
    return sa.false()


def reasons_of(row: Any) -> list[RevokeReason]:
    """The reasons an account row selected with ``reason_columns`` carries."""
    mapping = row._mapping
    return [r for r in RevokeReason if mapping.get(f"reason_{r.value.lower()}")]


def status_of(row: Any) -> PortalStatus:
    if row.revoked_at is not None:
        return PortalStatus.REVOKED
    return PortalStatus.READY_TO_REVOKE if reasons_of(row) else PortalStatus.ACTIVE


# ------------------------------------------------------------ contacts


def guardian_eligible(guardian: FromClause = GUARDIANS) -> ColumnElement[bool]:
    """An eligible contact: portal flag on for a current student, and not
    restricted from that student."""
    contact = CONTACTS.alias("eligible_contact")
    student = STUDENTS.alias("eligible_student")
    return sa.exists(
        sa.select(contact.c.id)
        .join(student, student.c.id == contact.c.student_id)
        .where(
            contact.c.guardian_id == guardian.c.id,
            contact.c.portal_eligible,
            # Neither this record nor another of the same person (by email)
            # is restricted from the student.
            sa.not_(
                custody_restricted(student.c.id, guardian_id=guardian.c.id, email=guardian.c.email)
            ),
            student.c.status == EnrolmentStatus.ENROLLED,
            guardian.c.active,
        )
    )


def guardian_account(guardian: FromClause = GUARDIANS) -> Any:
    """The newest account linked to the contact record (a scalar subquery)."""
    account = ACCOUNTS.alias("guardian_account")
    return (
        sa.select(account.c.id)
        .where(account.c.guardian_id == guardian.c.id)
        .order_by(
            account.c.revoked_at.is_not(None), account.c.created_at.desc(), account.c.id.desc()
        )
        .limit(1)
        .scalar_subquery()
    )
