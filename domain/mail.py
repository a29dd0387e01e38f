"""The port for sending mail (e-mailed MFA codes), and the message it sends.

Implementations: domain/adapters/mail_smtp.py (an SMTP server from settings) and
domain/adapters/mail_outbox.py (the embedded default: .eml files under data_dir/mail);
tests/mfa_fakes.py keeps messages in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class MailMessage:
    to: str
    subject: str
    body: str


class MailError(Exception):
    """The message could not be handed over (server down, refused, timed out)."""


class Mailer(Protocol):
    def send(self, message: MailMessage) -> None:
        """Hand the message over for delivery, or raise MailError."""
