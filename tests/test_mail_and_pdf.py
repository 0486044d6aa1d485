"""The outbox sent over SMTP to a real server on loopback (aiosmtpd), and the
printable login instructions rendered as a real PDF (read back with pypdf)."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import logging
from collections.abc import Iterator

import httpx
import pypdf
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gql.http.app import create_app
from gql.outbound.mailer import (
    MAX_ATTEMPTS,
    Delivery,
    Mailer,
    Wakeup,
    retry_delay,
    waking_session_class,
)
from gql.outbound.pdf import LoginInstructions, login_instructions_pdf
from gql.settings import Settings
from resolvers import tables
from resolvers.db import Db
from resolvers.outbox import Email, enqueue
from resolvers.tables import OUTBOX
from tests.clock import NOW
from tests.lifespan import started
from tests.mail_server import Inbox, free_port, smtp_server
from tests.portal_support import rows

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    with smtp_server() as running:
        yield running


def smtp_settings(database_url: str, port: int) -> Settings:
    return Settings(
        env="dev",
        database_url=database_url,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_tls=False,
        smtp_from="portal@school.example.org",
    )


def mailer(engine: AsyncEngine, settings: Settings) -> Mailer:
    return Mailer(settings, async_sessionmaker(engine, expire_on_commit=False), clock=lambda: NOW)


async def queue(engine: AsyncEngine, *addresses: str) -> None:
    async with AsyncSession(engine) as session:
        db = Db(session)
        await enqueue(
            db,
            [
                Email(to_address=a, subject=f"Hello {a}", body=f"Body for {a}\n", kind="WELCOME")
                for a in addresses
            ],
            now=NOW,
        )
        await db.commit()


async def test_unsent_email_goes_out_over_smtp_and_is_marked_sent(
    engine: AsyncEngine, database_url: str, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    await queue(engine, "ann@home.example.com", "bob@home.example.com")
    delivery = await mailer(engine, smtp_settings(database_url, port)).deliver()
    assert delivery == Delivery(sent=2)
    assert [(sender, to) for sender, to, _ in inbox.received] == [
        ("portal@school.example.org", ["ann@home.example.com"]),
        ("portal@school.example.org", ["bob@home.example.com"]),
    ]
    content = inbox.received[0][2]
    assert "Subject: Hello ann@home.example.com" in content
    assert "To: ann@home.example.com" in content
    assert "Body for ann@home.example.com" in content
    sent = await rows(engine, tables.OutboxEmail)
    assert [(r.sent_at, r.attempts, r.last_error) for r in sent] == [(NOW, 1, None)] * 2
    # Nothing is sent twice.
    assert await mailer(engine, smtp_settings(database_url, port)).deliver() == Delivery()
    assert len(inbox.received) == 2


async def test_a_refused_email_is_counted_and_retried_on_the_next_run(
    engine: AsyncEngine, database_url: str, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    inbox.refused.add("gone@home.example.com")
    await queue(engine, "gone@home.example.com", "ann@home.example.com")
    settings = smtp_settings(database_url, port)
    assert await mailer(engine, settings).deliver() == Delivery(sent=1, failed=1)
    gone, ann = await rows(engine, tables.OutboxEmail)
    assert (gone.sent_at, gone.attempts) == (None, 1)
    assert gone.last_error is not None
    assert "550" in gone.last_error
    assert (ann.sent_at, ann.attempts) == (NOW, 1)

    assert gone.next_attempt_at == NOW + retry_delay(1)

    inbox.refused.clear()
    # Not before its backoff; then it goes.
    assert await mailer(engine, settings).deliver() == Delivery()
    later = NOW + retry_delay(1)
    retry = Mailer(
        settings, async_sessionmaker(engine, expire_on_commit=False), clock=lambda: later
    )
    assert await retry.deliver() == Delivery(sent=1)
    [gone] = await rows(engine, tables.OutboxEmail, OUTBOX.c.to_address == "gone@home.example.com")
    assert (gone.sent_at, gone.attempts, gone.last_error) == (later, 2, None)


async def test_retries_back_off_from_30_seconds_to_an_hour() -> None:
    assert [retry_delay(n).total_seconds() for n in range(1, 9)] == [
        30,
        60,
        120,
        240,
        480,
        960,
        1920,
        3600,
    ]


async def test_an_unreachable_server_counts_an_attempt_on_every_email(
    engine: AsyncEngine, database_url: str
) -> None:
    await queue(engine, "ann@home.example.com", "bob@home.example.com")
    delivery = await mailer(engine, smtp_settings(database_url, free_port())).deliver()
    assert delivery == Delivery(failed=2)
    for row in await rows(engine, tables.OutboxEmail):
        assert (row.sent_at, row.attempts) == (None, 1)
        assert row.last_error is not None
        assert row.last_error.startswith("connect: ")


async def test_an_email_that_failed_too_often_is_left_alone(
    engine: AsyncEngine, database_url: str, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    await queue(engine, "ann@home.example.com")
    async with engine.begin() as c:
        await c.execute(sa.update(OUTBOX).values(attempts=MAX_ATTEMPTS, last_error="timeout"))
    assert await mailer(engine, smtp_settings(database_url, port)).deliver() == Delivery()
    assert inbox.received == []


async def test_without_an_smtp_host_email_stays_in_the_outbox_with_one_log_line_each(
    engine: AsyncEngine, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    await queue(engine, "ann@home.example.com")
    before = await rows(engine, tables.OutboxEmail)
    held = mailer(engine, Settings(env="prod", database_url=database_url, secret_key="k" * 40))
    with caplog.at_level(logging.INFO, logger="accessgraph.mailer"):
        assert await held.deliver() == Delivery(held=1)
        await queue(engine, "bob@home.example.com")
        assert await held.deliver() == Delivery(held=1)
        assert await held.deliver() == Delivery()
    ids = [r.id for r in await rows(engine, tables.OutboxEmail)]
    assert caplog.messages == [
        f"email {ids[0]} not sent (no ACCESSGRAPH_SMTP_HOST): to=ann@home.example.com "
        "subject='Hello ann@home.example.com'",
        f"email {ids[1]} not sent (no ACCESSGRAPH_SMTP_HOST): to=bob@home.example.com "
        "subject='Hello bob@home.example.com'",
    ]
    assert (await rows(engine, tables.OutboxEmail))[:1] == before


async def test_the_app_sends_the_outbox_in_the_background(
    engine: AsyncEngine, database_url: str, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    await queue(engine, "ann@home.example.com")
    app = create_app(smtp_settings(database_url, port))
    async with started(app):
        for _ in range(100):
            if inbox.received:
                break
            await asyncio.sleep(0.05)
    assert [to for _, to, _ in inbox.received] == [["ann@home.example.com"]]
    [row] = await rows(engine, tables.OutboxEmail)
    assert row.sent_at is not None
    assert row.attempts == 1


async def test_a_commit_that_queued_email_wakes_the_mailer_and_a_rollback_does_not(
    engine: AsyncEngine,
) -> None:
    wakeup = Wakeup()
    sessions = async_sessionmaker(
        engine, expire_on_commit=False, sync_session_class=waking_session_class(wakeup)
    )
    mail = [Email(to_address="ann@home.example.com", subject="Hi", body="Hi\n", kind="T")]
    async with sessions() as session:
        db = Db(session)
        await enqueue(db, mail, now=NOW)
        await db.rollback()
        assert not wakeup.event.is_set()
        await db.commit()  # nothing queued in this transaction
        assert not wakeup.event.is_set()
        await enqueue(db, mail, now=NOW)
        await db.commit()
        assert wakeup.event.is_set()


async def test_mail_queued_by_a_request_reaches_smtp_within_a_second(
    engine: AsyncEngine, database_url: str, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    app = create_app(smtp_settings(database_url, port))
    async with (
        started(app) as asgi,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi), base_url="http://test") as http,
    ):
        await asyncio.sleep(0.2)  # the first run has found nothing; the next is 15 s away
        signed_up = await http.post(
            "/auth/signup",
            json={
                "email": "ann@home.example.com",
                "password": "correct horse battery staple",
                "displayName": "Ann",
            },
        )
        assert signed_up.status_code == 202
        mail = await inbox.next_to("ann@home.example.com", within=1.0)
        assert mail.subject == "Confirm your email address"


# ---------------------------------------------------------------- PDF


def pdf_text(pdf: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1
    return " ".join(reader.pages[0].extract_text().split())


async def test_login_instructions_are_a_one_page_pdf_with_the_school_student_code_and_steps() -> (
    None
):
    pdf = login_instructions_pdf(
        LoginInstructions(
            school_name="Northfield",
            student_name="Ada Lovelace",
            code="ACDE-FGHJ-KMNP",
            sign_up_url="https://portal.example.org/sign-up",
            generated_on=dt.date(2026, 11, 3),
        )
    )
    assert pdf.startswith(b"%PDF-")
    text = pdf_text(pdf)
    for expected in [
        "Northfield",
        "Parent portal: how to sign up",
        "Access code for Ada Lovelace",
        "ACDE-FGHJ-KMNP",
        "Go to https://portal.example.org/sign-up and create an account",
        "Choose 'Add a student' and type the access code above.",
        "Keep this code private.",
        "Printed on 03 November 2026.",
    ]:
        assert expected in text


async def test_names_outside_latin_1_render() -> None:
    pdf = login_instructions_pdf(
        LoginInstructions(
            school_name="Szkoła Łąkowa",
            student_name="Zoë Łukasiewicz",
            code="ACDE-FGHJ-KMNP",
            sign_up_url="https://portal.example.org/sign-up",
            generated_on=dt.date(2026, 11, 3),
        )
    )
    text = pdf_text(pdf)
    assert "ACDE-FGHJ-KMNP" in text
    assert "Łukasiewicz" in text or "?ukasiewicz" in text  # the latter without a Unicode font
