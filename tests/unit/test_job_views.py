"""JobViews (api/job_views.py): what is kept, for how long, and the read/announce race."""

from __future__ import annotations

import uuid

from api.job_views import JobViews

TENANT, OTHER = uuid.uuid4(), uuid.uuid4()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def views(**options) -> tuple[JobViews[str], Clock]:
    clock = Clock()
    return JobViews(monotonic=clock, **options), clock


def put(cache: JobViews[str], job: uuid.UUID, view: str, *, finished: bool) -> None:
    cache.put(TENANT, job, view, finished=finished, version=cache.version())


def test_a_finished_view_is_kept_without_a_feed_and_a_live_one_is_not():
    cache, _ = views()
    done, live = uuid.uuid4(), uuid.uuid4()
    put(cache, done, "done", finished=True)
    put(cache, live, "live", finished=False)
    assert (cache.get(TENANT, done), cache.get(TENANT, live)) == ("done", None)


def test_with_the_feed_up_a_live_view_is_kept_until_its_job_changes():
    cache, _ = views()
    cache.feed_up()
    live, other = uuid.uuid4(), uuid.uuid4()
    put(cache, live, "queued", finished=False)
    put(cache, other, "other", finished=False)
    assert cache.get(TENANT, live) == "queued"
    cache.changed(live)
    assert cache.get(TENANT, live) is None
    assert cache.get(TENANT, other) == "other"  # only the job that changed is forgotten


def test_a_view_read_before_a_change_announced_during_the_read_is_not_stored():
    cache, _ = views()
    cache.feed_up()
    job = uuid.uuid4()
    version = cache.version()  # the read starts ...
    cache.changed(job)  # ... the job changes and the feed says so before the read ends
    cache.put(TENANT, job, "stale", finished=False, version=version)
    assert cache.get(TENANT, job) is None


def test_a_read_that_started_before_the_feed_came_up_is_not_stored():
    cache, _ = views()
    job = uuid.uuid4()
    version = cache.version()
    cache.feed_up()
    cache.put(TENANT, job, "maybe stale", finished=False, version=version)
    assert cache.get(TENANT, job) is None


def test_feed_down_forgets_live_views_keeps_finished_ones_and_refuses_new_live_ones():
    cache, _ = views()
    cache.feed_up()
    live, done = uuid.uuid4(), uuid.uuid4()
    put(cache, live, "live", finished=False)
    put(cache, done, "done", finished=True)
    cache.feed_down()
    assert (cache.get(TENANT, live), cache.get(TENANT, done)) == (None, "done")
    put(cache, live, "live", finished=False)
    assert cache.get(TENANT, live) is None


def test_a_deleted_finished_job_is_forgotten_when_announced():
    cache, _ = views()
    cache.feed_up()
    done = uuid.uuid4()
    put(cache, done, "done", finished=True)
    cache.changed(done)
    assert cache.get(TENANT, done) is None


def test_another_tenant_never_gets_the_view():
    cache, _ = views()
    done = uuid.uuid4()
    put(cache, done, "done", finished=True)
    assert cache.get(OTHER, done) is None
    assert cache.get(TENANT, done) == "done"


def test_views_expire_after_their_time_to_live():
    cache, clock = views(finished_ttl=60.0, live_ttl=30.0)
    cache.feed_up()
    live, done = uuid.uuid4(), uuid.uuid4()
    put(cache, live, "live", finished=False)
    put(cache, done, "done", finished=True)
    clock.now = 30.0
    assert (cache.get(TENANT, live), cache.get(TENANT, done)) == (None, "done")
    clock.now = 60.0
    assert cache.get(TENANT, done) is None


def test_the_oldest_stored_view_makes_room_beyond_the_cap():
    cache, _ = views(max_entries=2)
    jobs = [uuid.uuid4() for _ in range(3)]
    for n, job in enumerate(jobs):
        put(cache, job, f"v{n}", finished=True)
    assert [cache.get(TENANT, job) for job in jobs] == [None, "v1", "v2"]


def test_a_change_of_another_job_during_the_read_does_not_stop_the_put():
    cache, _ = views()
    cache.feed_up()
    job, other = uuid.uuid4(), uuid.uuid4()
    version = cache.version()
    cache.changed(other)
    cache.put(TENANT, job, "fresh", finished=False, version=version)
    assert cache.get(TENANT, job) == "fresh"


def test_a_read_overlapping_more_changes_than_remembered_is_not_stored():
    cache, _ = views(recent_changes=3)
    cache.feed_up()
    job = uuid.uuid4()
    version = cache.version()
    cache.changed(job)  # forgotten below: the log keeps only the last three changes
    for _ in range(3):
        cache.changed(uuid.uuid4())
    cache.put(TENANT, job, "stale", finished=False, version=version)
    assert cache.get(TENANT, job) is None
    # A read that began after the forgotten change is cached as usual.
    cache.put(TENANT, job, "fresh", finished=False, version=cache.version())
    assert cache.get(TENANT, job) == "fresh"
