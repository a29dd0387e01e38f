"""Mail through an SMTP server (settings: ROTA_SMTP_HOST, _PORT, _TLS, _SENDER, _USER,
_PASSWORD).

One connection per message: codes are sent a few times an hour, and a held connection would
only time out on the server's side between them.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass

from domain.adapters.mail_message import to_email
from domain.mail import MailError, MailMessage

TLS_MODES = ("starttls", "tls", "none")


@dataclass(frozen=True)
class SmtpMailer:
    host: str
    port: int
    sender: str
    tls: str = "starttls"  # starttls | tls (implicit, port 465) | none (local relays only)
    user: str | None = None
    password: str | None = None
    # A hung server must not hold an API request (and its database connection) for long.
    timeout_seconds: float = 10.0
    ssl_context: ssl.SSLContext | None = None

    def __post_init__(self) -> None:
        if self.tls not in TLS_MODES:
            raise ValueError(f"tls must be one of {TLS_MODES}, got {self.tls!r}")

    def send(self, message: MailMessage) -> None:
        mail = to_email(message, self.sender)
        try:
            with self._connect() as smtp:
                if self.tls == "starttls":
                    smtp.starttls(context=self._context())
                if self.user:
                    smtp.login(self.user, self.password or "")
                smtp.send_message(mail)
        except (smtplib.SMTPException, OSError) as exc:
            # The server's reply can name hosts and accounts: kept out of the message, logged
            # by the caller under its correlation id.
            raise MailError(f"SMTP delivery failed: {type(exc).__name__}") from exc

    def _connect(self) -> smtplib.SMTP:
        if self.tls == "tls":
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout_seconds, context=self._context()
            )
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout_seconds)

    def _context(self) -> ssl.SSLContext:
        # Certificates and host names are verified (the default context); tests pass their own.
        return self.ssl_context or ssl.create_default_context()
