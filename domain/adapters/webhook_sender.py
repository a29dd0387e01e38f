"""Sends one webhook attempt over HTTP (domain.webhook_ports.WebhookSender), with httpx.

Every send checks the URL again (domain/adapters/webhook_guard.py) and connects to the address
that check approved, never to a fresh DNS answer: the URL's host is replaced by that address,
while the `Host` header and the TLS server name (SNI and certificate check, through httpcore's
`sni_hostname` request extension) keep the name the tenant registered.

What the receiver can make us do is bounded: short connect and read timeouts, redirects not
followed (the new location was never checked; a 3xx counts as a failure), no proxy from the
environment (it would connect elsewhere than the checked address), no kept-alive connection
(one may not be reused under another name), and at most MAX_RESPONSE_BYTES of the response
read. httpx's read timeout applies to each read; the worker task's time limit bounds a receiver
that drips its headers byte by byte (workers/webhook_tasks.py).
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Mapping

import httpx

from domain.adapters.webhook_guard import WebhookGuard
from domain.settings import Settings
from domain.webhooks import WEBHOOK_URL_UNRESOLVABLE, SendResult, UnsafeWebhookUrl

# Enough for a receiver's short error message, kept in the delivery's last_error.
MAX_RESPONSE_BYTES = 1024
ERROR_EXCERPT_CHARS = 200


class HttpWebhookSender:
    def __init__(
        self,
        guard: WebhookGuard,
        *,
        connect_timeout: float,
        read_timeout: float,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self._guard = guard
        self._read_timeout = read_timeout
        self._client = httpx.Client(
            timeout=httpx.Timeout(
                connect=connect_timeout, read=read_timeout, write=read_timeout, pool=connect_timeout
            ),
            follow_redirects=False,
            trust_env=False,
            limits=httpx.Limits(max_keepalive_connections=0),
            verify=verify,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpWebhookSender:
        return cls(
            WebhookGuard(settings.webhook_allow_networks),
            connect_timeout=settings.webhook_connect_timeout_seconds,
            read_timeout=settings.webhook_read_timeout_seconds,
        )

    def send(self, url: str, headers: Mapping[str, str], body: bytes) -> SendResult:
        try:
            target = self._guard.check(url)
        except UnsafeWebhookUrl as exc:
            # DNS may answer again later; an address that is refused now is refused for good.
            return SendResult(error=exc.detail, transient=exc.code == WEBHOOK_URL_UNRESOLVABLE)
        extensions = {"sni_hostname": target.tls_name} if target.tls_name else None
        try:
            with self._client.stream(
                "POST",
                target.connect_url,
                headers={**headers, "Host": target.host_header},
                content=body,
                extensions=extensions,
            ) as response:
                excerpt = self._excerpt(response)
        except httpx.TimeoutException as exc:
            return SendResult(error=f"timed out ({_kind(exc)})")
        except httpx.HTTPError as exc:
            return SendResult(error=_short(f"{_kind(exc)}: {exc}"))
        if 200 <= response.status_code < 300:
            return SendResult(status_code=response.status_code)
        return SendResult(status_code=response.status_code, error=excerpt)

    def close(self) -> None:
        self._client.close()

    def _excerpt(self, response: httpx.Response) -> str | None:
        """The start of the response body (at most MAX_RESPONSE_BYTES read), as safe text."""
        if 200 <= response.status_code < 300:
            return None  # nobody needs a success's body: do not wait for it
        received = bytearray()
        deadline = time.monotonic() + self._read_timeout
        try:
            for chunk in response.iter_raw():
                received += chunk
                if len(received) >= MAX_RESPONSE_BYTES or time.monotonic() > deadline:
                    break
        except httpx.HTTPError:
            pass  # the status is what counts; a body cut short is still an excerpt
        text = received[:MAX_RESPONSE_BYTES].decode("utf-8", errors="replace")
        if response.is_redirect:
            text = f"redirects are not followed; {text}"
        return _short(f"HTTP {response.status_code}: {text}")


def _kind(exc: Exception) -> str:
    return type(exc).__name__


def _short(text: str) -> str:
    """One line of printable text, short enough for a listing."""
    clean = "".join(c if c.isprintable() else " " for c in text)
    return " ".join(clean.split())[:ERROR_EXCERPT_CHARS]
