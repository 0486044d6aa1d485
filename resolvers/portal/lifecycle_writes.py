"""Account lifecycle, the write side: provision, revoke, welcome (docs/architecture.md section 3).

Portal status is derived in ``resolvers.lifecycle``; these are the bulk
actions on it. Every statement works on the whole input at once (IN lists,
multi-row INSERTs), so a batch of 500 costs what a batch of 5 costs.

Who may act on an account: it must be in the actor's scope (else NOT_FOUND),
and the actor must hold ACCOUNT_LIFECYCLE over something that ties the
account to the district: a student it holds a grant to, a student of its
contact record, its staff record's schools, its roles. Removing credentials
needs more (docs/architecture.md section 1): every student the account holds, and every school or
district its staff roles reach, must be covered, since the account is global
and a school must not cut off another school's families. When they are not,
revoking ends only the grants the actor covers, and the answer is the same
as for any account (docs/adr/0011: nothing says what lies outside).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from permissions.capabilities import Capability
from permissions.errors import Forbidden
from permissions.roles import AccountKind
from permissions.scope import Scope
from permissions.viewer import Viewer
from resolvers.auth import password_tokens
from resolvers.auth.welcome import welcome_emails
from resolvers.db import Db
from resolvers.directory.accounts import accounts_by_id, accounts_in_scope
from resolvers.directory.guardians import guardians_in_scope
from resolvers.directory.students import student_refs_by_guardian_id
from resolvers.events import Actor, Event, record
from resolvers.outbox import enqueue
from resolvers.portal.lifecycle import PortalStatus, guardian_eligible, status_of
from resolvers.scope import custody_restricted
from resolvers.tables import (
    ACCOUNTS,
    CONTACTS,
    GRANTS,
    GUARDIANS,
    ROLE_GRANTS,
    SESSIONS,
    STAFF,
    STAFF_SCHOOLS,
    STUDENTS,
    AccessAction,
    EnrolmentStatus,
    GrantSource,
)
from resolvers.writes import Refusal, lock_rows, not_found

REVOKED_WITH_ACCOUNT = "Account revoked"

LIFECYCLE = Capability.ACCOUNT_LIFECYCLE
DEFAULT_WELCOME_LIFETIME = dt.timedelta(days=7)


# ---------------------------------------------------------------- who may act


@dataclass(frozen=True, slots=True)
class Target:
    """An account the actor may act on, and the district it acts in (for
    the audit trail of an account that holds no student)."""

    row: Row[Any]
    district_id: int
    index: int
    # False when the account also holds something outside the actor's
    # coverage: revoking it then ends only ``covered_student_ids``' grants
    # (docs/adr/0011).
    whole: bool = True
    covered_student_ids: tuple[int, ...] = ()


def _covered(scope: Scope, tie: Row[Any]) -> bool:
    if tie.student_id is not None:
        held = scope.student_capabilities(
            student_id=tie.student_id, school_id=tie.school_id, district_id=tie.district_id
        )
    elif tie.school_id is not None:
        held = scope.school_capabilities(school_id=tie.school_id, district_id=tie.district_id)
    else:
        held = scope.district_capabilities(district_id=tie.district_id)
    return LIFECYCLE in held


async def _ties(db: Db, account_ids: Sequence[int]) -> dict[int, list[Row[Any]]]:
    """Everything that ties each account to a school: one UNION ALL.
    ``held`` ties are what the account itself reaches (grants, staff
    schools, roles); a contact's students only say whose family it is."""
    ids = list(account_ids)
    null_int = sa.cast(sa.null(), sa.Integer)

    def part(holder: Any, held: Any, student: Any, school: Any, district: Any) -> list[Any]:
        return [
            holder.label("holder"),
            (sa.literal(held) if isinstance(held, bool) else held).label("held"),
            student.label("student_id"),
            school.label("school_id"),
            district.label("district_id"),
        ]

    # Past grants tie an account to a school too (it stays in that school's
    # scope), but only active ones are held.
    active = sa.case((GRANTS.c.revoked_at.is_(None), sa.true()), else_=sa.false())
    grants = (
        sa.select(
            *part(
                GRANTS.c.account_id,
                active,
                STUDENTS.c.id,
                STUDENTS.c.school_id,
                STUDENTS.c.district_id,
            )
        )
        .join(STUDENTS, STUDENTS.c.id == GRANTS.c.student_id)
        .where(GRANTS.c.account_id.in_(ids))
    )
    contacts = (
        sa.select(
            *part(ACCOUNTS.c.id, False, STUDENTS.c.id, STUDENTS.c.school_id, STUDENTS.c.district_id)
        )
        .join(CONTACTS, CONTACTS.c.guardian_id == ACCOUNTS.c.guardian_id)
        .join(STUDENTS, STUDENTS.c.id == CONTACTS.c.student_id)
        .where(ACCOUNTS.c.id.in_(ids))
    )
    staff_schools = (
        sa.select(
            *part(
                ACCOUNTS.c.id,
                True,
                null_int,
                STAFF_SCHOOLS.c.school_id,
                STAFF_SCHOOLS.c.district_id,
            )
        )
        .join(STAFF_SCHOOLS, STAFF_SCHOOLS.c.staff_member_id == ACCOUNTS.c.staff_member_id)
        .where(ACCOUNTS.c.id.in_(ids))
    )
    roles = (
        sa.select(
            *part(ACCOUNTS.c.id, True, null_int, ROLE_GRANTS.c.school_id, ROLE_GRANTS.c.district_id)
        )
        .join(
            ROLE_GRANTS,
            sa.or_(
                ROLE_GRANTS.c.account_id == ACCOUNTS.c.id,
                ROLE_GRANTS.c.staff_member_id == ACCOUNTS.c.staff_member_id,
            ),
        )
        .where(ACCOUNTS.c.id.in_(ids))
    )
    ties: dict[int, list[Row[Any]]] = {i: [] for i in ids}
    for row in await db.all(sa.union_all(grants, contacts, staff_schools, roles)):
        ties[row.holder].append(row)
    return ties


async def accounts_for_lifecycle(
    db: Db,
    viewer: Viewer,
    account_ids: Sequence[int | None],
    *,
    field: tuple[str, ...],
    removing_credentials: bool,
) -> tuple[list[Target], list[Refusal]]:
    """The accounts an input names, checked as the module docstring says.
    Out of scope: NOT_FOUND at its index. In scope but nothing covered:
    FORBIDDEN. An account that also holds something the actor does not
    cover is a target all the same (nothing in the answer depends on what
    lies outside: docs/adr/0011), marked not ``whole``: removing
    credentials then ends only the grants to the students covered."""
    wanted = sorted({pk for pk in account_ids if pk is not None})
    found = {r.id: r for r in await accounts_in_scope(db, viewer, wanted) if r is not None}
    ties = await _ties(db, list(found))
    targets: dict[int, Target] = {}
    refusals: list[Refusal] = []
    for index, pk in enumerate(account_ids):
        row = found.get(pk) if pk is not None else None
        at = (*field, str(index))
        if row is None:
            refusals.append(not_found("account", at))
            continue
        covered = [t for t in ties[row.id] if _covered(viewer.scope, t)]
        if not covered:
            raise Forbidden("Your role does not allow managing one of these accounts.")
        if removing_credentials and row.id == viewer.account_id:
            refusals.append(
                Refusal("CANNOT_REVOKE_SELF", "You cannot revoke your own account.", at)
            )
            continue
        whole = not any(t.held and not _covered(viewer.scope, t) for t in ties[row.id])
        students = sorted({t.student_id for t in covered if t.held and t.student_id is not None})
        targets.setdefault(
            row.id,
            Target(
                row=row,
                district_id=covered[0].district_id,
                index=index,
                whole=whole,
                covered_student_ids=tuple(students),
            ),
        )
    return list(targets.values()), refusals


async def guardians_for_provisioning(
    db: Db, viewer: Viewer, guardian_ids: Sequence[int | None], *, field: tuple[str, ...]
) -> tuple[list[tuple[Row[Any], int]], list[Refusal]]:
    """Contact records in scope, each with its input index; FORBIDDEN when
    the actor holds ACCOUNT_LIFECYCLE for none of the contact's students."""
    wanted = sorted({pk for pk in guardian_ids if pk is not None})
    found = {r.id: r for r in await guardians_in_scope(db, viewer, wanted) if r is not None}
    refs = dict(zip(found, await student_refs_by_guardian_id(db, list(found)), strict=True))
    chosen: dict[int, tuple[Row[Any], int]] = {}
    refusals: list[Refusal] = []
    for index, pk in enumerate(guardian_ids):
        row = found.get(pk) if pk is not None else None
        if row is None:
            refusals.append(not_found("guardian", (*field, str(index))))
            continue
        if not any(
            LIFECYCLE
            in viewer.scope.student_capabilities(
                student_id=r.student_id, school_id=r.school_id, district_id=r.district_id
            )
            for r in refs[row.id]
        ):
            raise Forbidden("Your role does not allow provisioning one of these contacts.")
        chosen.setdefault(row.id, (row, index))
    return list(chosen.values()), refusals


# ---------------------------------------------------------------- provision


@dataclass(frozen=True, slots=True)
class Provisioned:
    accounts: list[Row[Any]] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)


async def provision_accounts(
    db: Db,
    actor: Actor,
    guardians: Sequence[tuple[Row[Any], int]],
    *,
    field: tuple[str, ...],
    send_welcome: bool,
    now: dt.datetime,
    public_url: str,
    welcome_lifetime: dt.timedelta = DEFAULT_WELCOME_LIFETIME,
) -> Provisioned:
    """A GUARDIAN account for each READY_TO_PROVISION contact, with SIS_SYNC
    grants to every current student the contact is eligible for and not
    restricted from (what the SIS records, not only the actor's slice).

    A contact who is also staff (one SIS person, one sourcedId: a teacher
    who is a parent, docs/architecture.md section 4) and already signs in
    with a staff account gets no second account: that account is linked to
    the contact record and gains the grants."""
    ids = [g.id for g, _ in guardians]
    await lock_rows(db, GUARDIANS, GUARDIANS.c.id.in_(ids), touch=GUARDIANS.c.active)
    account = ACCOUNTS.alias("existing_account")
    live = ACCOUNTS.alias("live_account")
    staff_account = ACCOUNTS.alias("staff_account")
    facts = {
        row.id: row
        for row in await db.all(
            sa.select(
                GUARDIANS.c.id,
                GUARDIANS.c.email,
                guardian_eligible(GUARDIANS).label("eligible"),
                sa.exists(
                    sa.select(account.c.id).where(account.c.guardian_id == GUARDIANS.c.id)
                ).label("has_account"),
                sa.exists(
                    sa.select(live.c.id).where(
                        sa.func.lower(live.c.email) == sa.func.lower(GUARDIANS.c.email),
                        live.c.revoked_at.is_(None),
                    )
                ).label("email_in_use"),
                sa.select(sa.func.min(staff_account.c.id))
                .join(STAFF, STAFF.c.id == staff_account.c.staff_member_id)
                .where(
                    STAFF.c.district_id == GUARDIANS.c.district_id,
                    STAFF.c.sourced_id == GUARDIANS.c.sourced_id,
                    staff_account.c.guardian_id.is_(None),
                    staff_account.c.revoked_at.is_(None),
                )
                .scalar_subquery()
                .label("staff_account_id"),
            ).where(GUARDIANS.c.id.in_(ids))
        )
    }
    refusals: list[Refusal] = []
    emails: set[str] = set()
    for guardian, index in guardians:
        fact = facts[guardian.id]
        at = (*field, str(index))
        email = (fact.email or "").strip().lower()
        if not fact.has_account and fact.eligible and fact.staff_account_id is not None:
            continue  # the person's staff account is linked below
        if fact.has_account or not fact.eligible:
            refusals.append(
                Refusal(
                    "NOT_ELIGIBLE",
                    "Only contacts ready to provision (portal eligible for a current student, "
                    "not restricted, no account yet) can be provisioned.",
                    at,
                )
            )
        elif not email:
            refusals.append(
                Refusal("NOT_ELIGIBLE", "This contact has no email address on record.", at)
            )
        elif fact.email_in_use or email in emails:
            refusals.append(
                Refusal(
                    "EMAIL_IN_USE",
                    "Another account already signs in with this contact's email address.",
                    at,
                )
            )
        emails.add(email)
    if refusals:
        return Provisioned(refusals=refusals)

    linked = {
        g.id: facts[g.id].staff_account_id
        for g, _ in guardians
        if facts[g.id].staff_account_id is not None
    }
    if linked:
        await db.execute(
            ACCOUNTS.update()
            .where(ACCOUNTS.c.id == sa.bindparam("account"))
            .values(guardian_id=sa.bindparam("guardian")),
            [{"account": account_id, "guardian": g} for g, account_id in linked.items()],
        )
    new = [g for g, _ in guardians if g.id not in linked]
    made = (
        await db.all(
            sa.insert(ACCOUNTS)
            .values(
                [
                    {
                        "kind": AccountKind.GUARDIAN,
                        "email": (g.email or "").strip().lower(),
                        "display_name": f"{g.given_name} {g.family_name}",
                        "created_at": now,
                        "guardian_id": g.id,
                    }
                    for g in new
                ]
            )
            .returning(
                ACCOUNTS.c.id, ACCOUNTS.c.guardian_id, ACCOUNTS.c.email, ACCOUNTS.c.display_name
            )
        )
        if new
        else []
    )
    account_of = {row.guardian_id: row.id for row in made} | linked
    eligible = await db.all(
        sa.select(
            CONTACTS.c.guardian_id,
            CONTACTS.c.contact_type,
            STUDENTS.c.id.label("student_id"),
            STUDENTS.c.district_id,
        )
        .join(STUDENTS, STUDENTS.c.id == CONTACTS.c.student_id)
        .join(GUARDIANS, GUARDIANS.c.id == CONTACTS.c.guardian_id)
        .where(
            CONTACTS.c.guardian_id.in_(ids),
            CONTACTS.c.portal_eligible,
            sa.not_(
                custody_restricted(
                    STUDENTS.c.id, guardian_id=CONTACTS.c.guardian_id, email=GUARDIANS.c.email
                )
            ),
            STUDENTS.c.status == EnrolmentStatus.ENROLLED,
        )
        .order_by(CONTACTS.c.guardian_id, STUDENTS.c.id)
    )
    grants = await db.all(
        sa.insert(GRANTS)
        .values(
            [
                {
                    "district_id": c.district_id,
                    "account_id": account_of[c.guardian_id],
                    "student_id": c.student_id,
                    "source": GrantSource.SIS_SYNC,
                    "relationship": c.contact_type,
                    "granted_at": now,
                }
                for c in eligible
            ]
        )
        .returning(GRANTS.c.id, GRANTS.c.account_id, GRANTS.c.student_id, GRANTS.c.district_id)
    )
    events: list[Event] = []
    for g in grants:
        events.append(
            Event(
                g.district_id,
                AccessAction.ACCOUNT_PROVISIONED,
                student_id=g.student_id,
                detail=f"account {g.account_id}",
            )
        )
        events.append(
            Event(
                g.district_id,
                AccessAction.GRANT_CREATED,
                student_id=g.student_id,
                detail=f"grant {g.id} (SIS_SYNC) to account {g.account_id}",
            )
        )
    await record(db, actor, events, at=now)
    rows = [r for r in await accounts_by_id(db, [account_of[i] for i in ids]) if r is not None]
    if send_welcome:
        # A linked staff account already signs in: no welcome for it.
        made_ids = {row.id for row in made}
        welcomes = await welcome_emails(
            db,
            [r for r in rows if r.id in made_ids],
            now=now,
            lifetime=welcome_lifetime,
            public_url=public_url,
        )
        await enqueue(db, welcomes, now=now)
    return Provisioned(accounts=rows)


# ---------------------------------------------------------------- revoke


async def revoke_accounts(
    db: Db, actor: Actor, targets: Sequence[Target], *, now: dt.datetime
) -> list[Row[Any]]:
    """Remove credentials (the password hash; OIDC identities are kept as
    the record of who this was, but a revoked account can no longer sign in
    or refresh), end every session at once, and revoke every active grant.

    An account that also holds something outside the actor's coverage (not
    ``whole``) keeps its credentials and sessions: only its grants to the
    students the actor covers end (docs/adr/0011). The same statements
    either way, whatever the batch."""
    ids = [t.row.id for t in targets]
    whole_ids = [t.row.id for t in targets if t.whole]
    covered_pairs = [
        (t.row.id, student_id)
        for t in targets
        if not t.whole
        for student_id in t.covered_student_ids
    ]
    await db.execute(
        sa.update(ACCOUNTS)
        .where(ACCOUNTS.c.id.in_(whole_ids))
        .values(revoked_at=now, password_hash=None)
    )
    await db.execute(
        sa.update(SESSIONS)
        .where(SESSIONS.c.account_id.in_(whole_ids), SESSIONS.c.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=REVOKED_WITH_ACCOUNT)
    )
    ending = [GRANTS.c.account_id.in_(whole_ids)]
    if covered_pairs:
        ending.append(sa.tuple_(GRANTS.c.account_id, GRANTS.c.student_id).in_(covered_pairs))
    grants = await db.all(
        sa.update(GRANTS)
        .where(sa.or_(*ending), GRANTS.c.revoked_at.is_(None))
        .values(
            revoked_at=now,
            revoked_by_staff_id=actor.staff_member_id,
            revoke_reason=REVOKED_WITH_ACCOUNT,
        )
        .returning(GRANTS.c.id, GRANTS.c.account_id, GRANTS.c.student_id, GRANTS.c.district_id)
    )
    events = [
        Event(t.district_id, AccessAction.ACCOUNT_REVOKED, detail=f"account {t.row.id}")
        for t in targets
        if t.whole
    ] + [
        Event(
            g.district_id,
            AccessAction.GRANT_REVOKED,
            student_id=g.student_id,
            detail=f"grant {g.id} of account {g.account_id}: account revoked",
        )
        for g in sorted(grants, key=lambda g: g.id)
    ]
    await record(db, actor, events, at=now)
    rows = await accounts_by_id(db, ids)
    return [r for r in rows if r is not None]


def still_live(targets: Sequence[Target]) -> list[Target]:
    """Accounts already revoked are left as they are (and not counted)."""
    return [t for t in targets if t.row.revoked_at is None]


# ---------------------------------------------------------------- welcome


WELCOME_COOLDOWN = dt.timedelta(hours=1)
# Who a welcome email is written for: a parent's portal account and a
# student's own login. Staff sign up or sign in with the district's
# provider themselves; a staff account gets none from this mutation.
WELCOMED_KINDS = frozenset({AccountKind.GUARDIAN, AccountKind.STUDENT})


@dataclass(frozen=True, slots=True)
class WelcomeOutcome:
    sent: int
    skipped: int


async def send_welcome_emails(
    db: Db,
    targets: Sequence[Target],
    *,
    now: dt.datetime,
    public_url: str,
    welcome_lifetime: dt.timedelta = DEFAULT_WELCOME_LIFETIME,
) -> WelcomeOutcome:
    """To ACTIVE GUARDIAN and STUDENT accounts that have never signed in,
    each in its own wording; skipped (and counted): any other account, a
    student whose login is off (``welcome_emails``), and an account sent a
    set-password link (welcome or reset) within the last hour, so that the
    mutation cannot flood an inbox. Each email has a fresh set-password
    link; earlier ones keep working until they expire or a password is set."""
    eligible = [
        t.row
        for t in targets
        if t.row.kind in WELCOMED_KINDS
        and status_of(t.row) is PortalStatus.ACTIVE
        and t.row.last_login_at is None
        and t.row.email
    ]
    recent = await password_tokens.recently_sent(
        db, [a.id for a in eligible], purpose=password_tokens.PASSWORD, since=now - WELCOME_COOLDOWN
    )
    chosen = [a for a in eligible if a.id not in recent]
    emails = await welcome_emails(
        db, chosen, now=now, lifetime=welcome_lifetime, public_url=public_url
    )
    await enqueue(db, emails, now=now)
    return WelcomeOutcome(sent=len(emails), skipped=len(targets) - len(emails))
