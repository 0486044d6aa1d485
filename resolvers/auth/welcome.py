"""Welcome emails: each carries a fresh set-password link.

Sent by ``provisionAccounts``, ``sendWelcomeEmails`` and
``updateStudentLoginSettings`` (a student's new login). The link opens
``/reset-password?token=…``, the same page and JSON route as a reset, and
lasts ``lifetime`` (``ACCESSGRAPH_WELCOME_LINK_DAYS``, 7 by default). Only
accounts that may get links at all are written to (``can_get_links``): a
student whose login is off gets none.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Row

from permissions.roles import AccountKind
from resolvers.auth import password_tokens
from resolvers.db import Db
from resolvers.outbox import Email

WELCOME = "WELCOME"


async def welcome_emails(
    db: Db,
    accounts: Sequence[Row[Any]],
    *,
    now: dt.datetime,
    lifetime: dt.timedelta,
    public_url: str,
) -> list[Email]:
    """One email per account that has an address and may get links, each
    with a token of its own (one SELECT and one INSERT for the batch)."""
    with_address = [a for a in accounts if a.email]
    allowed = await password_tokens.accounts_that_get_links(db, [a.id for a in with_address])
    chosen = [a for a in with_address if a.id in allowed]
    tokens = await password_tokens.issue(
        db,
        [a.id for a in chosen],
        purpose=password_tokens.PASSWORD,
        now=now,
        lifetime=lifetime,
    )
    return [
        welcome_email(
            account,
            link=password_tokens.password_link(public_url, tokens[account.id]),
            lifetime=lifetime,
            public_url=public_url,
        )
        for account in chosen
    ]


def _validity(lifetime: dt.timedelta) -> str:
    days = lifetime.days
    if days >= 1 and lifetime == dt.timedelta(days=days):
        return f"{days} day{'s' if days != 1 else ''}"
    hours = int(lifetime.total_seconds() // 3600)
    return f"{hours} hour{'s' if hours != 1 else ''}"


def welcome_email(
    account: Row[Any], *, link: str, lifetime: dt.timedelta, public_url: str
) -> Email:
    """The wording follows what the product does: open the link, choose a
    password, then sign in with the address and that password."""
    base = public_url.rstrip("/")
    if account.kind == AccountKind.STUDENT:
        subject = "Your student account is ready"
        why = (
            "Your school has turned on student accounts, so that you can see your own "
            "homework, timetable and forms."
        )
    elif account.kind == AccountKind.STAFF:
        subject = "Your staff account is ready"
        why = "An account has been opened for you."
    else:
        subject = "Your parent portal account is ready"
        why = (
            "Your school has opened a parent portal account for you, so that you can see "
            "your children's homework, timetable and messages."
        )
    body = (
        f"Hello {account.display_name},\n\n"
        f"{why}\n\n"
        "To choose your password, open this link (it works once, for "
        f"{_validity(lifetime)}):\n{link}\n\n"
        f"Then sign in with this email address ({account.email}) and the password you "
        "chose.\n\n"
        f"If the link has expired, ask for a new one at {base}/forgot-password "
        "(it is sent to this address).\n"
    )
    return Email(to_address=account.email, subject=subject, body=body, kind=WELCOME)
