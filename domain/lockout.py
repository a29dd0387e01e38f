"""The per-account failure policy (issue 4; NIST SP 800-63B section 5.2.2, "rate limiting").

Failed passwords and second factors count on the account, whatever the client IP, so an
attacker spreading guesses over many addresses is slowed all the same. The first failures
are free (people mistype); then each one locks the account for an exponentially growing
delay, capped; at 100 consecutive failures it stays locked until an administrator unlocks it,
as NIST requires ("no more than 100 consecutive failed attempts"). A success clears the
count (UserRepository.record_login).
"""

from __future__ import annotations

import datetime as dt
import math

FREE_FAILURES = 5
MAX_FAILURES = 100
MAX_DELAY = dt.timedelta(minutes=15)
# "Until an administrator unlocks": a date no lock will reach, so that one column holds both.
LOCKED_FOR_GOOD = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)


def locked_until(failures: int, now: dt.datetime) -> dt.datetime | None:
    """When the account opens again after its `failures`-th consecutive failure; None when
    it is not locked at all."""
    if failures >= MAX_FAILURES:
        return LOCKED_FOR_GOOD
    if failures < FREE_FAILURES:
        return None
    # 1 s, 2 s, 4 s ... capped before the power is taken: 2**94 seconds overflows timedelta.
    seconds = min(2 ** min(failures - FREE_FAILURES, 32), MAX_DELAY.total_seconds())
    return now + dt.timedelta(seconds=seconds)


def retry_after(until: dt.datetime | None, now: dt.datetime) -> int:
    """Whole seconds until `until` (0 when it has passed): the Retry-After of a refusal."""
    if until is None or until <= now:
        return 0
    return math.ceil((until - now).total_seconds())
