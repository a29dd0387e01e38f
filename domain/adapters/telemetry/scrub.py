"""Secrets and personal data taken out of text before it leaves the process.

Two readers, two levels: log lines stay inside the operator's systems, so only secrets are
removed from them (API keys, bearer tokens, passwords in URLs, SQL parameters that may hold a
whole roster); Sentry is a third party, so its events also lose e-mail addresses and every
value stored under a sensitive name (sentry.py). Redaction is by pattern, so it also catches
a key quoted inside an exception message or a log line, not only a header that holds one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

FILTERED = "[Filtered]"

# Rota's own secrets: API keys ("rota_" + 43 URL-safe characters, domain/tenancy.py) and
# webhook signing secrets ("whsec_" + base64, Standard Webhooks).
_OWN_SECRET = re.compile(r"\b(?:rota|whsec)_[A-Za-z0-9_+/=-]{8,}")
_AUTH_SCHEME = re.compile(r"(?i)\b(bearer|basic|token)(\s+)[A-Za-z0-9._~+/=-]{6,}")
# scheme://user:password@host (DATABASE_URL, REDIS_URL, a DSN quoted by a driver's error).
_URL_PASSWORD = re.compile(r"(://[^/\s:@]*:)[^/\s@]+@")
# name=value pairs (query strings, form bodies, key=value log text) whose name says secret.
_SECRET_PARAMETER = re.compile(
    r"(?i)(?<![\w-])([\w.-]*(?:token|api[_-]?key|apikey|secret|passw(?:or)?d|pwd|signature"
    r"|session|credential)[\w.-]*=)[^&#;\s\"'<>]+"
)
# SQLAlchemy quotes a failed statement's parameters in the exception text: for an INSERT of a
# job that is the whole problem (names, e-mail addresses) and for a key lookup, its hash.
_SQL_PARAMETERS = re.compile(r"\[parameters: .*?(?=\n\(Background on this error|\Z)", re.DOTALL)
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")

# Names (of headers, fields, variables) whose value is a secret or personal whatever it holds.
_SENSITIVE_NAME = re.compile(
    r"(?i)^(?:authorization|proxy-authorization|cookie|set-cookie|x-api-key|api[_-]?key"
    r"|apikey|x-forwarded-for|x-real-ip|forwarded|remote[_-]addr|ip_address"
    r"|[\w.-]*(?:token|secret|passw(?:or)?d|signature|session|credential)[\w.-]*)$"
)


def scrub_secrets(text: str) -> str:
    """`text` without secrets (for log lines)."""
    text = _OWN_SECRET.sub(FILTERED, text)
    text = _AUTH_SCHEME.sub(rf"\1\2{FILTERED}", text)
    text = _URL_PASSWORD.sub(rf"\g<1>{FILTERED}@", text)
    text = _SECRET_PARAMETER.sub(rf"\g<1>{FILTERED}", text)
    return _SQL_PARAMETERS.sub(f"[parameters: {FILTERED}]", text)


def scrub_personal(text: str) -> str:
    """`text` without secrets nor e-mail addresses (for what leaves for a third party)."""
    return _EMAIL.sub("[email]", scrub_secrets(text))


def is_sensitive_name(name: str) -> bool:
    return _SENSITIVE_NAME.match(name) is not None


def scrub_data(value: Any, scrub_text: Callable[[str], str] = scrub_personal) -> Any:
    """A copy of nested dicts/lists/tuples with every string scrubbed and every value under a
    sensitive key replaced; other values unchanged."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {
            key: FILTERED
            if isinstance(key, str) and is_sensitive_name(key)
            else scrub_data(item, scrub_text)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        # A header list of [name, value] pairs: the name decides, as for a dict key.
        if len(value) == 2 and isinstance(value[0], str) and is_sensitive_name(value[0]):
            return type(value)((value[0], FILTERED))
        return type(value)(scrub_data(item, scrub_text) for item in value)
    return value
