"""The SMTP mailer against a real SMTP server (aiosmtpd on a free local port)."""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message

from domain.adapters.mail_smtp import SmtpMailer
from domain.mail import MailError, MailMessage

pytestmark = pytest.mark.integration


class Inbox(Message):
    def __init__(self) -> None:
        super().__init__(message_class=email.message.EmailMessage)
        self.received: list[email.message.Message] = []

    def handle_message(self, message: email.message.Message) -> None:
        self.received.append(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_server() -> Iterator[tuple[Controller, Inbox]]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller, inbox
    finally:
        controller.stop()


def test_a_message_arrives_with_sender_recipient_and_body(smtp_server):
    controller, inbox = smtp_server
    mailer = SmtpMailer(
        host="127.0.0.1", port=controller.port, sender="rota@example.com", tls="none"
    )

    mailer.send(MailMessage(to="ada@example.com", subject="Your code", body="Code: 482913"))

    assert len(inbox.received) == 1
    received = inbox.received[0]
    assert received["X-MailFrom"] == "rota@example.com"
    assert received["X-RcptTo"] == "ada@example.com"
    assert received["Subject"] == "Your code"
    assert "Code: 482913" in received.get_payload()


def test_starttls_against_a_server_without_it_fails_cleanly(smtp_server):
    # The default mode must not fall back to plain text when the server offers no STARTTLS.
    controller, inbox = smtp_server
    mailer = SmtpMailer(host="127.0.0.1", port=controller.port, sender="rota@example.com")

    with pytest.raises(MailError):
        mailer.send(MailMessage(to="ada@example.com", subject="s", body="b"))
    assert inbox.received == []


def test_a_server_that_is_not_there_is_a_mail_error():
    mailer = SmtpMailer(
        host="127.0.0.1",
        port=free_port(),
        sender="rota@example.com",
        tls="none",
        timeout_seconds=2,
    )

    with pytest.raises(MailError):
        mailer.send(MailMessage(to="ada@example.com", subject="s", body="b"))
