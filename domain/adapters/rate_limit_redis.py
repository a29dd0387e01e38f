"""Rate-limit counters in Redis, shared by every API process: GCRA in one Lua script.

GCRA (the generic cell rate algorithm, as in redis-cell and the `throttled` library) keeps one
number per key, the "theoretical arrival time" (TAT). A limit of N per T seconds admits a
request when TAT - T <= now, and then moves TAT forward by T/N. It behaves like a sliding
window with no boundary bursts, costs one key per client, and the key expires once TAT is in
the past, so idle clients leave nothing behind.

The script checks every key of a request (its principal's limit and its tenant's submit
limit) and charges them only if all admit it: one round trip, atomic, so two processes can
never both take the last slot. It reads the clock from Redis (`TIME`), so API hosts with
skewed clocks still share one window.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Sequence
from typing import Any

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

from domain.rate_limits import Hit

# Fail fast: an auth request waits at most this long before answering 503, and an API
# request before it is served unlimited.
CONNECT_TIMEOUT_SECONDS = 0.5
SOCKET_TIMEOUT_SECONDS = 0.5
# The event loop's client holds at most this many connections; a request beyond them waits
# for one (up to POOL_WAIT_SECONDS) instead of being told the store is down: with an
# unbounded wait-free pool, a burst of requests would have turned limiting off for the API
# and refused every login.
MAX_ASYNC_CONNECTIONS = 64
POOL_WAIT_SECONDS = 5.0
KEY_PREFIX = "rota:rl:"

# KEYS: the counters; ARGV: count_1, window_ms_1, count_2, window_ms_2, ...
# Returns, per key: {admitted (0/1), remaining, retry_after_ms, reset_ms}; when any key
# refuses, nothing is charged.
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out, tats, refused = {}, {}, false
for i, key in ipairs(KEYS) do
  local count = tonumber(ARGV[2 * i - 1])
  local window = tonumber(ARGV[2 * i])
  local interval = window / count
  local tat = tonumber(redis.call('GET', key)) or now
  if tat < now then tat = now end
  local new_tat = tat + interval
  local earliest = new_tat - window
  if earliest > now then
    refused = true
    out[i] = {0, 0, math.ceil(earliest - now), math.ceil(tat - now)}
  else
    tats[i] = new_tat
    out[i] = {1, math.floor((now - earliest) / interval), 0, math.ceil(new_tat - now)}
  end
end
if refused then
  for i = 1, #KEYS do
    if out[i][1] == 1 then
      -- not charged after all: what is left is one more, and the reset is one interval less
      local interval = tonumber(ARGV[2 * i]) / tonumber(ARGV[2 * i - 1])
      out[i][2] = out[i][2] + 1
      out[i][4] = math.max(0, math.ceil(out[i][4] - interval))
    end
  end
  return out
end
for i, key in ipairs(KEYS) do
  local ttl = math.max(1, math.ceil(tats[i] - now))
  redis.call('SET', key, string.format('%.3f', tats[i]), 'PX', ttl)
end
return out
"""


class RedisRateLimitStore:
    """domain.rate_limits.RateLimitStore on Redis.

    Two clients on one URL: a blocking one for `hit` (auth handlers, which run in threads)
    and an asyncio one for `hit_async` (every API request, on the event loop). An asyncio
    client's connections belong to the loop that opened them, so it is made on first use in
    a loop and made again if the caller's loop is another one (each test client runs its own).
    """

    def __init__(
        self,
        client: redis.Redis,
        async_client: Callable[[], redis.asyncio.Redis] | None = None,
    ) -> None:
        self._client = client
        self._script = client.register_script(_GCRA)
        self._make_async_client = async_client
        self._async: tuple[asyncio.AbstractEventLoop, redis.asyncio.Redis, Any] | None = None

    @classmethod
    def from_url(cls, url: str) -> RedisRateLimitStore:
        # Its own clients: the shared one waits up to 10 s on a socket (large cached
        # solutions), far too long for a check made on every request.
        timeouts = {
            "socket_connect_timeout": CONNECT_TIMEOUT_SECONDS,
            "socket_timeout": SOCKET_TIMEOUT_SECONDS,
            "health_check_interval": 30,
        }
        return cls(
            redis.Redis.from_url(url, retry=Retry(NoBackoff(), 1), **timeouts),
            lambda: redis.asyncio.Redis(
                connection_pool=redis.asyncio.BlockingConnectionPool.from_url(
                    url,
                    max_connections=MAX_ASYNC_CONNECTIONS,
                    timeout=POOL_WAIT_SECONDS,
                    retry=AsyncRetry(NoBackoff(), 1),
                    **timeouts,
                )
            ),
        )

    def hit(self, checks: Sequence[tuple[str, int, int]]) -> list[Hit]:
        keys, args = _script_input(checks)
        try:
            rows = self._script(keys=keys, args=args)
        except redis.RedisError as error:
            raise _unavailable(error) from error
        return _hits(rows)

    async def hit_async(self, checks: Sequence[tuple[str, int, int]]) -> list[Hit]:
        keys, args = _script_input(checks)
        script = self._async_script()
        try:
            rows = await script(keys=keys, args=args)
        except (TimeoutError, redis.RedisError, OSError) as error:
            raise _unavailable(error) from error
        return _hits(rows)

    def _async_script(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._async is None or self._async[0] is not loop:
            if self._make_async_client is None:
                raise RuntimeError("this store was made without an asyncio client")
            # The client of a loop that has ended is dropped, not closed: its sockets cannot
            # be awaited from another loop, and they went with their own.
            client = self._make_async_client()
            self._async = (loop, client, client.register_script(_GCRA))
        return self._async[2]

    async def aclose(self) -> None:
        if self._async is not None and self._async[0] is asyncio.get_running_loop():
            # The client was given its pool, so it does not close it by default.
            await self._async[1].aclose(close_connection_pool=True)
        self._async = None

    def close(self) -> None:
        self._client.close()


def _script_input(checks: Sequence[tuple[str, int, int]]) -> tuple[list[str], list[int]]:
    keys = [KEY_PREFIX + key for key, _, _ in checks]
    args: list[int] = []
    for _, count, window in checks:
        args += [count, window * 1000]
    return keys, args


def _unavailable(error: BaseException) -> ConnectionError:
    return ConnectionError(f"rate-limit store unavailable: {type(error).__name__}")


def _hits(rows: list[list[int]]) -> list[Hit]:
    return [
        Hit(
            admitted=bool(admitted),
            remaining=int(remaining),
            retry_after_seconds=math.ceil(int(retry_ms) / 1000),
            reset_seconds=math.ceil(int(reset_ms) / 1000),
        )
        for admitted, remaining, retry_ms, reset_ms in rows
    ]
