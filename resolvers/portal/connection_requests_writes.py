"""Connection requests, the write side: the PIN flow (docs/architecture.md section 3).

Staff create a request for one person and one student. The PIN (four digits
from ``secrets``) is returned once and stored only as an argon2id hash; the
emailed link carries a single-use random token stored only as its SHA-256.
The requester signs in, opens the link and enters the PIN: five wrong PINs
lock the request, and it expires 30 days after it was made.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Row

from permissions.capabilities import Capability
from permissions.viewer import Viewer
from resolvers.db import Db
from resolvers.directory.students import students_by_id
from resolvers.events import Actor, Event, record
from resolvers.outbox import Email, enqueue
from resolvers.portal.access_writes import (
    account_is_restricted,
    active_grant,
    create_grant,
    lock_students,
)
from resolvers.portal.connection_requests import requests_in_scope
from resolvers.scope import custody_restricted
from resolvers.tables import (
    ACCOUNTS,
    CONNECTION_REQUESTS,
    DISTRICTS,
    SCHOOLS,
    STUDENTS,
    YEAR_GROUPS,
    AccessAction,
    ConnectionRequestStatus,
    EnrolmentStatus,
    GrantSource,
)
from resolvers.writes import Refusal, lock_rows, not_found, require

LIFETIME = dt.timedelta(days=30)
MAX_FAILED_PINS = 5
PIN_DIGITS = 4


# argon2id with OWASP's minimum cost (19 MiB, 2 passes, 1 lane): a 4-digit
# PIN is protected by the attempt limit and the lock, not by the hash's cost,
# and each PIN entry should not cost a 64 MiB hash of the server's CPU.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, type=Type.ID)
# One '@', no spaces, a dot in the domain: the address is then proven by the
# emailed token, not by this pattern.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")

INVALID_TOKEN = Refusal(
    "INVALID_TOKEN",
    "This activation link is not valid. Ask the school for a new one.",
    ("input", "token"),
)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_pin() -> str:
    return f"{secrets.randbelow(10**PIN_DIGITS):0{PIN_DIGITS}d}"


def _domain_is_districts(email: str, district_domains: str) -> bool:
    """The district's own domains, and their subdomains, are refused: a
    request must go to a personal address."""
    domain = email.rpartition("@")[2].lower()
    for own in district_domains.lower().split():
        own = own.strip(".").removeprefix("@")
        if own and (domain == own or domain.endswith("." + own)):
            return True
    return False


@dataclass(frozen=True, slots=True)
class NewRequest:
    for_student_self: bool
    email: str
    relationship: str | None = None
    individual_name: str | None = None


@dataclass(frozen=True, slots=True)
class Created:
    request: Row[Any] | None = None
    pin: str | None = None
    refusals: tuple[Refusal, ...] = ()


def _field(name: str) -> tuple[str, ...]:
    return ("input", name)


def _check(given: NewRequest) -> tuple[NewRequest, list[Refusal]]:
    """Normalise the input and refuse what is missing or malformed."""
    refusals: list[Refusal] = []
    email = given.email.strip().lower()
    relationship = (given.relationship or "").strip() or None
    name = (given.individual_name or "").strip() or None
    if not given.for_student_self:
        if relationship is None:
            refusals.append(
                Refusal(
                    "REQUIRED",
                    "Say how this person is related to the student.",
                    _field("relationship"),
                )
            )
        if name is None:
            refusals.append(
                Refusal("REQUIRED", "Give the person's name.", _field("individualName"))
            )
    if relationship is not None and len(relationship) > 64:
        refusals.append(
            Refusal(
                "TOO_LONG", "The relationship may be at most 64 characters.", _field("relationship")
            )
        )
    if name is not None and len(name) > 255:
        refusals.append(
            Refusal("TOO_LONG", "The name may be at most 255 characters.", _field("individualName"))
        )
    if len(email) > 320 or not _EMAIL.match(email):
        refusals.append(Refusal("INVALID_EMAIL", "This is not an email address.", _field("email")))
    return NewRequest(given.for_student_self, email, relationship, name), refusals


async def create_connection_request(
    db: Db,
    actor: Actor,
    *,
    student: Row[Any],
    given: NewRequest,
    now: dt.datetime,
    public_url: str,
) -> Created:
    checked, refusals = _check(given)
    if refusals:
        return Created(refusals=tuple(refusals))
    place = await db.first(
        sa.select(DISTRICTS.c.email_domains, SCHOOLS.c.name.label("school_name"))
        .select_from(SCHOOLS)
        .join(DISTRICTS, DISTRICTS.c.id == SCHOOLS.c.district_id)
        .where(SCHOOLS.c.id == student.school_id)
    )
    assert place is not None
    if _domain_is_districts(checked.email, place.email_domains):
        return Created(
            refusals=(
                Refusal(
                    "EMAIL_DOMAIN_NOT_ALLOWED",
                    "Use the person's own email address, not one of the district's.",
                    _field("email"),
                ),
            )
        )
    if await db.scalar(sa.select(custody_restricted(student.id, email=checked.email))):
        return Created(
            refusals=(
                Refusal(
                    "CONTACT_RESTRICTED",
                    "This address belongs to a contact who is restricted from this student.",
                    _field("email"),
                ),
            )
        )
    # Two requests made at once for one student queue here, so the second
    # sees the first and is refused.
    await lock_students(db, [student.id])
    waiting = await db.first(
        sa.select(CONNECTION_REQUESTS.c.id).where(
            CONNECTION_REQUESTS.c.student_id == student.id,
            sa.func.lower(CONNECTION_REQUESTS.c.email) == checked.email,
            CONNECTION_REQUESTS.c.status == ConnectionRequestStatus.WAITING_FOR_ACTIVATION,
            CONNECTION_REQUESTS.c.expires_at > now,
        )
    )
    if waiting is not None:
        return Created(
            refusals=(
                Refusal(
                    "REQUEST_ALREADY_WAITING",
                    "A request for this student and email is waiting for activation. "
                    "Delete it first to make a new one.",
                    _field("email"),
                ),
            )
        )

    pin = new_pin()
    token = secrets.token_urlsafe(32)
    pin_hash = await asyncio.to_thread(_HASHER.hash, pin)
    student_name = f"{student.given_name} {student.family_name}"
    request = await db.first(
        sa.insert(CONNECTION_REQUESTS)
        .values(
            district_id=student.district_id,
            student_id=student.id,
            for_student_self=checked.for_student_self,
            relationship=checked.relationship,
            individual_name=checked.individual_name or student_name,
            email=checked.email,
            pin_hash=pin_hash,
            token_hash=token_hash(token),
            status=ConnectionRequestStatus.WAITING_FOR_ACTIVATION,
            created_at=now,
            expires_at=now + LIFETIME,
            created_by_staff_id=actor.staff_member_id,
        )
        .returning(*CONNECTION_REQUESTS.c)
    )
    assert request is not None
    link = f"{public_url.rstrip('/')}/activate?token={token}"
    await enqueue(
        db,
        [
            Email(
                to_address=checked.email,
                subject=f"Activate your access to {student.given_name}'s information - do not delete",
                body=_activation_body(
                    name=request.individual_name,
                    student_name=student_name,
                    school_name=place.school_name,
                    link=link,
                    expires_at=request.expires_at,
                ),
                kind="CONNECTION_ACTIVATION",
            )
        ],
        now=now,
    )
    await record(
        db,
        actor,
        [
            Event(
                student.district_id,
                AccessAction.CONNECTION_REQUEST_CREATED,
                student_id=student.id,
                detail=f"connection request {request.id}",
            )
        ],
        at=now,
    )
    return Created(request=request, pin=pin)


def _activation_body(
    *, name: str, student_name: str, school_name: str, link: str, expires_at: dt.datetime
) -> str:
    return (
        f"Hello {name},\n\n"
        f"{school_name} has set up access for you to {student_name}'s information.\n\n"
        f"1. Open this link: {link}\n"
        "2. Sign in, or create an account (a password, Google or Microsoft).\n"
        "3. Enter the 4-digit PIN the school gave you.\n\n"
        f"The link works once and expires on {expires_at:%d %B %Y}. If you did not expect "
        "this email, ignore it: nothing happens without the PIN.\n"
    )


async def request_for_write(
    db: Db, viewer: Viewer, request_id: int | None, *, field: tuple[str, ...]
) -> tuple[Row[Any] | None, list[Refusal]]:
    """The request, if in the viewer's scope (else NOT_FOUND); Forbidden
    without MANAGE_ACCESS_CODES for its student."""
    found = (
        (await requests_in_scope(db, viewer, [request_id]))[0] if request_id is not None else None
    )
    if found is None:
        return None, [not_found("connection request", field)]
    student = (await students_by_id(db, [found.student_id]))[0]
    assert student is not None
    held = viewer.scope.student_capabilities(
        student_id=student.id, school_id=student.school_id, district_id=student.district_id
    )
    require(
        Capability.MANAGE_ACCESS_CODES in held, "Your role does not allow this for this student."
    )
    return found, []


async def delete_connection_request(
    db: Db, actor: Actor, *, request: Row[Any], now: dt.datetime
) -> tuple[Row[Any] | None, Refusal | None]:
    """DELETED, so that a new request for the same email may be made. An
    activated request is refused (revoke the grant instead); deleting a
    deleted one changes nothing."""
    locked = await lock_rows(
        db,
        CONNECTION_REQUESTS,
        CONNECTION_REQUESTS.c.id == request.id,
        touch=CONNECTION_REQUESTS.c.status,
    )
    current = locked[0]
    if current.status == ConnectionRequestStatus.ACTIVATED:
        return None, Refusal(
            "REQUEST_ALREADY_ACTIVATED",
            "This request was activated; revoke the access it gave instead.",
            ("input", "requestId"),
        )
    if current.status == ConnectionRequestStatus.DELETED:
        return current, None
    deleted = await db.first(
        sa.update(CONNECTION_REQUESTS)
        .where(CONNECTION_REQUESTS.c.id == current.id)
        .values(status=ConnectionRequestStatus.DELETED, deleted_at=now)
        .returning(*CONNECTION_REQUESTS.c)
    )
    await record(
        db,
        actor,
        [
            Event(
                current.district_id,
                AccessAction.CONNECTION_REQUEST_DELETED,
                student_id=current.student_id,
                detail=f"connection request {current.id}",
            )
        ],
        at=now,
    )
    return deleted, None


@dataclass(frozen=True, slots=True)
class Activation:
    grant: Row[Any] | None = None
    refusal: Refusal | None = None


STUDENT_LOGINS_OFF = Refusal(
    "STUDENT_LOGINS_OFF",
    "Student logins are turned off for this student. Ask the school to turn them on, "
    "then use this link again.",
    ("input", "token"),
)


async def _logins_on_for(db: Db, student_id: int) -> bool:
    """Student logins are on for the student: enrolled, in a year group with
    logins on, at a school with logins on (the self relation's condition)."""
    found = await db.scalar(
        sa.select(STUDENTS.c.id)
        .join(SCHOOLS, SCHOOLS.c.id == STUDENTS.c.school_id)
        .join(YEAR_GROUPS, YEAR_GROUPS.c.id == STUDENTS.c.year_group_id)
        .where(
            STUDENTS.c.id == student_id,
            STUDENTS.c.status == EnrolmentStatus.ENROLLED,
            SCHOOLS.c.student_logins_enabled,
            YEAR_GROUPS.c.student_logins_enabled,
        )
    )
    return found is not None


def _pin_matches(pin_hash: str, pin: str) -> bool:
    try:
        return _HASHER.verify(pin_hash, pin)
    except (VerificationError, InvalidHashError):
        return False


async def activate_connection(
    db: Db, viewer: Viewer, *, token: str, pin: str, now: dt.datetime
) -> Activation:
    """Check the token (and that the viewer's verified email is the
    request's), then the PIN; make the grant.

    Wrong PINs are counted here and kept (the caller commits whatever the
    outcome); the fifth locks the request. A contact restricted from the
    student gets the answer an unknown link gets, before the PIN is tried.
    """
    assert viewer.account_id is not None
    # Only the account whose verified email is the request's may try: to
    # anyone else holding the link (forwarded, seen over a shoulder) it is
    # an unknown link, and their wrong PINs cannot lock it.
    addressee = sa.exists(
        sa.select(ACCOUNTS.c.id).where(
            ACCOUNTS.c.id == viewer.account_id,
            ACCOUNTS.c.email_verified_at.is_not(None),
            sa.func.lower(ACCOUNTS.c.email) == sa.func.lower(CONNECTION_REQUESTS.c.email),
        )
    )
    locked = await lock_rows(
        db,
        CONNECTION_REQUESTS,
        sa.and_(CONNECTION_REQUESTS.c.token_hash == token_hash(token.strip()), addressee),
        touch=CONNECTION_REQUESTS.c.status,
    )
    if not locked or locked[0].status in {
        ConnectionRequestStatus.DELETED,
        ConnectionRequestStatus.ACTIVATED,
    }:
        return Activation(refusal=INVALID_TOKEN)
    request = locked[0]
    if request.locked_at is not None:
        return Activation(
            refusal=Refusal(
                "REQUEST_LOCKED",
                "Too many wrong PINs were entered; this request is locked. "
                "Ask the school for a new one.",
                ("input", "pin"),
            )
        )
    if request.status == ConnectionRequestStatus.REQUEST_EXPIRED or request.expires_at <= now:
        return Activation(
            refusal=Refusal(
                "REQUEST_EXPIRED",
                "This request has expired. Ask the school for a new one.",
                ("input", "token"),
            )
        )
    if await account_is_restricted(db, account_id=viewer.account_id, student_id=request.student_id):
        return Activation(refusal=INVALID_TOKEN)
    if request.for_student_self and not await _logins_on_for(db, request.student_id):
        return Activation(refusal=STUDENT_LOGINS_OFF)

    actor = Actor.of(viewer)
    if not await asyncio.to_thread(_pin_matches, request.pin_hash, pin.strip()):
        failed = request.failed_pin_attempts + 1
        now_locked = failed >= MAX_FAILED_PINS
        await db.execute(
            sa.update(CONNECTION_REQUESTS)
            .where(CONNECTION_REQUESTS.c.id == request.id)
            .values(failed_pin_attempts=failed, locked_at=now if now_locked else None)
        )
        if now_locked:
            await record(
                db,
                actor,
                [
                    Event(
                        request.district_id,
                        AccessAction.CONNECTION_REQUEST_LOCKED,
                        student_id=request.student_id,
                        detail=f"connection request {request.id}: {failed} wrong PINs",
                    )
                ],
                at=now,
            )
        left = MAX_FAILED_PINS - failed
        message = (
            f"The PIN is not correct. {left} more {'try' if left == 1 else 'tries'} "
            "before this request locks."
            if left
            else "The PIN is not correct. This request is now locked; ask the school for a new one."
        )
        return Activation(refusal=Refusal("PIN_INCORRECT", message, ("input", "pin")))

    await db.execute(
        sa.update(CONNECTION_REQUESTS)
        .where(CONNECTION_REQUESTS.c.id == request.id)
        .values(
            status=ConnectionRequestStatus.ACTIVATED,
            activated_at=now,
            activated_account_id=viewer.account_id,
        )
    )
    activated = Event(
        request.district_id,
        AccessAction.CONNECTION_REQUEST_ACTIVATED,
        student_id=request.student_id,
        detail=f"connection request {request.id} by account {viewer.account_id}",
    )
    if request.for_student_self:
        # The student's own login (docs/architecture.md section 3): the
        # account is the student's, and reaches the record through the self
        # relation, under the school's student-login settings, never
        # through the guardian row (resolvers.viewers).
        await db.execute(
            sa.update(ACCOUNTS)
            .where(ACCOUNTS.c.id == viewer.account_id, ACCOUNTS.c.student_id.is_(None))
            .values(student_id=request.student_id)
        )
    existing = await active_grant(db, account_id=viewer.account_id, student_id=request.student_id)
    if existing is not None:
        await record(db, actor, [activated], at=now)
        return Activation(grant=existing)
    grant = await create_grant(
        db,
        actor,
        district_id=request.district_id,
        account_id=viewer.account_id,
        student_id=request.student_id,
        source=GrantSource.CONNECTION_REQUEST,
        relationship=request.relationship or ("Self" if request.for_student_self else None),
        connection_request_id=request.id,
        now=now,
        extra_events=[activated],
    )
    return Activation(grant=grant)
