"""The email outbox: every email is written here first, in the caller's
transaction, and sent from here by ``gql.outbound.mailer`` (retried on
failure), woken as soon as that transaction commits.
Without SMTP settings it stays here, with a log line."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from resolvers.db import Db
from resolvers.tables import OUTBOX

# Set on the session's ``info`` when a transaction queues email: the app's
# session class wakes the mailer when that transaction commits
# (``gql.outbound.mailer``), so mail leaves within a second, not a timer.
QUEUED = "accessgraph.outbox.queued"


@dataclass(frozen=True, slots=True)
class Email:
    to_address: str
    subject: str
    body: str
    kind: str  # e.g. CONNECTION_ACTIVATION, EMAIL_VERIFICATION, WELCOME


async def enqueue(db: Db, emails: list[Email], *, now: dt.datetime) -> None:
    if not emails:
        return
    await db.execute(
        sa.insert(OUTBOX).values(
            [
                {
                    "to_address": e.to_address,
                    "subject": e.subject,
                    "body": e.body,
                    "kind": e.kind,
                    "created_at": now,
                }
                for e in emails
            ]
        )
    )
    db.session.info[QUEUED] = True
