"""Backup and e-mailed codes: format, keyed hashes, the send limit of 3 per 15 minutes."""

from __future__ import annotations

import datetime as dt
import re
import uuid

from domain.mfa import codes
from domain.mfa.keyring import Keyring, new_key_spec

USER = uuid.uuid4()
NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
KEYS = Keyring.from_spec(new_key_spec())


def test_ten_distinct_human_friendly_backup_codes():
    batch = codes.new_backup_codes()

    assert len(batch) == 10 == len(set(batch))
    assert all(re.fullmatch(r"[2-9a-hjkmnp-z]{5}-[2-9a-hjkmnp-z]{5}", c) for c in batch)


def test_a_backup_code_is_found_however_it_is_typed():
    code = codes.new_backup_codes()[0]
    stored = codes.backup_code_hash(KEYS, USER, code)

    typed = f"  {code.upper().replace('-', ' ')} "

    assert stored in codes.backup_code_hashes(KEYS, USER, typed)


def test_the_same_code_of_two_users_hashes_differently():
    code = codes.new_backup_codes()[0]

    assert codes.backup_code_hash(KEYS, USER, code) != codes.backup_code_hash(
        KEYS, uuid.uuid4(), code
    )


def test_the_hash_does_not_contain_the_code():
    code = codes.new_backup_codes()[0]

    assert code not in codes.backup_code_hash(KEYS, USER, code)


def test_email_codes_have_six_digits():
    for _ in range(50):
        assert re.fullmatch(r"\d{6}", codes.new_email_code())


def test_three_sends_per_fifteen_minutes():
    assert codes.email_sends_left([], NOW) == 3
    two = [NOW - dt.timedelta(minutes=1), NOW - dt.timedelta(minutes=2)]
    assert codes.email_sends_left(two, NOW) == 1
    three = [*two, NOW - dt.timedelta(minutes=14)]
    assert codes.email_sends_left(three, NOW) == 0


def test_sends_older_than_the_window_do_not_count():
    old = [NOW - dt.timedelta(minutes=15), NOW - dt.timedelta(hours=1)] * 3

    assert codes.email_sends_left(old, NOW) == 3


def test_retry_after_is_when_the_oldest_send_leaves_the_window():
    sent = [NOW - dt.timedelta(minutes=m) for m in (1, 2, 10)]

    assert codes.email_retry_after(sent, NOW) == 5 * 60 + 1
    assert codes.email_retry_after(sent[:2], NOW) == 0
