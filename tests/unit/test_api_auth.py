"""API-key authentication: the short TTL cache, its bound, and tenant scoping over HTTP."""

from __future__ import annotations

import msgspec
import pytest

from api.auth import ApiKeyAuthenticator, bearer_token
from domain.services.tenants import create_api_key, create_tenant
from domain.tenancy import Principal
from tests.fakes import FakeUnitOfWork, FixedClock, Store
from tests.unit.api_support import ApiHarness


class Fixture:
    """A tenant with a key, a counting unit of work and a hand-driven monotonic clock."""

    def __init__(self, *, ttl: float = 5.0, max_entries: int = 100) -> None:
        self.store = Store()
        self.clock = FixedClock()
        self.opened = 0
        self.now = 0.0
        create_tenant("t", self.uow_factory, self.clock)
        self.issued = create_api_key("t", self.uow_factory, self.clock)
        self.opened = 0
        self.auth = ApiKeyAuthenticator(
            self.uow_factory,
            self.clock,
            ttl_seconds=ttl,
            max_entries=max_entries,
            monotonic=lambda: self.now,
        )

    def uow_factory(self, *, read_only: bool = False) -> FakeUnitOfWork:
        self.opened += 1
        return FakeUnitOfWork(self.store, read_only=read_only)

    def revoke(self) -> None:
        key = self.store.api_keys[self.issued.key.id]
        self.store.api_keys[key.id] = msgspec.structs.replace(key, revoked_at=self.clock())


def test_an_accepted_key_is_not_looked_up_again_within_the_ttl():
    f = Fixture(ttl=5.0)

    first = f.auth.authenticate(f.issued.secret)
    f.now = 4.9
    second = f.auth.authenticate(f.issued.secret)

    assert isinstance(first, Principal)
    assert second == first
    assert f.opened == 1


def test_a_revoked_key_is_refused_once_the_ttl_has_passed():
    f = Fixture(ttl=5.0)
    assert f.auth.authenticate(f.issued.secret) is not None
    f.revoke()

    f.now = 4.0
    still_cached = f.auth.authenticate(f.issued.secret)
    f.now = 5.0
    after_ttl = f.auth.authenticate(f.issued.secret)

    assert still_cached is not None  # the documented window
    assert after_ttl is None
    assert f.opened == 2


def test_refusals_are_not_cached_so_every_try_is_checked():
    f = Fixture()
    f.revoke()

    assert f.auth.authenticate(f.issued.secret) is None
    assert f.auth.authenticate(f.issued.secret) is None
    assert f.opened == 2


def test_the_cache_keeps_at_most_max_entries_dropping_the_oldest():
    f = Fixture(max_entries=2)
    extra = [create_api_key("t", f.uow_factory, f.clock).secret for _ in range(2)]
    secrets = [f.issued.secret, *extra]
    for secret in secrets:
        f.auth.authenticate(secret)

    assert f.auth.cached(secrets[0]) is None  # evicted
    assert f.auth.cached(secrets[1]) is not None
    assert f.auth.cached(secrets[2]) is not None


def test_a_zero_ttl_disables_the_cache():
    f = Fixture(ttl=0)

    f.auth.authenticate(f.issued.secret)
    f.auth.authenticate(f.issued.secret)

    assert f.auth.cached(f.issued.secret) is None
    assert f.opened == 2


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer  abc ", "abc"),
        ("Basic abc", None),
        ("Bearer", None),
        ("", None),
        (None, None),
    ],
)
def test_bearer_token_reads_only_the_bearer_scheme(header, token):
    assert bearer_token(header) == token


def test_a_cached_key_still_answers_only_for_its_own_tenant():
    with ApiHarness() as api:
        theirs = api.add_job(api.tenant_b.id)
        mine = api.add_job(api.tenant_a.id)

        for _ in range(2):  # the second round is served from the cache
            assert api.get(f"/v1/jobs/{mine.id}").status_code == 200
            assert api.get(f"/v1/jobs/{theirs.id}").status_code == 404


def test_a_hot_get_costs_no_extra_query_for_its_key():
    with ApiHarness() as api:
        job = api.add_job(api.tenant_a.id)
        opened = 0

        def counting_uow(*, read_only: bool = False) -> FakeUnitOfWork:
            nonlocal opened
            opened += 1
            return FakeUnitOfWork(api.store, read_only=read_only)

        with api.with_deps(uow_factory=counting_uow) as client:
            client.get(f"/v1/jobs/{job.id}", headers=api.auth(api.key_a))
            first = opened
            client.get(f"/v1/jobs/{job.id}", headers=api.auth(api.key_a))

    assert first == 2  # the key, then the job
    assert opened - first == 1  # only the job
