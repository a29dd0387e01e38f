"""The process-wide wiring: every adapter a process needs, built once from Settings.

Build one per process, and in a forking server after the fork: a SQLAlchemy engine's pool and a
Redis connection pool hold sockets that must not be shared between processes (SQLAlchemy,
"Using Connection Pools with Multiprocessing or os.fork()"). Nothing here connects while it is
built; the first use does, and `readiness` checks each dependency on demand.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import redis
from kombu import Connection
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import Engine

from domain.adapters.celery_config import broker_url
from domain.adapters.celery_queue import CeleryJobQueue, make_producer_app
from domain.adapters.db.engine import make_engine, ping
from domain.adapters.db.uow import sql_uow_factory
from domain.adapters.mfa_wiring import webhook_keyring_from_settings
from domain.adapters.rate_limit_redis import RedisRateLimitStore
from domain.adapters.redis_cache import CACHE_RETRIES, RedisResultCache
from domain.adapters.secrets_wiring import attach_database_credentials
from domain.adapters.secrets_wiring import release as release_database_credentials
from domain.adapters.solve import IsolatedSolver
from domain.adapters.webhook_sender import HttpWebhookSender
from domain.ports import Clock, ResultCache, UnitOfWorkFactory
from domain.settings import Settings

# Seconds: a readiness probe, or a cache call while Redis is down, must answer fast.
REDIS_CONNECT_TIMEOUT = 2.0
# A 20 MB solution over a loaded network still fits.
REDIS_SOCKET_TIMEOUT = 10.0
BROKER_CHECK_TIMEOUT = 2.0


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Container:
    settings: Settings
    engine: Engine
    uow_factory: UnitOfWorkFactory
    cache: ResultCache
    queue: CeleryJobQueue
    redis: redis.Redis
    clock: Clock
    # Concrete (not the SolveFunction port): a worker's pool process keeps a spare child.
    solve: IsolatedSolver
    webhook_sender: HttpWebhookSender
    # Rate-limit counters (api/rate_limit.py), on their own fail-fast Redis client.
    rate_limits: RedisRateLimitStore
    # name -> a check that raises when that dependency cannot be reached (/health/ready).
    readiness: dict[str, Callable[[], None]] = field(default_factory=dict)

    def close(self) -> None:
        """Release every pooled connection and the spare solver child (process shutdown)."""
        self.solve.close()
        self.queue.close()
        self.webhook_sender.close()
        self.redis.close()
        self.rate_limits.close()
        self.engine.dispose()
        release_database_credentials()


def build_container(settings: Settings) -> Container:
    """Wire the adapters; raises SettingsError when Redis or the broker is not configured."""
    engine = make_engine(settings)
    # With Vault, connect as leased users of the app role (renewed in the background).
    attach_database_credentials(engine, settings)
    client = redis_client(settings.require_redis_url())
    broker = broker_url(settings)
    return Container(
        settings=settings,
        engine=engine,
        uow_factory=sql_uow_factory(
            engine, webhook_keyring=webhook_keyring_from_settings(settings)
        ),
        cache=RedisResultCache(client),
        queue=CeleryJobQueue(make_producer_app(settings)),
        redis=client,
        clock=utc_now,
        solve=IsolatedSolver.from_settings(settings),
        webhook_sender=HttpWebhookSender.from_settings(settings),
        rate_limits=RedisRateLimitStore.from_url(settings.require_redis_url()),
        readiness={
            "database": lambda: ping(engine),
            "redis": lambda: _ping_redis(client),
            "broker": lambda: check_broker(broker),
        },
    )


def redis_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=REDIS_CONNECT_TIMEOUT,
        socket_timeout=REDIS_SOCKET_TIMEOUT,
        retry=Retry(NoBackoff(), CACHE_RETRIES),
        # Re-check a connection idle for this long before using it (a restarted Redis).
        health_check_interval=30,
    )


def _ping_redis(client: redis.Redis) -> None:
    if not client.ping():
        raise ConnectionError("Redis did not answer PING")


def check_broker(url: str) -> None:
    """Connect to the broker once, with a short timeout; raise when it cannot."""
    with Connection(
        url,
        connect_timeout=BROKER_CHECK_TIMEOUT,
        transport_options={"socket_timeout": BROKER_CHECK_TIMEOUT},
    ) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, timeout=BROKER_CHECK_TIMEOUT)
