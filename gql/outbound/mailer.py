"""Sending the outbox (docs/architecture.md section 6): every email is written to the outbox in the
transaction that caused it, and sent from here.

With ``ACCESSGRAPH_SMTP_HOST`` set, unsent rows go out over SMTP (aiosmtplib),
oldest first, in batches over one connection. A failure is counted on the
row (``attempts``, ``last_error``) and retried on the next run, up to
``MAX_ATTEMPTS``. Without an SMTP host the rows stay in the outbox and each
is logged once (in dev with its body, so the links in it can be followed).

The app's lifespan runs ``Mailer.run`` as a background task and ends it
with ``Mailer.stop``; tests call ``Mailer.deliver`` once. With several workers on PostgreSQL, each batch is
claimed with ``FOR UPDATE SKIP LOCKED``, so no email is sent twice.
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

from gql.settings import Settings
from resolvers.db import Db
from resolvers.tables import OUTBOX

log = logging.getLogger("accessgraph.mailer")


MAX_ATTEMPTS = 5
BATCH_SIZE = 50
INTERVAL_SECONDS = 15.0
SMTP_TIMEOUT_SECONDS = 30.0
IMPLICIT_TLS_PORT = 465


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
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.clock = clock
        # Without SMTP, each held email is logged once per process.
        self._logged_up_to = 0
        self._stopping = asyncio.Event()

    async def run(self, interval: float = INTERVAL_SECONDS) -> None:
        """Deliver, wait, repeat, until ``stop``. A failed run is logged and
        the next one tries again."""
        while not self._stopping.is_set():
            try:
                await self.deliver()
            except Exception:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # being cancelled: never swallow it as a failed run
                log.exception("sending the outbox failed; trying again in %.0f s", interval)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), interval)

    async def stop(self, task: asyncio.Task[None], *, grace: float = SMTP_TIMEOUT_SECONDS) -> None:
        """Let the running batch finish (a statement or an SMTP exchange cut
        in the middle would leave its session half-closed), then end the
        loop; cancel it only if it outlasts ``grace``."""
        self._stopping.set()
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
            query = (
                sa.select(OUTBOX)
                .where(OUTBOX.c.sent_at.is_(None), OUTBOX.c.attempts < MAX_ATTEMPTS)
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
            await self._record(db, errors)
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

    async def _record(self, db: Db, errors: dict[int, str | None]) -> None:
        """Two statements whatever the batch size: the sent, then the failed."""
        sent = [i for i, error in errors.items() if error is None]
        if sent:
            await db.execute(
                sa.update(OUTBOX)
                .where(OUTBOX.c.id.in_(sent))
                .values(sent_at=self.clock(), attempts=OUTBOX.c.attempts + 1, last_error=None)
            )
        failed = [
            {"failed_id": i, "error": error[:1000]}
            for i, error in errors.items()
            if error is not None
        ]
        if failed:
            await db.execute(
                sa.update(OUTBOX)
                .where(OUTBOX.c.id == sa.bindparam("failed_id"))
                .values(attempts=OUTBOX.c.attempts + 1, last_error=sa.bindparam("error")),
                failed,
            )
