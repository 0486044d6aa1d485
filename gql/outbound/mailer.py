"""Sending the outbox (docs/architecture.md section 6): every email is written to the outbox in the
transaction that caused it, and sent from here.

With ``ACCESSGRAPH_SMTP_HOST`` set, unsent rows go out over SMTP (aiosmtplib),
oldest first, in batches over one connection. A failure is counted on the
row (``attempts``, ``last_error``) and retried after a backoff
(``next_attempt_at``: 30 s, 1, 2, 4 minutes), up to ``MAX_ATTEMPTS``.
Without an SMTP host the rows stay in the outbox and each is logged once
(in dev with its body, so the links in it can be followed).

The app's lifespan runs ``Mailer.run`` as a background task and ends it
with ``Mailer.stop``; tests call ``Mailer.deliver`` once. A run starts as
soon as a transaction that queued email commits: the app's sessions are of
``waking_session_class``, whose ``after_commit`` hook wakes the mailer when
``resolvers.outbox.enqueue`` flagged the session; otherwise every
``INTERVAL_SECONDS`` (retries, and mail queued by another process). With
several workers on PostgreSQL, each batch is claimed with
``FOR UPDATE SKIP LOCKED``, so no email is sent twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

import aiosmtplib
import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from gql.settings import Settings
from resolvers.db import Db
from resolvers.outbox import QUEUED
from resolvers.tables import OUTBOX, UTCDateTime

log = logging.getLogger("accessgraph.mailer")


MAX_ATTEMPTS = 5
BATCH_SIZE = 50
INTERVAL_SECONDS = 15.0
SMTP_TIMEOUT_SECONDS = 30.0
IMPLICIT_TLS_PORT = 465
FIRST_RETRY_SECONDS = 30
LONGEST_RETRY_SECONDS = 3600


def retry_delay(attempts: int) -> dt.timedelta:
    """How long an email that has failed ``attempts`` times waits."""
    return dt.timedelta(
        seconds=min(FIRST_RETRY_SECONDS * 2 ** max(attempts - 1, 0), LONGEST_RETRY_SECONDS)
    )


class Wakeup:
    """Set when email was queued and committed; the mailer waits on it."""

    def __init__(self) -> None:
        self.event = asyncio.Event()

    def __call__(self) -> None:
        self.event.set()


def waking_session_class(wakeup: Wakeup) -> type[Session]:
    """A Session class of the app's own whose commits wake the mailer when
    the transaction queued email (and only then). A class per app, so that
    two apps in one process (tests) never wake each other's mailer."""

    class WakingSession(Session):
        pass

    def committed(session: Session) -> None:
        if session.info.pop(QUEUED, False):
            wakeup()

    def rolled_back(session: Session) -> None:
        session.info.pop(QUEUED, None)

    sa.event.listen(WakingSession, "after_commit", committed)
    sa.event.listen(WakingSession, "after_rollback", rolled_back)
    return WakingSession


@dataclass(frozen=True, slots=True)
class Delivery:
    """What one run did: sent, failed (to be retried), or held (no SMTP host)."""

    sent: int = 0
    failed: int = 0
    held: int = 0


class Mailer:
    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        *,
        clock: Callable[[], dt.datetime],
        wakeup: Wakeup | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.clock = clock
        self.wakeup = wakeup or Wakeup()
        # Without SMTP, each held email is logged once per process.
        self._logged_up_to = 0
        self._stopping = asyncio.Event()

    async def run(self, interval: float = INTERVAL_SECONDS) -> None:
        """Deliver, wait until woken or ``interval`` passes, repeat, until
        ``stop``. A failed run is logged and the next one tries again."""
        woken = self.wakeup.event
        while not self._stopping.is_set():
            # Cleared before the run: a commit during it wakes the next one.
            woken.clear()
            try:
                await self.deliver()
            except Exception:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # being cancelled: never swallow it as a failed run
                log.exception("sending the outbox failed; trying again in %.0f s", interval)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(woken.wait(), interval)

    async def stop(self, task: asyncio.Task[None], *, grace: float = SMTP_TIMEOUT_SECONDS) -> None:
        """Let the running batch finish (a statement or an SMTP exchange cut
        in the middle would leave its session half-closed), then end the
        loop; cancel it only if it outlasts ``grace``."""
        self._stopping.set()
        self.wakeup()
        _, pending = await asyncio.wait({task}, timeout=grace)
        if pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def deliver(self) -> Delivery:
        """One run over the oldest unsent emails."""
        async with self.sessions() as session:
            db = Db(session)
            if not self.settings.smtp_host:
                return await self._hold(db)
            now = self.clock()
            query = (
                sa.select(OUTBOX)
                .where(
                    OUTBOX.c.sent_at.is_(None),
                    OUTBOX.c.attempts < MAX_ATTEMPTS,
                    sa.or_(OUTBOX.c.next_attempt_at.is_(None), OUTBOX.c.next_attempt_at <= now),
                )
                .order_by(OUTBOX.c.id)
                .limit(BATCH_SIZE)
            )
            if db.dialect == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = await db.all(query)
            if not rows:
                await db.rollback()
                return Delivery()
            errors = await self._send(rows)
            await self._record(db, rows, errors)
            await db.commit()
        failed = sum(1 for error in errors.values() if error is not None)
        return Delivery(sent=len(errors) - failed, failed=failed)

    async def _hold(self, db: Db) -> Delivery:
        rows = await db.all(
            sa.select(OUTBOX)
            .where(OUTBOX.c.sent_at.is_(None), OUTBOX.c.id > self._logged_up_to)
            .order_by(OUTBOX.c.id)
            .limit(BATCH_SIZE)
        )
        await db.rollback()
        for row in rows:
            if self.settings.is_dev:
                log.info(
                    "email %s not sent (no ACCESSGRAPH_SMTP_HOST): to=%s subject=%r\n%s",
                    row.id,
                    row.to_address,
                    row.subject,
                    row.body,
                )
            else:
                log.info(
                    "email %s not sent (no ACCESSGRAPH_SMTP_HOST): to=%s subject=%r",
                    row.id,
                    row.to_address,
                    row.subject,
                )
            self._logged_up_to = max(self._logged_up_to, row.id)
        return Delivery(held=len(rows))

    def _message(self, row: Row[Any]) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.settings.smtp_from
        message["To"] = row.to_address
        message["Subject"] = row.subject
        message["Date"] = format_datetime(self.clock())
        message["Message-ID"] = make_msgid(
            domain=self.settings.smtp_from.rpartition("@")[2] or None
        )
        message.set_content(row.body)
        return message

    async def _send(self, rows: Sequence[Row[Any]]) -> dict[int, str | None]:
        """Each row's error, or None when the server accepted it."""
        settings = self.settings
        implicit_tls = settings.smtp_tls and settings.smtp_port == IMPLICIT_TLS_PORT
        client = aiosmtplib.SMTP(
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_user,
            password=settings.smtp_password,
            use_tls=implicit_tls,
            start_tls=settings.smtp_tls and not implicit_tls,
            timeout=SMTP_TIMEOUT_SECONDS,
        )
        errors: dict[int, str | None] = {}
        try:
            await client.connect()
        except (aiosmtplib.SMTPException, OSError) as exc:
            log.warning(
                "SMTP server %s:%s unreachable: %s", settings.smtp_host, settings.smtp_port, exc
            )
            return {row.id: f"connect: {exc}" for row in rows}
        try:
            for row in rows:
                try:
                    await client.send_message(self._message(row))
                    errors[row.id] = None
                except aiosmtplib.SMTPServerDisconnected as exc:
                    # The rest of the batch waits for the next run.
                    for rest in rows:
                        errors.setdefault(rest.id, f"disconnected: {exc}")
                    break
                except aiosmtplib.SMTPException as exc:
                    errors[row.id] = str(exc)
                    log.warning("email %s refused: %s", row.id, exc)
        finally:
            if client.is_connected:
                with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                    await client.quit()
        return errors

    async def _record(
        self, db: Db, rows: Sequence[Row[Any]], errors: dict[int, str | None]
    ) -> None:
        """Two statements whatever the batch size: the sent, then the failed
        (each not tried again before its backoff)."""
        now = self.clock()
        attempts = {row.id: row.attempts for row in rows}
        sent = [i for i, error in errors.items() if error is None]
        if sent:
            await db.execute(
                sa.update(OUTBOX)
                .where(OUTBOX.c.id.in_(sent))
                .values(sent_at=self.clock(), attempts=OUTBOX.c.attempts + 1, last_error=None)
            )
        failed = [
            {
                "failed_id": i,
                "error": error[:1000],
                "retry_at": now + retry_delay(attempts[i] + 1),
            }
            for i, error in errors.items()
            if error is not None
        ]
        if failed:
            await db.execute(
                sa.update(OUTBOX)
                .where(OUTBOX.c.id == sa.bindparam("failed_id"))
                .values(
                    attempts=OUTBOX.c.attempts + 1,
                    last_error=sa.bindparam("error"),
                    next_attempt_at=sa.bindparam("retry_at", type_=UTCDateTime()),
                ),
                failed,
            )
