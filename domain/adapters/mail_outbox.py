"""The embedded default mailer: each message becomes an .eml file under data_dir/mail.

With no SMTP server configured (`rota dev up`), a developer reads the e-mailed MFA code from
the newest file; any mail client opens .eml files.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from domain.adapters.mail_message import to_email
from domain.mail import MailError, MailMessage


@dataclass(frozen=True)
class OutboxMailer:
    directory: Path
    sender: str = "rota@localhost"

    def send(self, message: MailMessage) -> None:
        data = to_email(message, self.sender).as_bytes()
        # Nanoseconds first: the names sort in the order the messages were written.
        name = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.eml"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            # Written under a temporary name and renamed, so a reader never sees half a file;
            # 0600 because the file holds a login code.
            temporary = self.directory / f".{name}.tmp"
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            temporary.rename(self.directory / name)
        except OSError as exc:
            raise MailError(f"cannot write to the mail outbox: {exc.strerror}") from exc

    def messages(self) -> list[Path]:
        """The outbox's files, oldest first."""
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob("*.eml"))
