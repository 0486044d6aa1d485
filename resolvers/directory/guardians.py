"""Guardian (contact) records, visible through their students in scope."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from permissions.capabilities import Capability
from permissions.viewer import Viewer
from resolvers.common import name_search, rows_by_id
from resolvers.db import Db
from resolvers.pagination import Page, PageRequest, count, keyset_page
from resolvers.portal.lifecycle import PortalStatus, guardian_eligible, status_condition
from resolvers.scope import capability_student_filter, guardian_filter, student_filter
from resolvers.tables import ACCOUNTS, CONTACTS, GUARDIANS, STUDENTS

# One alias for every query: the lifecycle conditions built on it are cached.
STATUS_ACCOUNT = ACCOUNTS.alias("status_account")

ORDER = (GUARDIANS.c.family_name, GUARDIANS.c.given_name, GUARDIANS.c.id)


@dataclass(frozen=True, slots=True)
class GuardianFilter:
    school_id: int | None = None
    portal_status: PortalStatus | None = None
    search: str | None = None


def _preferred_account(account: Any) -> sa.ColumnElement[bool]:
    """The account a contact's status follows: a live one over a revoked
    one, then the newest (the same choice as the account loader)."""
    other = ACCOUNTS.alias("other_account")
    other_live = other.c.revoked_at.is_(None)
    this_live = account.c.revoked_at.is_(None)
    return ~sa.exists(
        sa.select(other.c.id).where(
            other.c.guardian_id == account.c.guardian_id,
            other.c.id != account.c.id,
            sa.or_(
                sa.and_(other_live, sa.not_(this_live)),
                sa.and_(
                    other_live == this_live,
                    sa.tuple_(other.c.created_at, other.c.id)
                    > sa.tuple_(account.c.created_at, account.c.id),
                ),
            ),
        )
    )


def portal_status_filter(status: PortalStatus) -> sa.ColumnElement[bool]:
    account = STATUS_ACCOUNT
    has_account = sa.exists(sa.select(account.c.id).where(account.c.guardian_id == GUARDIANS.c.id))
    if status is PortalStatus.READY_TO_PROVISION:
        return sa.and_(~has_account, guardian_eligible(GUARDIANS))
    if status is PortalStatus.NONE:
        return sa.and_(~has_account, sa.not_(guardian_eligible(GUARDIANS)))
    return sa.exists(
        sa.select(account.c.id).where(
            account.c.guardian_id == GUARDIANS.c.id,
            _preferred_account(account),
            status_condition(status, account),
        )
    )


def _holds_on_a_student(viewer: Viewer, capability: Capability) -> sa.ColumnElement[bool]:
    """The viewer holds ``capability`` on one of the contact's students: what
    a restricted field of the contact needs (``Guardian.capabilities``)."""
    contact = CONTACTS.alias("readable_contact")
    student = STUDENTS.alias("readable_student")
    return sa.exists(
        sa.select(contact.c.id)
        .join(student, student.c.id == contact.c.student_id)
        .where(
            contact.c.guardian_id == GUARDIANS.c.id,
            capability_student_filter(viewer.scope, capability, student),
        )
    )


def scoped_guardians(viewer: Viewer, where: GuardianFilter = GuardianFilter()) -> sa.Select[Any]:
    """Guardians in scope, filtered only on what the viewer may read."""
    query = sa.select(GUARDIANS).where(guardian_filter(viewer))
    if where.school_id is not None:
        # Through students in scope: another school's id is an unknown id.
        query = query.where(
            sa.exists(
                sa.select(CONTACTS.c.id)
                .join(STUDENTS, STUDENTS.c.id == CONTACTS.c.student_id)
                .where(
                    CONTACTS.c.guardian_id == GUARDIANS.c.id,
                    STUDENTS.c.school_id == where.school_id,
                    student_filter(viewer.scope, STUDENTS),
                )
            )
        )
    if where.portal_status is not None:
        # Guardian.portalStatus is ACCOUNT_LIFECYCLE's.
        query = query.where(
            _holds_on_a_student(viewer, Capability.ACCOUNT_LIFECYCLE),
            portal_status_filter(where.portal_status),
        )
    if where.search:
        own = GUARDIANS.c.id == viewer.guardian_id if viewer.guardian_id is not None else sa.false()
        query = query.where(
            sa.or_(
                name_search(
                    where.search,
                    GUARDIANS.c.given_name,
                    GUARDIANS.c.family_name,
                    restricted=[GUARDIANS.c.email],
                    may_read_restricted=sa.or_(
                        own, _holds_on_a_student(viewer, Capability.CONTACT_DETAILS)
                    ),
                ),
                # A contact's SIS id, exactly, where the viewer may read it.
                sa.and_(
                    GUARDIANS.c.sourced_id == where.search.strip(),
                    _holds_on_a_student(viewer, Capability.SIS_IDS),
                ),
            )
        )
    return query


async def guardian_page(
    db: Db, viewer: Viewer, request: PageRequest, where: GuardianFilter = GuardianFilter()
) -> Page:
    return await keyset_page(db, scoped_guardians(viewer, where), ORDER, request)


async def guardian_count(db: Db, viewer: Viewer, where: GuardianFilter = GuardianFilter()) -> int:
    return await count(db, scoped_guardians(viewer, where))


async def guardians_in_scope(db: Db, viewer: Viewer, ids: Sequence[int]) -> list[Row[Any] | None]:
    return await rows_by_id(db, GUARDIANS, ids, guardian_filter(viewer))


async def guardians_by_id(db: Db, ids: Sequence[int]) -> list[Row[Any] | None]:
    """Path lookups: the guardian of a visible contact row."""
    return await rows_by_id(db, GUARDIANS, ids)
