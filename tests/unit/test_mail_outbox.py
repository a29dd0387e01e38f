"""The embedded mailer writes one readable .eml file per message under data_dir/mail."""

from __future__ import annotations

import email
import email.policy
import stat

import pytest

from domain.adapters.mail_outbox import OutboxMailer
from domain.adapters.mail_smtp import SmtpMailer
from domain.adapters.mfa_wiring import mailer_from_settings
from domain.mail import MailError, MailMessage
from domain.settings import Settings


def test_each_message_becomes_a_private_eml_file(tmp_path):
    outbox = OutboxMailer(tmp_path / "mail", sender="rota@example.com")

    outbox.send(MailMessage(to="ada@example.com", subject="first", body="code 123456"))
    outbox.send(MailMessage(to="ada@example.com", subject="second", body="code 654321"))

    files = outbox.messages()
    assert len(files) == 2
    parsed = email.message_from_bytes(files[1].read_bytes(), policy=email.policy.default)
    assert parsed["To"] == "ada@example.com"
    assert parsed["From"] == "rota@example.com"
    assert parsed["Subject"] == "second"
    assert "654321" in parsed.get_content()
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert not list((tmp_path / "mail").glob(".*"))  # no temporary file left behind


def test_an_unwritable_outbox_is_a_mail_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")

    with pytest.raises(MailError):
        OutboxMailer(blocker / "mail").send(MailMessage(to="a@b.c", subject="s", body="b"))


def test_without_smtp_host_mail_goes_to_the_outbox_under_data_dir(tmp_path):
    mailer = mailer_from_settings(Settings(data_dir=tmp_path))

    assert isinstance(mailer, OutboxMailer)
    assert mailer.directory == tmp_path / "mail"


def test_with_smtp_host_mail_goes_to_smtp():
    mailer = mailer_from_settings(
        Settings(smtp_host="mail.example.com", smtp_port=465, smtp_tls="tls", smtp_user="u")
    )

    assert isinstance(mailer, SmtpMailer)
    assert (mailer.host, mailer.port, mailer.tls, mailer.user) == (
        "mail.example.com",
        465,
        "tls",
        "u",
    )
