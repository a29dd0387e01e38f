"""LeasedCredentials (domain/adapters/vault/leases.py) on a scripted credentials source: when a
lease is renewed, when its user is replaced, and how a refused user is handled."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.adapters.vault.leases import REFRESH_COOLDOWN_SECONDS, LeasedCredentials
from domain.adapters.vault.policies import Layout, all_policies
from domain.secrets import DatabaseCredentials, SecretsUnavailable

ROOT = Path(__file__).resolve().parents[2]


class Source:
    """Issues users u1, u2, ...; `grants` scripts what each renewal returns (an int: the new
    TTL; an exception: raised)."""

    def __init__(self, lease_seconds: int = 60) -> None:
        self.lease_seconds = lease_seconds
        self.issued = 0
        self.grants: list[int | Exception] = []
        self.renewed: list[tuple[str, int]] = []
        self.down = False

    def issue(self) -> DatabaseCredentials:
        if self.down:
            raise SecretsUnavailable("vault at x: unreachable")
        self.issued += 1
        return DatabaseCredentials(
            f"u{self.issued}", "pw", f"lease/{self.issued}", self.lease_seconds, True
        )

    def renew(self, lease_id: str, increment_seconds: int) -> int:
        self.renewed.append((lease_id, increment_seconds))
        grant = self.grants.pop(0)
        if isinstance(grant, Exception):
            raise grant
        return grant


@pytest.fixture
def clock():
    return [1000.0]


def leased(source: Source, clock: list[float]) -> LeasedCredentials:
    return LeasedCredentials(source, clock=lambda: clock[0])


def test_nothing_is_renewed_before_two_thirds_of_the_lease(clock):
    source = Source(60)
    creds = leased(source, clock)
    clock[0] += 39

    due = creds.upkeep()

    assert source.renewed == []
    assert due == pytest.approx(1.0)


def test_the_lease_is_renewed_for_its_full_length_when_due(clock):
    source = Source(60)
    source.grants = [60]
    creds = leased(source, clock)
    clock[0] += 40

    due = creds.upkeep()

    assert source.renewed == [("lease/1", 60)]
    assert creds.current()[0].username == "u1"
    assert creds.generation == 0
    assert due == pytest.approx(40.0)


def test_near_its_max_ttl_the_user_is_replaced_and_the_generation_bumped(clock):
    source = Source(60)
    source.grants = [10]  # less than a third of what was asked: the max TTL is near
    creds = leased(source, clock)
    clock[0] += 40

    creds.upkeep()

    assert creds.current()[0].username == "u2"
    assert creds.generation == 1
    assert creds.replacements == 1


def test_a_revoked_lease_gets_a_new_user_at_the_next_renewal(clock):
    source = Source(60)
    source.grants = [SecretsUnavailable("lease not found")]
    creds = leased(source, clock)
    clock[0] += 40

    creds.upkeep()

    assert creds.current()[0].username == "u2"


def test_vault_down_keeps_the_user_and_retries(clock):
    source = Source(60)
    source.grants = [SecretsUnavailable("unreachable")]
    creds = leased(source, clock)
    source.down = True
    clock[0] += 40

    due = creds.upkeep()

    assert creds.current()[0].username == "u1"
    assert due == pytest.approx(30.0)


def test_a_refused_user_is_replaced_once_however_many_connections_saw_it(clock):
    source = Source(60)
    creds = leased(source, clock)

    assert creds.refused(0) is True  # the first refusal draws u2
    assert creds.refused(0) is True  # a stale refusal of u1: u2 is there to try
    assert source.issued == 2
    assert creds.refused(1) is False  # u2 refused at once: no new user within the cooldown
    clock[0] += REFRESH_COOLDOWN_SECONDS
    assert creds.refused(1) is True
    assert source.issued == 3


def test_the_policy_files_in_ops_are_the_generated_ones():
    for name, hcl in all_policies(Layout()).items():
        assert (ROOT / "ops" / "vault" / "policies" / f"{name}.hcl").read_text() == hcl


def test_the_worker_policy_grants_no_jwt_key_and_no_ddl_role():
    worker = all_policies(Layout())["rota-worker"]
    assert "secret/data/rota/jwt" not in worker
    assert "database/creds/rota-migrate" not in worker
    assert 'path "database/creds/rota-app"' in worker
