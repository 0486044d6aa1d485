"""Role grants by hand (``grantRole`` / ``revokeRole``) and the rule that
keeps them from escalating privilege.

The rule, for a grant of role R at place P (a school, or a whole district):
- the viewer manages accounts at P (ACCOUNT_LIFECYCLE there); a district
  place needs the viewer to be DISTRICT_ADMIN of that district;
- the viewer already holds at P every capability R gives: no one hands out
  more than they have;
- never to one's own account a role one does not already hold at P.
Linking an account to a staff record confers that record's SIS roles, so
``resolvers.staff_links`` applies the same rule to each of them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from permissions.capabilities import CAPABILITIES, Capability
from permissions.errors import Forbidden
from permissions.roles import Relation, Role
from permissions.scope import Scope
from permissions.viewer import Viewer, narrowed
from resolvers.db import Db
from resolvers.scope import account_filter, district_filter, school_filter
from resolvers.tables import ACCOUNTS, DISTRICTS, ROLE_GRANTS, SCHOOLS, RoleGrantSource


@dataclass(frozen=True, slots=True)
class Place:
    """Where a role is held: a school, or (school_id None) a whole district."""

    district_id: int
    school_id: int | None
    name: str


def capabilities_at(scope: Scope, place: Place) -> frozenset[Capability]:
    if place.school_id is None:
        return scope.district_capabilities(district_id=place.district_id)
    return scope.school_capabilities(school_id=place.school_id, district_id=place.district_id)


def roles_held_at(scope: Scope, place: Place) -> frozenset[Role]:
    if place.school_id is None:
        return scope.district_roles.get(place.district_id, frozenset())
    return scope.school_roles.get(place.school_id, frozenset())


def grant_refusal(
    viewer: Viewer, *, role: Role, place: Place, account_id: int, verb: str = "grant"
) -> str | None:
    """Why ``viewer`` may not grant (or, with ``verb="revoke"``, take back)
    ``role`` at ``place`` for ``account_id``; None when it may. Pure:
    decided from the scope alone."""
    scope = viewer.scope
    held = capabilities_at(scope, place)
    if place.school_id is None and Role.DISTRICT_ADMIN not in roles_held_at(scope, place):
        return f"Only a district administrator {verb}s district roles."
    if Capability.ACCOUNT_LIFECYCLE not in held:
        return f"You do not manage accounts at {place.name}."
    if not CAPABILITIES[Relation.of_role(role)] <= held:
        return f"You cannot {verb} {role.value}: it allows more than you hold at {place.name}."
    if account_id == viewer.account_id and role not in roles_held_at(scope, place):
        return "You cannot grant yourself a role you do not already hold."
    return None


def require_may_grant(
    viewer: Viewer, *, role: Role, place: Place, account_id: int, verb: str = "grant"
) -> None:
    """``grant_refusal`` as FORBIDDEN (docs/mutations.md, step 3)."""
    refusal = grant_refusal(viewer, role=role, place=place, account_id=account_id, verb=verb)
    if refusal is not None:
        raise Forbidden(refusal)


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
