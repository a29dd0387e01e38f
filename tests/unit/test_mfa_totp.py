"""TOTP: window of ±1 step, the matched step returned, replays (same or older step) refused."""

from __future__ import annotations

import datetime as dt

from domain.mfa import totp

SECRET = totp.new_secret()
NOW = dt.datetime(2026, 11, 25, 12, 0, 10, tzinfo=dt.UTC)
STEP = totp.time_step(NOW)


def test_the_current_code_matches_its_step():
    assert totp.matching_step(SECRET, totp.code_at(SECRET, STEP), NOW) == STEP


def test_one_step_either_side_is_accepted_two_are_not():
    assert totp.matching_step(SECRET, totp.code_at(SECRET, STEP - 1), NOW) == STEP - 1
    assert totp.matching_step(SECRET, totp.code_at(SECRET, STEP + 1), NOW) == STEP + 1
    assert totp.matching_step(SECRET, totp.code_at(SECRET, STEP - 2), NOW) is None
    assert totp.matching_step(SECRET, totp.code_at(SECRET, STEP + 2), NOW) is None


def test_a_replay_of_the_last_accepted_step_is_refused():
    code = totp.code_at(SECRET, STEP)

    assert totp.matching_step(SECRET, code, NOW, last_step=STEP) is None


def test_an_older_step_than_the_last_accepted_one_is_refused():
    # After accepting the current step, the previous step's code (still in the window) must
    # not work either: otherwise an observed code could be used once more.
    code = totp.code_at(SECRET, STEP - 1)

    assert totp.matching_step(SECRET, code, NOW, last_step=STEP) is None


def test_a_newer_step_than_the_last_accepted_one_is_accepted():
    code = totp.code_at(SECRET, STEP + 1)

    assert totp.matching_step(SECRET, code, NOW, last_step=STEP) == STEP + 1


def test_malformed_codes_do_not_match():
    for code in ("", "12345", "1234567", "abcdef", "12 34 5x"):
        assert totp.matching_step(SECRET, code, NOW) is None


def test_spaces_inside_a_code_are_ignored():
    code = totp.code_at(SECRET, STEP)

    assert totp.matching_step(SECRET, f"{code[:3]} {code[3:]}", NOW) == STEP


def test_the_uri_names_issuer_account_and_secret():
    uri = totp.provisioning_uri(SECRET, "ada@example.com")

    assert uri.startswith("otpauth://totp/Rota:ada%40example.com?")
    assert f"secret={SECRET}" in uri
    assert "issuer=Rota" in uri


def test_the_qr_code_is_an_svg_document():
    svg = totp.qr_svg(totp.provisioning_uri(SECRET, "ada@example.com"))

    assert svg.lstrip().startswith("<svg")
    assert svg.rstrip().endswith("</svg>")


def test_secrets_are_random_and_160_bits():
    assert totp.new_secret() != totp.new_secret()
    assert len(SECRET) * 5 >= 160
