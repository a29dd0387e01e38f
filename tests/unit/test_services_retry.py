"""retry_conflicts: a use case aborted by a serialization failure or deadlock runs again."""

from __future__ import annotations

import pytest

from domain.errors import RetryableConflict, ServiceUnavailable
from domain.services.retry import MAX_DELAY, retry_conflicts


class Flaky:
    """Raises `error` for the first `failures` calls, then returns how many calls it took."""

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        self.failures = failures
        self.error = error or RetryableConflict("could not serialize access (40001)")
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return self.calls


def test_a_conflict_is_retried_until_the_transaction_goes_through():
    sleeps: list[float] = []
    transaction = Flaky(failures=2)
    assert retry_conflicts(transaction, attempts=4, sleep=sleeps.append) == 3
    assert len(sleeps) == 2


def test_retries_are_bounded_and_the_last_conflict_is_raised():
    sleeps: list[float] = []
    transaction = Flaky(failures=100)
    with pytest.raises(RetryableConflict):
        retry_conflicts(transaction, attempts=4, sleep=sleeps.append)
    assert transaction.calls == 4
    assert len(sleeps) == 3


def test_the_backoff_grows_from_small_and_stays_capped():
    sleeps: list[float] = []
    with pytest.raises(RetryableConflict):
        retry_conflicts(Flaky(failures=100), attempts=12, base_delay=0.01, sleep=sleeps.append)
    assert all(0 <= s <= MAX_DELAY for s in sleeps)
    assert sleeps[0] <= 0.01


@pytest.mark.parametrize("error", [ServiceUnavailable("database down"), KeyError("bug")])
def test_other_errors_are_not_retried(error):
    transaction = Flaky(failures=1, error=error)
    with pytest.raises(type(error)):
        retry_conflicts(transaction, sleep=lambda _: None)
    assert transaction.calls == 1
