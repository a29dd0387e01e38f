"""The RFC 5322 form of a MailMessage, shared by the SMTP sender and the file outbox."""

from __future__ import annotations

import email.utils
from email.message import EmailMessage

from domain.mail import MailMessage


def to_email(message: MailMessage, sender: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = message.to
    mail["Subject"] = message.subject
    mail["Date"] = email.utils.formatdate(localtime=False)
    # The sender's domain in the Message-ID, as RFC 5322 section 3.6.4 suggests.
    mail["Message-ID"] = email.utils.make_msgid(domain=sender.rpartition("@")[2] or None)
    mail.set_content(message.body)
    return mail
