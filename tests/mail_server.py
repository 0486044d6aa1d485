"""A real SMTP server on loopback (aiosmtpd) for the mail tests: it keeps
what it accepts and refuses the addresses it is told to."""

from __future__ import annotations

import asyncio
import email
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import default
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str


class Inbox:
    """An SMTP server's handler: keeps what it accepts, refuses some addresses."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], str]] = []
        self.refused: set[str] = set()
        self._read = 0

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if address in self.refused:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(
            (envelope.mail_from, list(envelope.rcpt_tos), envelope.content.decode())
        )
        return "250 Message accepted for delivery"

    def mail(self) -> list[Mail]:
        """Everything received, parsed."""
        parsed = []
        for _, recipients, content in self.received:
            message = email.message_from_string(content, policy=default)
            assert isinstance(message, EmailMessage)
            body = str(message.get_content()).replace("\r\n", "\n")
            parsed += [Mail(to, str(message["Subject"]), str(body)) for to in recipients]
        return parsed

    async def next_to(self, address: str, *, within: float = 2.0) -> Mail:
        """The next message (not returned before) to ``address``, waiting up
        to ``within`` seconds; fails when none arrives."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            unread = self.mail()[self._read :]
            for offset, mail in enumerate(unread):
                if mail.to == address:
                    # Everything before it is read too: tests take mail in order.
                    self._read += offset + 1
                    return mail
            if loop.time() > deadline:
                raise AssertionError(f"no mail to {address} within {within} s: {unread}")
            await asyncio.sleep(0.02)

    async def nothing_more(self, *, wait: float = 0.5) -> list[Mail]:
        """What arrives (unread) within ``wait`` seconds: [] when nothing."""
        await asyncio.sleep(wait)
        return self.mail()[self._read :]


@contextmanager
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()
