"""Linking a login account to a staff record (docs/architecture.md section 2, "Look, don't touch").

A staff record is what the SIS knows; an account is what signs in. Writes
are attributed to the linked record, and the record's SIS roles reach the
account through the link. Linking therefore hands out those roles, and is
held to the same rule as ``grantRole`` (``resolvers.roles.grant_refusal``)
for each of them, and for the roles the account loses from a previous link.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from permissions.capabilities import Capability
from permissions.errors import Forbidden
from permissions.role_grants import Place, capabilities_at, grant_refusal
from permissions.roles import Role
from permissions.viewer import Viewer, narrowed
from resolvers.auth.sessions import normalise_email
from resolvers.db import Db
from resolvers.scope import school_id_filter
from resolvers.tables import ACCOUNTS, DISTRICTS, ROLE_GRANTS, SCHOOLS, STAFF, STAFF_SCHOOLS


async def managed_staff_member(db: Db, viewer: Viewer, staff_member_id: int) -> Row[Any] | None:
    """A staff record at a school where the viewer manages accounts."""
    scope = narrowed(viewer, Capability.ACCOUNT_LIFECYCLE).scope
    return await db.first(
        sa.select(STAFF).where(
            STAFF.c.id == staff_member_id,
            sa.exists(
                sa.select(STAFF_SCHOOLS.c.staff_member_id).where(
                    STAFF_SCHOOLS.c.staff_member_id == STAFF.c.id,
                    school_id_filter(
                        scope,
                        STAFF_SCHOOLS.c.school_id,
                        STAFF_SCHOOLS.c.district_id,
                        staff_only=True,
                    ),
                )
            ),
        )
    )


@dataclass(frozen=True, slots=True)
class StaffRecordReach:
    """The schools a staff record works at and the SIS roles it carries."""

    schools: tuple[Place, ...]
    roles: tuple[tuple[Role, Place], ...]


async def reach_of_staff_member(db: Db, staff_member_id: int) -> StaffRecordReach:
    schools = await db.all(
        sa.select(SCHOOLS.c.id, SCHOOLS.c.district_id, SCHOOLS.c.name)
        .join(STAFF_SCHOOLS, STAFF_SCHOOLS.c.school_id == SCHOOLS.c.id)
        .where(STAFF_SCHOOLS.c.staff_member_id == staff_member_id)
        .order_by(SCHOOLS.c.id)
    )
    roles = await db.all(
        sa.select(
            ROLE_GRANTS.c.role,
            ROLE_GRANTS.c.district_id,
            ROLE_GRANTS.c.school_id,
            sa.func.coalesce(SCHOOLS.c.name, DISTRICTS.c.name).label("name"),
        )
        .select_from(ROLE_GRANTS)
        .join(DISTRICTS, DISTRICTS.c.id == ROLE_GRANTS.c.district_id)
        .outerjoin(SCHOOLS, SCHOOLS.c.id == ROLE_GRANTS.c.school_id)
        .where(ROLE_GRANTS.c.staff_member_id == staff_member_id)
        .order_by(ROLE_GRANTS.c.id)
    )
    return StaffRecordReach(
        schools=tuple(Place(r.district_id, r.id, r.name) for r in schools),
        roles=tuple((Role(r.role), Place(r.district_id, r.school_id, r.name)) for r in roles),
    )


def link_refusal(viewer: Viewer, reach: StaffRecordReach, *, account_id: int) -> str | None:
    """Why ``viewer`` may not link an account to (or unlink it from) a staff
    record with this reach; None when it may."""
    if account_id == viewer.account_id:
        return "You cannot link your own account; ask another administrator."
    for school in reach.schools:
        if Capability.ACCOUNT_LIFECYCLE not in capabilities_at(viewer.scope, school):
            return (
                f"This staff record also works at {school.name}, where you do not manage accounts."
            )
    for role, place in reach.roles:
        refusal = grant_refusal(viewer, role=role, place=place, account_id=account_id)
        if refusal is not None:
            return f"This staff record holds {role.value} at {place.name}. {refusal}"
    return None


def require_may_link(viewer: Viewer, reach: StaffRecordReach, *, account_id: int) -> None:
    """``link_refusal`` as FORBIDDEN (docs/mutations.md, step 3)."""
    refusal = link_refusal(viewer, reach, account_id=account_id)
    if refusal is not None:
        raise Forbidden(refusal)


def emails_differ(account_email: str | None, staff_email: str | None) -> bool:
    """An assistant recording for someone: the account is not the record's person."""
    if account_email is None or staff_email is None:
        return True
    return normalise_email(account_email) != normalise_email(staff_email)


async def link(db: Db, *, account_id: int, staff_member_id: int) -> None:
    await db.execute(
        sa.update(ACCOUNTS)
        .where(ACCOUNTS.c.id == account_id)
        .values(staff_member_id=staff_member_id)
    )
