"""GET of a finished job is answered from memory; anything still moving is read every time."""

from __future__ import annotations

from domain.jobs import JobProgress, JobStatus
from tests.fakes import FakeUnitOfWork
from tests.unit.api_support import ApiHarness


def counting(api: ApiHarness, opened: list[bool]):
    def factory(*, read_only: bool = False) -> FakeUnitOfWork:
        opened.append(read_only)
        return FakeUnitOfWork(api.store, read_only=read_only)

    return factory


def test_a_finished_job_is_read_from_the_database_once():
    with ApiHarness() as api:
        job = api.add_job(api.tenant_a.id)
        api.finish_job(job.id, [])
        opened: list[bool] = []
        with api.with_deps(uow_factory=counting(api, opened)) as client:
            views = [
                client.get(f"/v1/jobs/{job.id}", headers=api.auth(api.key_a)) for _ in range(3)
            ]
    assert [v.json()["status"] for v in views] == ["succeeded"] * 3
    assert views[0].json() == views[2].json()
    # The key once, the job once: the two later GETs cost no query at all.
    assert len(opened) == 2


def test_a_running_job_shows_fresh_progress_on_every_get():
    with ApiHarness() as api:
        job = api.add_job(api.tenant_a.id)
        with api.uow_factory() as uow:
            attempt = uow.jobs.start(job.id, api.clock(), max_attempts=3)
            uow.commit()
        seen = []
        for objective in (50, 40):
            with api.uow_factory() as uow:
                uow.jobs.record_progress(job.id, attempt, JobProgress(objective=objective))
                uow.commit()
            seen.append(api.get(f"/v1/jobs/{job.id}").json()["progress"]["objective"])
    assert seen == [50, 40]


def test_a_cached_finished_job_stays_invisible_to_other_tenants():
    with ApiHarness() as api:
        job = api.add_job(api.tenant_a.id)
        api.finish_job(job.id, [])
        assert api.get(f"/v1/jobs/{job.id}").status_code == 200  # now cached
        other = api.get(f"/v1/jobs/{job.id}", key=api.key_b)
    assert (other.status_code, other.json()["code"]) == (404, "JOB_NOT_FOUND")


def test_the_status_change_to_finished_is_seen_at_once():
    with ApiHarness() as api:
        job = api.add_job(api.tenant_a.id)
        assert api.get(f"/v1/jobs/{job.id}").json()["status"] == JobStatus.QUEUED
        api.finish_job(job.id, [])
        assert api.get(f"/v1/jobs/{job.id}").json()["status"] == JobStatus.SUCCEEDED
