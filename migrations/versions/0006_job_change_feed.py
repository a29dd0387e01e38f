"""Every change to a job row is announced on the `rota_job_changed` channel (PostgreSQL).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26

An API process keeps the views of the jobs it has read and drops one when the database says
that job changed (api/job_views.py, domain/adapters/db/job_changes.py), so polling a queued or
running job costs a query only after it changed. A trigger rather than the code that writes:
workers, cancels, the retention sweep and any hand-made UPDATE are all covered. NOTIFY is
delivered at commit and folded per transaction; notifying commits take the notification
queue's lock in turn, which at Rota's write rate (about one progress write per running job
per second) is far from a bottleneck but was not measured under a worker fleet. Inserts are
not announced: no process can hold a view of a job before it exists. SQLite has no NOTIFY;
there the API caches finished jobs only.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Also in domain/adapters/db/job_changes.py (the listener); a migration never imports app code.
CHANNEL = "rota_job_changed"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"""
        CREATE FUNCTION rota_job_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', OLD.id::text);
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER jobs_changed AFTER UPDATE OR DELETE ON jobs"
        " FOR EACH ROW EXECUTE FUNCTION rota_job_changed()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER jobs_changed ON jobs")
    op.execute("DROP FUNCTION rota_job_changed()")
