"""The MFA collaborators built from settings: the keyring of TOTP secrets and the mailer."""

from __future__ import annotations

import logging

from domain.adapters.mail_outbox import OutboxMailer
from domain.adapters.mail_smtp import SmtpMailer
from domain.mail import Mailer
from domain.mfa.keyring import InvalidKeySpec, Keyring, new_key_spec
from domain.settings import Settings, SettingsError

log = logging.getLogger(__name__)


def keyring_from_settings(settings: Settings) -> Keyring:
    """The keyring of ROTA_TOTP_ENCRYPTION_KEY (`BASE64` or `k2:BASE64,k1:BASE64`).

    Unset: a development process makes an ephemeral key and says so (secrets enrolled with it
    are unreadable after a restart); any other environment refuses to start, because losing
    the key locks every MFA user out.
    """
    spec = settings.totp_encryption_key
    if not spec:
        if settings.environment != "development":
            raise SettingsError(
                "ROTA_TOTP_ENCRYPTION_KEY is not set (base64 of 32 random bytes, e.g. "
                "`python -c 'import os,base64;print(base64.b64encode(os.urandom(32)).decode())'`)"
            )
        log.warning(
            "ROTA_TOTP_ENCRYPTION_KEY is not set: using an ephemeral key; TOTP enrolments "
            "made now stop working when this process restarts"
        )
        spec = new_key_spec("dev")
    try:
        return Keyring.from_spec(spec)
    except InvalidKeySpec as exc:
        raise SettingsError(f"ROTA_TOTP_ENCRYPTION_KEY: {exc}") from None


def webhook_keyring_from_settings(settings: Settings) -> Keyring | None:
    """The keyring that encrypts webhook signing secrets (ROTA_WEBHOOK_ENCRYPTION_KEY, or
    Vault's secret/rota/webhooks). Unset: development stores them as they are (and says so);
    any other environment refuses to start."""
    spec = settings.webhook_encryption_key
    if not spec:
        if settings.environment != "development":
            raise SettingsError(
                "ROTA_WEBHOOK_ENCRYPTION_KEY is not set (base64 of 32 random bytes, as the TOTP "
                "key)"
            )
        log.warning("ROTA_WEBHOOK_ENCRYPTION_KEY is not set: webhook secrets are stored in clear")
        return None
    try:
        return Keyring.from_spec(spec)
    except InvalidKeySpec as exc:
        raise SettingsError(f"ROTA_WEBHOOK_ENCRYPTION_KEY: {exc}") from None


def mailer_from_settings(settings: Settings) -> Mailer:
    """SMTP when ROTA_SMTP_HOST is set, else the file outbox under data_dir/mail."""
    if not settings.smtp_host:
        return OutboxMailer(settings.data_dir / "mail", sender=settings.smtp_sender)
    return SmtpMailer(
        host=settings.smtp_host,
        port=settings.smtp_port,
        sender=settings.smtp_sender,
        tls=settings.smtp_tls,
        user=settings.smtp_user,
        password=settings.smtp_password,
    )
