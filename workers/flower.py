"""How Flower is started: bound to localhost, behind HTTP basic auth.

`flower_command(settings)` returns the argv and the environment to run it with. The credentials
go through the environment (FLOWER_BASIC_AUTH, read by flower's apply_env_options), never argv,
so they are not visible in `ps` to other users of the machine.

What protects what in flower 2.2 (flower/views/__init__.py, flower/api/__init__.py):
* with --basic_auth (or FLOWER_BASIC_AUTH) every page and every /api/ handler asks for the
  credentials (401 without them);
* FLOWER_UNAUTHENTICATED_API must stay unset: when no auth is configured it opens the HTTP API
  (which can shut workers down and send tasks) to anyone, with CORS "*". It is removed from
  the environment given to Flower;
* /healthcheck and /metrics (Prometheus) answer without credentials whatever the options; they
  reveal worker and task names and counts only, and Flower listens on 127.0.0.1: put a
  reverse proxy with TLS in front of it to reach it from elsewhere.

This module imports nothing of workers.app, so it runs without loading Celery's app or a
worker's settings. `rota dev up` runs it in a child interpreter and reads the command back as
JSON: import-linter forbids domain/ (the CLI included) from importing workers/.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from domain.adapters.celery_config import broker_url
from domain.settings import Settings, SettingsError

FLOWER_ADDRESS = "127.0.0.1"
# Tasks kept in Flower's memory (its default is 100,000).
FLOWER_MAX_TASKS = 10_000
# The repository root: `celeryconfig` is a top-level module there.
_ROOT = Path(__file__).resolve().parents[1]


def flower_command(settings: Settings) -> tuple[list[str], dict[str, str]]:
    """argv and env to run Flower for this platform's broker; run it from any directory.

    Raises SettingsError when no credentials or no broker are configured: Flower is never
    started open.
    """
    auth = settings.flower_basic_auth
    if not auth:
        raise SettingsError("Flower needs ROTA_FLOWER_BASIC_AUTH (user:password)")
    if "," in auth:
        # Flower splits FLOWER_BASIC_AUTH on commas into several accepted credentials: a part
        # of the password alone would then log in.
        raise SettingsError("ROTA_FLOWER_BASIC_AUTH must not contain a comma")
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "workers.app",
        "flower",
        f"--address={FLOWER_ADDRESS}",
        f"--port={settings.flower_port}",
        f"--max_tasks={FLOWER_MAX_TASKS}",
    ]
    env = {k: v for k, v in os.environ.items() if k != "FLOWER_UNAUTHENTICATED_API"}
    env["FLOWER_BASIC_AUTH"] = auth
    # workers.app reads its broker from the environment (celeryconfig -> get_settings()).
    env["ROTA_BROKER_URL"] = broker_url(settings)
    if settings.redis_url:
        env["REDIS_URL"] = settings.redis_url
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_ROOT), env.get("PYTHONPATH")]))
    return argv, env


def main() -> None:
    """`python -m workers.flower`: Flower for the configured broker, its credentials from the
    secrets backend (Vault or ROTA_FLOWER_BASIC_AUTH); it replaces this process."""
    from domain.adapters.secrets_wiring import FLOWER, with_secrets
    from domain.secrets import SecretsUnavailable
    from domain.settings import get_settings

    try:
        settings = with_secrets(get_settings(), FLOWER)
        argv, env = flower_command(settings)
    except (SecretsUnavailable, SettingsError) as error:
        raise SystemExit(f"rota: cannot start Flower: {error}") from None
    os.execve(argv[0], argv, env)  # noqa: S606 (argv is ours: this interpreter, celery)


if __name__ == "__main__":
    main()
