"""GET /v1/jobs/{id} from memory (api/job_views.py): a finished job always; a queued or
running job only while the change feed is up, and never once it changed."""

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


def test_a_running_job_shows_fresh_progress_on_every_get_without_a_feed():
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


def test_with_the_feed_up_a_queued_job_is_read_once_until_it_changes():
    with ApiHarness() as api:
        job = api.add_job(api.tenant_a.id)
        api.deps.job_views.feed_up()
        opened: list[bool] = []
        with api.with_deps(uow_factory=counting(api, opened)) as client:
            auth = api.auth(api.key_a)
            first = [client.get(f"/v1/jobs/{job.id}", headers=auth) for _ in range(3)]
            queries_while_queued = len(opened)
            with api.uow_factory() as uow:
                uow.jobs.start(job.id, api.clock(), max_attempts=3)
                uow.commit()
            api.deps.job_views.changed(job.id)  # what the feed does when the row changes
            after = client.get(f"/v1/jobs/{job.id}", headers=auth)
    assert [v.json()["status"] for v in first] == ["queued"] * 3
    assert queries_while_queued == 2  # the key once, the job once
    assert after.json()["status"] == "running"
    assert len(opened) == 3


def test_a_change_unannounced_is_not_seen_while_the_feed_vouches_for_the_view():
    # The other side of the test above: it is the announcement that refreshes the view.
    with ApiHarness() as api:
        job = api.add_job(api.tenant_a.id)
        api.deps.job_views.feed_up()
        assert api.get(f"/v1/jobs/{job.id}").json()["status"] == "queued"
        with api.uow_factory() as uow:
            uow.jobs.start(job.id, api.clock(), max_attempts=3)
            uow.commit()
        assert api.get(f"/v1/jobs/{job.id}").json()["status"] == "queued"


def test_a_cancel_is_seen_by_the_next_get_before_the_feed_announces_it():
    with ApiHarness() as api:
        job = api.add_job(api.tenant_a.id)
        api.deps.job_views.feed_up()
        assert api.get(f"/v1/jobs/{job.id}").json()["status"] == "queued"  # now cached
        cancel = api.client.post(f"/v1/jobs/{job.id}/cancel", headers=api.auth(api.key_a))
        assert cancel.status_code == 200
        assert api.get(f"/v1/jobs/{job.id}").json()["status"] == "cancelled"


def test_when_the_feed_goes_down_live_views_are_read_again_and_finished_ones_kept():
    with ApiHarness() as api:
        live = api.add_job(api.tenant_a.id)
        done = api.add_job(api.tenant_a.id)
        api.finish_job(done.id, [])
        api.deps.job_views.feed_up()
        for job in (live, done):
            api.get(f"/v1/jobs/{job.id}")  # both cached
        api.deps.job_views.feed_down()
        opened: list[bool] = []
        with api.with_deps(uow_factory=counting(api, opened)) as client:
            auth = api.auth(api.key_a)
            assert client.get(f"/v1/jobs/{done.id}", headers=auth).status_code == 200
            after_finished = len(opened)
            assert client.get(f"/v1/jobs/{live.id}", headers=auth).status_code == 200
            assert client.get(f"/v1/jobs/{live.id}", headers=auth).status_code == 200
    assert after_finished == 1  # the key only: the finished job came from memory
    assert len(opened) == 3  # the live job was read on each GET
