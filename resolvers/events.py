"""Writing the audit trail: access events, in the caller's transaction.

Every change to access (a code issued or reset, a redemption, a grant made or
revoked, a request created, deleted, activated or locked, provisioning, an
account revoked, sessions terminated) is recorded here, in the same
transaction as the change, so the trail never disagrees with the data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa

from permissions.viewer import Viewer
from resolvers.db import Db
from resolvers.tables import ACCESS_EVENTS, AccessAction

SIS_SYNC_ACTOR = "SIS sync"
SYSTEM_ACTOR = "Access Graph"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acted: an account (and the staff record it acts as), or the system."""

    name: str
    account_id: int | None = None
    staff_member_id: int | None = None
    kind: str | None = None  # STAFF, GUARDIAN, STUDENT; None for SIS sync and system

    @classmethod
    def of(cls, viewer: Viewer, name: str | None = None) -> Actor:
        return cls(
            name=name or viewer.actor_name,
            account_id=viewer.account_id,
            staff_member_id=viewer.staff_member_id if viewer.can_record_data else None,
            kind=viewer.kind.value if viewer.kind is not None else None,
        )


SIS_SYNC = Actor(name=SIS_SYNC_ACTOR)
SYSTEM = Actor(name=SYSTEM_ACTOR)


@dataclass(frozen=True, slots=True)
class Event:
    district_id: int
    action: AccessAction
    student_id: int | None = None
    detail: str | None = None


async def record(db: Db, actor: Actor, events: Sequence[Event], *, at: dt.datetime) -> None:
    """One INSERT for any number of events."""
    if not events:
        return
    await db.execute(
        sa.insert(ACCESS_EVENTS).values(
            [
                {
                    "district_id": e.district_id,
                    "student_id": e.student_id,
                    "at": at,
                    "actor_account_id": actor.account_id,
                    "actor_staff_id": actor.staff_member_id,
                    "actor_kind": actor.kind,
                    "actor_name": actor.name,
                    "action": e.action,
                    "detail": e.detail,
                }
                for e in events
            ]
        )
    )


@dataclass
class ReadLog:
    """Restricted reads of students in one request, by someone other than
    the student: written as one INSERT when the request ends (the access
    review's "who looked")."""

    fields: dict[tuple[int, int], set[str]] = field(default_factory=dict)

    def note(self, *, student_id: int, district_id: int, field_name: str) -> None:
        self.fields.setdefault((student_id, district_id), set()).add(field_name)

    def events(self) -> list[Event]:
        return [
            Event(
                district_id=district_id,
                student_id=student_id,
                action=AccessAction.STUDENT_PROFILE,
                detail="read " + ", ".join(sorted(names)),
            )
            for (student_id, district_id), names in sorted(self.fields.items())
        ]


async def record_reads(db: Db, viewer: Viewer, reads: ReadLog, *, at: dt.datetime) -> None:
    """Flush a request's read log (nothing to do for anonymous viewers)."""
    if viewer.account_id is None or not reads.fields:
        return
    await record(db, Actor.of(viewer), reads.events(), at=at)
