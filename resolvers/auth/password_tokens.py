"""Emailed single-use links: set or reset a password, confirm a new address.

A token is 32 random bytes (URL-safe); only its SHA-256 is stored
(``password_tokens``), so a database leak yields no usable link. Purposes:

- ``PASSWORD``: the reset link (60 minutes by default) and the welcome
  link (7 days): both open ``/reset-password?token=…``.
- ``EMAIL``: confirms a new address (``new_email``) for a signed-in person.

A token works once, until it expires, and only while its account may get
links at all (``can_get_links``): not revoked, and for a student's own
login, only while the school has the login on. Setting a password (a reset
or a change) spends every other outstanding token of the account, so an old
link never outlives the password it was sent for; changing the address does
the same.

Nothing here commits: the HTTP route or mutation that calls it does.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.sql import ColumnElement, FromClause

from permissions.roles import AccountKind
from resolvers.auth.sessions import normalise_email
from resolvers.db import Db
from resolvers.tables import ACCOUNTS, GRANTS, SESSIONS, GrantSource
from resolvers.tables import PASSWORD_TOKENS as TOKENS

PASSWORD = "PASSWORD"  # noqa: S105  a purpose, not a secret
EMAIL = "EMAIL"

PASSWORD_CHANGED = "password changed"  # noqa: S105  a reason, not a secret
PASSWORD_RESET = "password reset"  # noqa: S105  a reason, not a secret
SIGNED_OUT_EVERYWHERE = "signed out everywhere"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def password_link(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/reset-password?{urlencode({'token': token})}"


def email_link(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/confirm-email?{urlencode({'token': token})}"


def can_get_links(account: FromClause = ACCOUNTS) -> ColumnElement[bool]:
    """Whether an account may be sent a link (and use one): not revoked,
    and a student's own login only while it is on (a live STUDENT_LOGIN
    grant to themself, which ``reconcile_student_logins`` keeps true)."""
    grant = GRANTS.alias("login_grant")
    login_on = sa.exists(
        sa.select(grant.c.id).where(
            grant.c.account_id == account.c.id,
            grant.c.student_id == account.c.student_id,
            grant.c.source == GrantSource.STUDENT_LOGIN,
            grant.c.revoked_at.is_(None),
        )
    )
    return sa.and_(
        account.c.revoked_at.is_(None),
        sa.or_(account.c.kind != AccountKind.STUDENT, login_on),
    )


async def account_for_links(db: Db, email: str) -> Row[Any] | None:
    """The account an address may be sent a link for: the live one with
    this email (a staff account first, as password sign-in picks)."""
    return await db.first(
        sa.select(ACCOUNTS)
        .where(sa.func.lower(ACCOUNTS.c.email) == normalise_email(email), can_get_links())
        .order_by(sa.case((ACCOUNTS.c.kind == AccountKind.STAFF, 0), else_=1), ACCOUNTS.c.id)
        .limit(1)
    )


async def accounts_that_get_links(db: Db, account_ids: Sequence[int]) -> set[int]:
    """Which of these accounts may be sent a link (one statement)."""
    if not account_ids:
        return set()
    rows = await db.all(
        sa.select(ACCOUNTS.c.id).where(ACCOUNTS.c.id.in_(sorted(set(account_ids))), can_get_links())
    )
    return {int(r.id) for r in rows}


async def issue(
    db: Db,
    account_ids: Sequence[int],
    *,
    purpose: str,
    now: dt.datetime,
    lifetime: dt.timedelta,
    new_email: str | None = None,
) -> dict[int, str]:
    """A fresh token for each account (one INSERT whatever their number)."""
    tokens = {account_id: secrets.token_urlsafe(32) for account_id in account_ids}
    if tokens:
        await db.execute(
            sa.insert(TOKENS).values(
                [
                    {
                        "token_hash": hash_token(token),
                        "account_id": account_id,
                        "purpose": purpose,
                        "new_email": new_email,
                        "created_at": now,
                        "expires_at": now + lifetime,
                    }
                    for account_id, token in tokens.items()
                ]
            )
        )
    return tokens


def _usable(token: str, purpose: str, now: dt.datetime) -> ColumnElement[bool]:
    return sa.and_(
        TOKENS.c.token_hash == hash_token(token),
        TOKENS.c.purpose == purpose,
        TOKENS.c.used_at.is_(None),
        TOKENS.c.expires_at > now,
    )


async def holder(db: Db, token: str, *, purpose: str, now: dt.datetime) -> Row[Any] | None:
    """The account a usable token belongs to (with the token's
    ``new_email``), or None: unknown, used, expired, or its account may not
    get links any more (revoked, a student's login turned off)."""
    if not token or len(token) > 200:
        return None
    # A student's link dies with the login it was sent for: one sent before
    # the login was turned off stays dead when it is turned on again.
    grant = GRANTS.alias("current_login")
    sent_during_this_login = sa.exists(
        sa.select(grant.c.id).where(
            grant.c.account_id == ACCOUNTS.c.id,
            grant.c.source == GrantSource.STUDENT_LOGIN,
            grant.c.revoked_at.is_(None),
            grant.c.granted_at <= TOKENS.c.created_at,
        )
    )
    return await db.first(
        sa.select(*ACCOUNTS.c, TOKENS.c.new_email)
        .join(TOKENS, TOKENS.c.account_id == ACCOUNTS.c.id)
        .where(
            _usable(token, purpose, now),
            can_get_links(),
            sa.or_(ACCOUNTS.c.kind != AccountKind.STUDENT, sent_during_this_login),
        )
    )


async def recently_sent(
    db: Db, account_ids: Sequence[int], *, purpose: str, since: dt.datetime
) -> set[int]:
    """The accounts among ``account_ids`` sent a link of ``purpose`` after
    ``since`` (one SELECT whatever the batch)."""
    if not account_ids:
        return set()
    found = await db.all(
        sa.select(TOKENS.c.account_id)
        .distinct()
        .where(
            TOKENS.c.account_id.in_(list(account_ids)),
            TOKENS.c.purpose == purpose,
            TOKENS.c.created_at > since,
        )
    )
    return {int(row.account_id) for row in found}


async def spend(db: Db, token: str, *, purpose: str, now: dt.datetime) -> bool:
    """Use the token: one conditional UPDATE, so two uses racing cannot both
    win. False when it was not usable any more."""
    result = await db.execute(
        sa.update(TOKENS).where(_usable(token, purpose, now)).values(used_at=now)
    )
    return result.rowcount == 1


async def spend_all(db: Db, *, account_id: int, now: dt.datetime) -> None:
    """Every outstanding link of the account stops working."""
    await db.execute(
        sa.update(TOKENS)
        .where(TOKENS.c.account_id == account_id, TOKENS.c.used_at.is_(None))
        .values(used_at=now)
    )


async def end_sessions(
    db: Db, *, account_id: int, now: dt.datetime, reason: str, keep_family: str | None = None
) -> int:
    """End the account's live sessions (but ``keep_family``'s, the device
    asking); how many ended. Access tokens name their session, which every
    request checks, so they stop working at once."""
    keep = [SESSIONS.c.family_id != keep_family] if keep_family is not None else []
    result = await db.execute(
        sa.update(SESSIONS)
        .where(SESSIONS.c.account_id == account_id, SESSIONS.c.revoked_at.is_(None), *keep)
        .values(revoked_at=now, revoked_reason=reason)
    )
    return int(result.rowcount or 0)


async def set_password(
    db: Db,
    *,
    account_id: int,
    password_hash: str,
    now: dt.datetime,
    reason: str,
    keep_family: str | None = None,
) -> int:
    """The new password: the address counts as verified (the link reached
    it, or the person is signed in), every outstanding link is spent and
    every session but ``keep_family``'s ends. How many sessions ended."""
    await db.execute(
        sa.update(ACCOUNTS)
        .where(ACCOUNTS.c.id == account_id)
        .values(
            password_hash=password_hash,
            email_verified_at=sa.func.coalesce(ACCOUNTS.c.email_verified_at, now),
        )
    )
    await spend_all(db, account_id=account_id, now=now)
    return await end_sessions(
        db, account_id=account_id, now=now, reason=reason, keep_family=keep_family
    )


async def email_taken(db: Db, email: str, *, other_than: int) -> bool:
    """Whether another live account signs in with this address."""
    found = await db.scalar(
        sa.select(ACCOUNTS.c.id)
        .where(
            sa.func.lower(ACCOUNTS.c.email) == normalise_email(email),
            ACCOUNTS.c.revoked_at.is_(None),
            ACCOUNTS.c.id != other_than,
        )
        .limit(1)
    )
    return found is not None


async def change_email(db: Db, *, account_id: int, new_email: str, now: dt.datetime) -> None:
    """The confirmed new address, verified; links sent to the old one die."""
    await db.execute(
        sa.update(ACCOUNTS)
        .where(ACCOUNTS.c.id == account_id)
        .values(email=normalise_email(new_email), email_verified_at=now)
    )
    await spend_all(db, account_id=account_id, now=now)
