"""Celery settings, read by the worker (`app.config_from_object("celeryconfig")`).

Values come from the environment through domain.settings.get_settings(); what each setting is
and why it was chosen for long solves is in domain/adapters/celery_config.py, which the API's
producer app shares so that both ends agree on queues, serializers and transport options.
Importing this module fails at once (SettingsError) when no broker is configured.
"""

from domain.adapters.celery_config import celery_config
from domain.settings import get_settings

# Celery reads the module's attributes: broker_url, task_acks_late, task_time_limit ...
globals().update(celery_config(get_settings()))
