"""Sign-in data: password accounts, OIDC identities, refresh-token sessions.

Refresh tokens are opaque random strings; only their SHA-256 is stored
(``sessions.refresh_token_hash``, unique), so a database leak yields no
usable token. Each refresh rotates: the presented row is revoked with reason
``rotated`` and a new row of the same family takes its place, keeping the
family's original expiry. A rotated token presented again means two parties
hold it (the owner and a thief); the whole family ends, whoever asked.

Except within a short grace window after its rotation: two tabs of one SPA
(sharing the cookie) or two threads of one app refresh at the same moment,
and the slower one presents the token the faster one just rotated. That
answer is ``REFRESH_RACED``: no token is issued (a thief gains nothing), the
family lives on, and the client retries with the token it now holds.

Nothing here commits: the HTTP route or mutation that calls it does.
"""

from __future__ import annotations

import base64
import datetime as dt
import enum
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from permissions.roles import AccountKind
from resolvers.auth import sessions
from resolvers.auth.sessions import normalise_email
from resolvers.db import Db
from resolvers.tables import (
    ACCOUNT_IDENTITIES,
    ACCOUNTS,
    AUTH_HANDOFFS,
    DISTRICTS,
    GRANTS,
    GUARDIANS,
    ROLE_GRANTS,
    SESSIONS,
    STAFF_SCHOOLS,
    STUDENTS,
)

ROTATED = "rotated"
REUSED = "refresh token reused"
LOGGED_OUT = "logout"


# ---------------------------------------------------------------- sessions


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedSession:
    account_id: int
    session_id: str
    refresh_token: str
    expires_at: dt.datetime


async def start_session(
    db: Db,
    *,
    account_id: int,
    now: dt.datetime,
    lifetime: dt.timedelta,
    client: str | None,
) -> IssuedSession:
    """A new session family: a first sign-in on a device."""
    refresh_token = secrets.token_urlsafe(32)
    session_id = await sessions.create_session(
        db,
        account_id=account_id,
        now=now,
        lifetime=lifetime,
        client=client,
        refresh_token_hash=hash_refresh_token(refresh_token),
    )
    await sessions.record_login(db, account_id=account_id, now=now)
    return IssuedSession(account_id, session_id, refresh_token, now + lifetime)


async def session_by_refresh_token(db: Db, refresh_token: str) -> Row[Any] | None:
    """The session row a refresh token names, live or not, with whether its
    account's credentials were revoked."""
    return await db.first(
        sa.select(*SESSIONS.c, ACCOUNTS.c.revoked_at.label("account_revoked_at"))
        .join(ACCOUNTS, ACCOUNTS.c.id == SESSIONS.c.account_id)
        .where(SESSIONS.c.refresh_token_hash == hash_refresh_token(refresh_token))
    )


class RefreshRefusal(enum.Enum):
    # Unknown token, or a session that ended (logout, termination, expiry).
    SESSION_ENDED = "SESSION_ENDED"
    # An already rotated token came back: its family is ended.
    REFRESH_TOKEN_REUSED = "REFRESH_TOKEN_REUSED"  # noqa: S105  a code, not a secret
    # The token was rotated moments ago by a concurrent refresh of the same
    # client: nothing issued, nothing ended; retry with the newer token.
    REFRESH_RACED = "REFRESH_RACED"


async def rotate(
    db: Db,
    row: Row[Any],
    *,
    now: dt.datetime,
    client: str | None,
    grace: dt.timedelta = dt.timedelta(0),
) -> IssuedSession | RefreshRefusal:
    """Exchange the session ``row`` (from ``session_by_refresh_token``) for
    a new one of the same family, or refuse. A token rotated no more than
    ``grace`` ago is a race between the client's own requests, not a reuse."""
    if row.revoked_at is not None:
        if row.revoked_reason == ROTATED:
            if now - row.revoked_at <= grace:
                return RefreshRefusal.REFRESH_RACED
            await end_family(db, family_id=row.family_id, now=now, reason=REUSED)
            return RefreshRefusal.REFRESH_TOKEN_REUSED
        return RefreshRefusal.SESSION_ENDED
    if row.expires_at <= now or row.account_revoked_at is not None:
        return RefreshRefusal.SESSION_ENDED
    # Conditional, so that two refreshes racing with one token cannot both
    # rotate it: the loser sees no row changed. Within the grace window that
    # is the client racing itself; without one, it is treated as a reuse.
    claimed = await db.execute(
        sa.update(SESSIONS)
        .where(SESSIONS.c.id == row.id, SESSIONS.c.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=ROTATED, last_used_at=now)
    )
    if claimed.rowcount != 1:
        if grace > dt.timedelta(0):
            return RefreshRefusal.REFRESH_RACED
        await end_family(db, family_id=row.family_id, now=now, reason=REUSED)
        return RefreshRefusal.REFRESH_TOKEN_REUSED
    refresh_token = secrets.token_urlsafe(32)
    # The family keeps its first expiry: rotation proves possession, not a
    # fresh sign-in, so a stolen token cannot be stretched forever.
    session_id = await sessions.create_session(
        db,
        account_id=row.account_id,
        now=now,
        lifetime=row.expires_at - now,
        client=client or row.client,
        family_id=row.family_id,
        refresh_token_hash=hash_refresh_token(refresh_token),
    )
    return IssuedSession(row.account_id, session_id, refresh_token, row.expires_at)


# ---------------------------------------------------------------- native apps


HANDOFF_LIFETIME = dt.timedelta(seconds=60)


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256: BASE64URL(SHA256(verifier)), unpadded."""
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


async def create_handoff(
    db: Db, *, account_id: int, code_challenge: str, now: dt.datetime, client: str | None
) -> str:
    """A one-time code that the native app exchanges, with the verifier of
    ``code_challenge``, for a session (``redeem_handoff``)."""
    code = secrets.token_urlsafe(32)
    await db.execute(
        sa.insert(AUTH_HANDOFFS).values(
            code_hash=hash_refresh_token(code),
            account_id=account_id,
            code_challenge=code_challenge,
            client=client,
            created_at=now,
            expires_at=now + HANDOFF_LIFETIME,
        )
    )
    return code


async def redeem_handoff(db: Db, *, code: str, verifier: str, now: dt.datetime) -> int | None:
    """The account a hand-off code signs in, or None. The code is spent by
    the first attempt, right or wrong (one conditional UPDATE, so two
    exchanges cannot both win): someone who intercepted it without the
    verifier destroys it and gains nothing."""
    spent = await db.first(
        sa.update(AUTH_HANDOFFS)
        .where(
            AUTH_HANDOFFS.c.code_hash == hash_refresh_token(code),
            AUTH_HANDOFFS.c.used_at.is_(None),
            AUTH_HANDOFFS.c.expires_at > now,
        )
        .values(used_at=now)
        .returning(AUTH_HANDOFFS.c.account_id, AUTH_HANDOFFS.c.code_challenge)
    )
    if spent is None:
        return None
    if not hmac.compare_digest(pkce_challenge(verifier).encode(), spent.code_challenge.encode()):
        return None
    return int(spent.account_id)


async def end_family(db: Db, *, family_id: str, now: dt.datetime, reason: str) -> int:
    """End every live session of one device's family; how many ended."""
    result = await db.execute(
        sa.update(SESSIONS)
        .where(SESSIONS.c.family_id == family_id, SESSIONS.c.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
    )
    return int(result.rowcount)


async def family_of_session(db: Db, session_id: str) -> str | None:
    value = await db.scalar(sa.select(SESSIONS.c.family_id).where(SESSIONS.c.id == session_id))
    return str(value) if value is not None else None


async def end_account_sessions(db: Db, *, account_id: int, now: dt.datetime, reason: str) -> int:
    """End every live session of an account now; how many were live.

    Access tokens name their session, which ``load_viewer`` checks on every
    request, so they stop working on their next request."""
    result = await db.execute(
        sa.update(SESSIONS)
        .where(
            SESSIONS.c.account_id == account_id,
            SESSIONS.c.revoked_at.is_(None),
            SESSIONS.c.expires_at > now,
        )
        .values(revoked_at=now, revoked_reason=reason[:255])
    )
    return int(result.rowcount)


# ---------------------------------------------------------------- accounts


async def password_account_by_email(db: Db, email: str) -> Row[Any] | None:
    """The live account that signs in with this email and a password."""
    return await db.first(
        sa.select(ACCOUNTS)
        .where(
            sa.func.lower(ACCOUNTS.c.email) == normalise_email(email),
            ACCOUNTS.c.revoked_at.is_(None),
            ACCOUNTS.c.password_hash.is_not(None),
        )
        .order_by(sa.case((ACCOUNTS.c.kind == AccountKind.STAFF, 0), else_=1), ACCOUNTS.c.id)
        .limit(1)
    )


async def account_by_id(db: Db, account_id: int) -> Row[Any] | None:
    return await db.first(sa.select(ACCOUNTS).where(ACCOUNTS.c.id == account_id))


async def set_password_hash(db: Db, *, account_id: int, password_hash: str) -> None:
    await db.execute(
        sa.update(ACCOUNTS).where(ACCOUNTS.c.id == account_id).values(password_hash=password_hash)
    )


def email_domain(email: str) -> str:
    return normalise_email(email).rpartition("@")[2]


async def is_district_domain(db: Db, email: str) -> bool:
    """Whether the email is at one of a district's own domains (the
    ``metadata.emailDomains`` of the SIS): the address of a district's staff."""
    domain = email_domain(email)
    if not domain:
        return False
    padded = sa.literal(" ") + sa.func.lower(DISTRICTS.c.email_domains) + sa.literal(" ")
    found = await db.scalar(
        sa.select(DISTRICTS.c.id).where(padded.contains(f" {domain} ", autoescape=True)).limit(1)
    )
    return found is not None


async def active_staff_member_by_email(db: Db, email: str) -> Row[Any] | None:
    staff = await sessions.staff_member_by_email(db, email)
    return staff if staff is not None and staff.active else None


async def link_staff_by_email(db: Db, account: Row[Any]) -> int | None:
    """Automatic linking (docs/architecture.md section 2): an unlinked STAFF account whose verified
    email equals an active staff record's records data as that record.
    Returns the staff member id when a link was made.

    A verified email means the mailbox owner set the account's credentials:
    every path that verifies an address proves both (the sign-up link asks
    for the sign-up's password, a new address needs the account signed in,
    a reset link or a vouching provider first drops the credentials others
    may have chosen: ``forget_unproven_credentials``)."""
    if (
        account.kind != AccountKind.STAFF
        or account.staff_member_id is not None
        or account.email is None
        or account.email_verified_at is None
    ):
        return None
    staff = await active_staff_member_by_email(db, account.email)
    if staff is None:
        return None
    await db.execute(
        sa.update(ACCOUNTS)
        .where(ACCOUNTS.c.id == account.id, ACCOUNTS.c.staff_member_id.is_(None))
        .values(staff_member_id=staff.id)
    )
    return int(staff.id)


async def link_contact_by_email(db: Db, account: Row[Any]) -> int | None:
    """An unlinked account whose verified email is a contact record's is
    that contact's (docs/architecture.md section 3): what the SIS records
    about the person, a custody restriction above all, binds whatever
    account they made. The lowest-numbered matching record is linked; the
    custody check also matches every record by email
    (``resolvers.scope.account_restricted_from``). Returns the guardian id
    when a link was made."""
    if (
        account.kind == "STUDENT"
        or account.guardian_id is not None
        or account.email is None
        or account.email_verified_at is None
    ):
        return None
    guardian_id = await db.scalar(
        sa.select(GUARDIANS.c.id)
        .where(sa.func.lower(sa.func.trim(GUARDIANS.c.email)) == normalise_email(account.email))
        .order_by(GUARDIANS.c.id)
        .limit(1)
    )
    if guardian_id is None:
        return None
    await db.execute(
        sa.update(ACCOUNTS)
        .where(ACCOUNTS.c.id == account.id, ACCOUNTS.c.guardian_id.is_(None))
        .values(guardian_id=guardian_id)
    )
    return int(guardian_id)


async def link_by_verified_email(db: Db, account: Row[Any]) -> None:
    """Every link a verified email makes: to a staff record, to a contact
    record. Run on verification and on each sign-in. Safe because a
    verified email means its mailbox owner set the account's credentials
    (``link_staff_by_email``)."""
    await link_staff_by_email(db, account)
    await link_contact_by_email(db, account)


async def kind_for_new_account(db: Db, email: str | None) -> str:
    """STAFF for the address of a staff record or at a district's own
    domain; GUARDIAN for everyone else (parents sign up with personal mail)."""
    if email is None:
        return AccountKind.GUARDIAN
    if await active_staff_member_by_email(db, email) is not None:
        return AccountKind.STAFF
    return AccountKind.STAFF if await is_district_domain(db, email) else AccountKind.GUARDIAN


# ---------------------------------------------------------------- password sign-up


class SignUp(enum.Enum):
    # A new account waits for its email to be verified.
    CREATED = "CREATED"
    # A live account has this email, verified or not: nothing changes (a
    # sign-up never replaces credentials), and its holder is told by email
    # (never the caller).
    EXISTING = "EXISTING"


@dataclass(frozen=True, slots=True)
class SignUpOutcome:
    result: SignUp
    account_id: int


async def sign_up(
    db: Db, *, email: str, display_name: str, password_hash: str, now: dt.datetime
) -> SignUpOutcome:
    """A new account for an address no live account has. An address that
    has one, even a pending sign-up, is never given this password: whoever
    owns the mailbox would otherwise confirm a password someone else chose
    (docs/adr/0010); the route mails the holder a set-password link."""
    email = normalise_email(email)
    existing = await db.first(
        sa.select(ACCOUNTS.c.id)
        .where(sa.func.lower(ACCOUNTS.c.email) == email, ACCOUNTS.c.revoked_at.is_(None))
        .order_by(ACCOUNTS.c.id)
        .limit(1)
    )
    if existing is not None:
        return SignUpOutcome(SignUp.EXISTING, int(existing.id))
    result = await db.execute(
        sa.insert(ACCOUNTS)
        .values(
            kind=await kind_for_new_account(db, email),
            email=email,
            display_name=display_name,
            password_hash=password_hash,
            created_at=now,
        )
        .returning(ACCOUNTS.c.id)
    )
    return SignUpOutcome(SignUp.CREATED, int(result.scalar_one()))


UNPROVEN = "address proven by its owner"


async def forget_unproven_credentials(db: Db, account: Row[Any], *, now: dt.datetime) -> None:
    """Before an unverified address is proven by its mailbox alone (a reset
    or welcome link, a provider vouching for it): the credentials on the
    account were chosen by whoever typed the address (a sign-up's password,
    an identity from a provider that did not vouch for it), not necessarily
    its owner, so they stop working and every session ends. Without this,
    the owner's click would hand the account, and any staff record or
    contact its address links, to that person. Nothing happens to an
    account whose address was verified already."""
    if account.email_verified_at is not None:
        return
    await db.execute(
        sa.update(ACCOUNTS).where(ACCOUNTS.c.id == account.id).values(password_hash=None)
    )
    await db.execute(
        sa.delete(ACCOUNT_IDENTITIES).where(ACCOUNT_IDENTITIES.c.account_id == account.id)
    )
    await end_account_sessions(db, account_id=int(account.id), now=now, reason=UNPROVEN)


async def mark_email_verified(db: Db, *, account_id: int, now: dt.datetime) -> bool:
    """Single use: only the first verification changes the row."""
    result = await db.execute(
        sa.update(ACCOUNTS)
        .where(
            ACCOUNTS.c.id == account_id,
            ACCOUNTS.c.email_verified_at.is_(None),
            ACCOUNTS.c.revoked_at.is_(None),
        )
        .values(email_verified_at=now)
    )
    return result.rowcount == 1


# ---------------------------------------------------------------- OIDC identities


@dataclass(frozen=True, slots=True)
class Identity:
    """What a verified ID token says about the person."""

    issuer: str
    subject: str
    email: str | None
    # The provider vouches for the email (verified, or managed by an
    # allowed organisation): only then may it link a staff record.
    email_trusted: bool
    display_name: str


class IdentityRefusal(enum.Enum):
    ACCOUNT_REVOKED = "ACCOUNT_REVOKED"


@dataclass(frozen=True, slots=True)
class IdentitySignIn:
    account_id: int
    created: bool


async def sign_in_with_identity(
    db: Db, identity: Identity, *, now: dt.datetime
) -> IdentitySignIn | IdentityRefusal:
    """The account of an OIDC identity, keyed by (issuer, subject). At its
    first sign-in, an address the provider vouches for joins the live
    account that has it (any kind: one account per person), and is refused
    when only revoked accounts have it; otherwise a trusted email that
    equals an active staff record's gets a STAFF account linked to it, and
    anyone else a new account."""
    known = await db.first(
        sa.select(ACCOUNTS)
        .join(ACCOUNT_IDENTITIES, ACCOUNT_IDENTITIES.c.account_id == ACCOUNTS.c.id)
        .where(
            ACCOUNT_IDENTITIES.c.issuer == identity.issuer,
            ACCOUNT_IDENTITIES.c.subject == identity.subject,
        )
    )
    if known is not None:
        if known.revoked_at is not None:
            return IdentityRefusal.ACCOUNT_REVOKED
        await link_by_verified_email(db, known)
        return IdentitySignIn(int(known.id), created=False)

    trusted_email = (
        normalise_email(identity.email) if identity.email_trusted and identity.email else None
    )
    if trusted_email is not None:
        # One account per person: a provider that vouches for the address
        # signs in to the account that already has it (a provisioned parent,
        # a student login, a staff account), which gains this identity.
        existing = await sessions.account_by_email(db, trusted_email)
        if existing is not None:
            await _join(db, existing, identity, now=now)
            return IdentitySignIn(int(existing.id), created=False)
        if await _only_revoked_accounts_have(db, trusted_email):
            return IdentityRefusal.ACCOUNT_REVOKED
    account_id: int | None = None
    created = True
    staff = await active_staff_member_by_email(db, trusted_email) if trusted_email else None
    if staff is not None:
        # The same person may already have the STAFF account of this record
        # (another provider, the dev token command): the identity joins it.
        same_person = await db.scalar(
            sa.select(ACCOUNTS.c.id)
            .where(
                ACCOUNTS.c.staff_member_id == staff.id,
                ACCOUNTS.c.kind == AccountKind.STAFF,
                ACCOUNTS.c.revoked_at.is_(None),
                sa.func.lower(ACCOUNTS.c.email) == trusted_email,
            )
            .order_by(ACCOUNTS.c.id)
            .limit(1)
        )
        if same_person is not None:
            account_id, created = int(same_person), False
        else:
            account_id = await sessions.create_staff_account(db, staff, now=now)
    if account_id is None:
        email = normalise_email(identity.email) if identity.email else None
        result = await db.execute(
            sa.insert(ACCOUNTS)
            .values(
                kind=await kind_for_new_account(db, trusted_email),
                email=email,
                email_verified_at=now if trusted_email else None,
                display_name=identity.display_name[:255],
                created_at=now,
            )
            .returning(ACCOUNTS.c.id)
        )
        account_id = int(result.scalar_one())
    await db.execute(
        sa.insert(ACCOUNT_IDENTITIES).values(
            account_id=account_id,
            issuer=identity.issuer,
            subject=identity.subject,
            email=identity.email,
            created_at=now,
        )
    )
    made = await account_by_id(db, account_id)
    assert made is not None
    await link_contact_by_email(db, made)
    return IdentitySignIn(account_id, created=created)


async def _join(db: Db, account: Row[Any], identity: Identity, *, now: dt.datetime) -> None:
    """The identity becomes another way into ``account``, whose address the
    provider has just vouched for. A password or identity someone put on an
    unverified account stops working: the provider proved the mailbox, not
    who chose them."""
    await forget_unproven_credentials(db, account, now=now)
    await db.execute(
        sa.insert(ACCOUNT_IDENTITIES).values(
            account_id=account.id,
            issuer=identity.issuer,
            subject=identity.subject,
            email=identity.email,
            created_at=now,
        )
    )
    if account.email_verified_at is None:
        # Nobody had proved the address until now, so a password already on
        # the account was chosen by someone who may not own it (a sign-up
        # left unconfirmed, waiting for the owner to arrive): it goes, or
        # its author would sign in to the owner's account.
        await db.execute(
            sa.update(ACCOUNTS)
            .where(ACCOUNTS.c.id == account.id)
            .values(email_verified_at=now, password_hash=None)
        )
    joined = await account_by_id(db, int(account.id))
    assert joined is not None
    await link_by_verified_email(db, joined)


async def _only_revoked_accounts_have(db: Db, email: str) -> bool:
    """Whether the address belongs to accounts that were all revoked: its
    person's access was taken away, and a new sign-in must not undo that."""
    found = await db.scalar(
        sa.select(ACCOUNTS.c.id)
        .where(sa.func.lower(ACCOUNTS.c.email) == email, ACCOUNTS.c.revoked_at.is_not(None))
        .limit(1)
    )
    return found is not None


# ---------------------------------------------------------------- termination


@dataclass(frozen=True, slots=True)
class AccountPlace:
    """Somewhere an account reaches: a student it holds a current grant to,
    a school its staff record works at, or a place of one of its roles."""

    district_id: int
    school_id: int | None
    student_id: int | None


async def places_of_account(db: Db, account_id: int) -> list[AccountPlace]:
    granted = (
        sa.select(STUDENTS.c.district_id, STUDENTS.c.school_id, STUDENTS.c.id.label("student_id"))
        .join(GRANTS, GRANTS.c.student_id == STUDENTS.c.id)
        .where(GRANTS.c.account_id == account_id, GRANTS.c.revoked_at.is_(None))
    )
    works_at = (
        sa.select(
            STAFF_SCHOOLS.c.district_id,
            STAFF_SCHOOLS.c.school_id,
            sa.cast(sa.null(), sa.Integer).label("student_id"),
        )
        .join(ACCOUNTS, ACCOUNTS.c.staff_member_id == STAFF_SCHOOLS.c.staff_member_id)
        .where(ACCOUNTS.c.id == account_id)
    )
    holds_role = sa.select(
        ROLE_GRANTS.c.district_id,
        ROLE_GRANTS.c.school_id,
        sa.cast(sa.null(), sa.Integer).label("student_id"),
    ).where(ROLE_GRANTS.c.account_id == account_id)
    union = sa.union(granted, works_at, holds_role).subquery()
    rows = await db.all(
        sa.select(union).order_by(union.c.district_id, union.c.school_id, union.c.student_id)
    )
    return [AccountPlace(r.district_id, r.school_id, r.student_id) for r in rows]
