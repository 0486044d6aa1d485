"""What an import changes about portal access: custody revocations, and
the guardian accounts that would lose their last current student."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from permissions.roles import AccountKind
from resolvers.scope import account_restricted_from
from resolvers.tables import (
    ACCESS_EVENTS,
    ACCOUNTS,
    CONTACTS,
    GRANTS,
    STUDENTS,
    AccessAction,
    EnrolmentStatus,
)

SIS_ACTOR_NAME = "SIS sync"
CUSTODY_REVOKE_REASON = "custody restriction"


async def accounts_with_current_students(
    connection: AsyncConnection, district_ids: list[int]
) -> set[int]:
    """Live guardian accounts whose contact record has a current student.

    "Current": enrolled and not restricted from the contact, as the account
    lifecycle defines it (``resolvers.lifecycle``). A contact record belongs
    to one district, so the file set's districts hold all of an account's
    contacts: run before and after an import, the difference is the
    accounts that lost their last current student.
    """
    query = (
        sa.select(ACCOUNTS.c.id)
        .distinct()
        .join(CONTACTS, CONTACTS.c.guardian_id == ACCOUNTS.c.guardian_id)
        .join(STUDENTS, STUDENTS.c.id == CONTACTS.c.student_id)
        .where(
            ACCOUNTS.c.kind == AccountKind.GUARDIAN,
            ACCOUNTS.c.revoked_at.is_(None),
            STUDENTS.c.status == EnrolmentStatus.ENROLLED,
            sa.not_(CONTACTS.c.restricted),
        )
    )
    query = query.where(CONTACTS.c.district_id.in_(district_ids))
    return set((await connection.execute(query)).scalars())


async def revoke_restricted_grants(
    connection: AsyncConnection, district_ids: list[int], now: dt.datetime
) -> int:
    """Revoke every live grant a restricted contact's accounts hold, audited:
    the accounts linked to the contact record and those whose verified
    email is the record's (``resolvers.scope.account_restricted_from``).

    Checked against all restricted contacts, not only new ones, so that a
    grant made around a restriction by any path is taken back on the next
    sync; when nothing is to revoke this is one read.
    """
    found = await connection.execute(
        sa.select(GRANTS.c.id, GRANTS.c.district_id, GRANTS.c.student_id)
        .join(ACCOUNTS, ACCOUNTS.c.id == GRANTS.c.account_id)
        .where(
            account_restricted_from(GRANTS.c.student_id, ACCOUNTS),
            GRANTS.c.revoked_at.is_(None),
            GRANTS.c.district_id.in_(district_ids),
        )
        .order_by(GRANTS.c.id)
    )
    grants = found.all()
    if not grants:
        return 0
    await connection.execute(
        GRANTS.update()
        .where(GRANTS.c.id == sa.bindparam("grant_id"))
        .values(revoked_at=now, revoke_reason=CUSTODY_REVOKE_REASON),
        [{"grant_id": grant.id} for grant in grants],
    )
    await connection.execute(
        ACCESS_EVENTS.insert(),
        [
            {
                "district_id": grant.district_id,
                "student_id": grant.student_id,
                "at": now,
                "actor_account_id": None,
                "actor_staff_id": None,
                "actor_kind": None,
                "actor_name": SIS_ACTOR_NAME,
                "action": AccessAction.GRANT_REVOKED,
                "detail": f"grant {grant.id} revoked: custody restriction recorded in the SIS",
            }
            for grant in grants
        ],
    )
    return len(grants)
