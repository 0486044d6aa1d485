"""Sessions and the accounts they belong to (the write side of sign-in)."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from permissions.roles import AccountKind
from resolvers.db import Db
from resolvers.tables import ACCOUNTS, SESSIONS, STAFF


def normalise_email(email: str) -> str:
    return email.strip().lower()


async def create_session(
    db: Db,
    *,
    account_id: int,
    now: dt.datetime,
    lifetime: dt.timedelta,
    client: str | None = None,
    family_id: str | None = None,
    refresh_token_hash: str | None = None,
) -> str:
    session_id = secrets.token_urlsafe(24)
    await db.execute(
        sa.insert(SESSIONS).values(
            id=session_id,
            account_id=account_id,
            family_id=family_id or secrets.token_urlsafe(24),
            refresh_token_hash=refresh_token_hash,
            created_at=now,
            last_used_at=now,
            expires_at=now + lifetime,
            client=client,
        )
    )
    return session_id


async def account_by_email(db: Db, email: str) -> Row[Any] | None:
    """The live account with this email (staff accounts first)."""
    return await db.first(
        sa.select(ACCOUNTS)
        .where(
            sa.func.lower(ACCOUNTS.c.email) == normalise_email(email),
            ACCOUNTS.c.revoked_at.is_(None),
        )
        .order_by(sa.case((ACCOUNTS.c.kind == AccountKind.STAFF, 0), else_=1), ACCOUNTS.c.id)
        .limit(1)
    )


async def staff_member_by_email(db: Db, email: str) -> Row[Any] | None:
    """An active staff record with this email; a deactivated one if no other."""
    return await db.first(
        sa.select(STAFF)
        .where(sa.func.lower(STAFF.c.email) == normalise_email(email))
        .order_by(STAFF.c.active.desc(), STAFF.c.id)
        .limit(1)
    )


async def create_staff_account(db: Db, staff: Row[Any], *, now: dt.datetime) -> int:
    """A STAFF account linked to its staff record, as a first sign-in makes.

    Accounts are linked automatically when their email equals a staff
    record's (docs/architecture.md section 2)."""
    result = await db.execute(
        sa.insert(ACCOUNTS)
        .values(
            kind=AccountKind.STAFF,
            email=normalise_email(staff.email),
            email_verified_at=now,
            display_name=f"{staff.given_name} {staff.family_name}",
            created_at=now,
            staff_member_id=staff.id,
        )
        .returning(ACCOUNTS.c.id)
    )
    return int(result.scalar_one())


async def record_login(db: Db, *, account_id: int, now: dt.datetime) -> None:
    await db.execute(
        sa.update(ACCOUNTS).where(ACCOUNTS.c.id == account_id).values(last_login_at=now)
    )
