"""Role grants by hand (``grantRole`` / ``revokeRole``): the places, the
accounts and the rows. The rule that keeps them from escalating privilege
is policy, in ``permissions.role_grants``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from permissions.capabilities import Capability
from permissions.role_grants import Place
from permissions.roles import Role
from permissions.viewer import Viewer, narrowed
from resolvers.db import Db
from resolvers.scope import account_filter, district_filter, school_filter
from resolvers.tables import ACCOUNTS, DISTRICTS, ROLE_GRANTS, SCHOOLS, RoleGrantSource


async def school_place(db: Db, viewer: Viewer, school_id: int) -> Place | None:
    """A school the viewer can see, or None (out of scope is not found)."""
    row = await db.first(
        sa.select(SCHOOLS.c.id, SCHOOLS.c.district_id, SCHOOLS.c.name).where(
            SCHOOLS.c.id == school_id, school_filter(viewer.scope)
        )
    )
    return Place(row.district_id, row.id, row.name) if row is not None else None


async def district_place(db: Db, viewer: Viewer, district_id: int) -> Place | None:
    row = await db.first(
        sa.select(DISTRICTS.c.id, DISTRICTS.c.name).where(
            DISTRICTS.c.id == district_id, district_filter(viewer.scope)
        )
    )
    return Place(row.id, None, row.name) if row is not None else None


async def account_reached_with(
    db: Db, viewer: Viewer, account_id: int, capability: Capability
) -> Row[Any] | None:
    """The account, when the viewer reaches it through a relation that
    grants ``capability``; None otherwise (out of scope is not found)."""
    return await db.first(
        sa.select(ACCOUNTS).where(
            ACCOUNTS.c.id == account_id, account_filter(narrowed(viewer, capability))
        )
    )


async def managed_account(db: Db, viewer: Viewer, account_id: int) -> Row[Any] | None:
    """An account within reach of the viewer's account management."""
    return await account_reached_with(db, viewer, account_id, Capability.ACCOUNT_LIFECYCLE)


def _at(place: Place) -> sa.ColumnElement[bool]:
    school = (
        ROLE_GRANTS.c.school_id.is_(None)
        if place.school_id is None
        else ROLE_GRANTS.c.school_id == place.school_id
    )
    return sa.and_(ROLE_GRANTS.c.district_id == place.district_id, school)


async def holds_manual_grant(db: Db, *, account_id: int, role: Role, place: Place) -> bool:
    found = await db.scalar(
        sa.select(ROLE_GRANTS.c.id)
        .where(
            ROLE_GRANTS.c.account_id == account_id,
            ROLE_GRANTS.c.role == role.value,
            ROLE_GRANTS.c.source == RoleGrantSource.MANUAL,
            _at(place),
        )
        .limit(1)
    )
    return found is not None


async def holds_sis_grant(
    db: Db, *, account_id: int, staff_member_id: int | None, role: Role, place: Place
) -> bool:
    """The role comes from the SIS: on the account's staff record, or on
    the account with a source other than MANUAL."""
    holder = sa.and_(
        ROLE_GRANTS.c.account_id == account_id, ROLE_GRANTS.c.source != RoleGrantSource.MANUAL
    )
    if staff_member_id is not None:
        holder = sa.or_(holder, ROLE_GRANTS.c.staff_member_id == staff_member_id)
    found = await db.scalar(
        sa.select(ROLE_GRANTS.c.id)
        .where(holder, ROLE_GRANTS.c.role == role.value, _at(place))
        .limit(1)
    )
    return found is not None


async def add_manual_grant(
    db: Db, *, account_id: int, role: Role, place: Place, now: dt.datetime
) -> None:
    await db.execute(
        sa.insert(ROLE_GRANTS).values(
            account_id=account_id,
            role=role.value,
            school_id=place.school_id,
            district_id=place.district_id,
            source=RoleGrantSource.MANUAL,
            created_at=now,
        )
    )


async def remove_manual_grants(db: Db, *, account_id: int, role: Role, place: Place) -> int:
    """Role grants carry no history columns; the access event that the
    mutation writes in the same transaction is the record of the removal."""
    result = await db.execute(
        sa.delete(ROLE_GRANTS).where(
            ROLE_GRANTS.c.account_id == account_id,
            ROLE_GRANTS.c.role == role.value,
            ROLE_GRANTS.c.source == RoleGrantSource.MANUAL,
            _at(place),
        )
    )
    return int(result.rowcount)
