"""Telemetry of the API and the workers: structured logs (logging.py), Sentry (sentry.py) and
the scrubbing of secrets and personal data that both apply (scrub.py).

Each process calls `configure_logging` and `init_sentry` once at start-up, with a getter of
its correlation id: api/app.py (create_app) and workers/process.py (Celery's signals).
"""

from domain.adapters.telemetry.logging import configure_logging
from domain.adapters.telemetry.sentry import init_sentry

__all__ = ["configure_logging", "init_sentry"]
