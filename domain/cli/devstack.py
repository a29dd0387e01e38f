"""What `rota dev up` runs: where each part of the platform lives, the environment and command
line of each child, and the banner that tells the user how to reach it (devup.py runs it).

The API and workers are named as programs (`uvicorn api.app:create_app`, `celery -A
workers.app`), never imported: the domain layer must not depend on them (pyproject.toml,
import-linter).
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import domain
from domain.cli import admin
from domain.cli.embedded_redis import EmbeddedRedis, new_embedded_redis
from domain.cli.files import UsageError
from domain.cli.processes import free_port, port_in_use
from domain.settings import Settings

DEV_TENANT = "dev"
FLOWER_USER = "rota"
SAMPLE = Path(domain.__file__).parent / "samples" / "sample.json"
PROJECT_ROOT = Path(domain.__file__).resolve().parents[1]


@dataclass(frozen=True)
class DevStack:
    """Where everything of one `rota dev up` lives and how its children find each other."""

    data_dir: Path  # absolute, so children see the same files whatever their cwd
    database_url: str
    redis_url: str
    broker_url: str
    embedded_redis: EmbeddedRedis | None
    api_host: str
    api_port: int
    flower_port: int
    flower_auth: str
    flower_auth_generated: bool

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def api_url(self) -> str:
        host = "127.0.0.1" if self.api_host in ("0.0.0.0", "") else self.api_host  # noqa: S104
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.api_port}"

    @property
    def flower_url(self) -> str:
        return f"http://127.0.0.1:{self.flower_port}"


def plan(settings: Settings) -> DevStack:
    """The stack for `settings`: the embedded defaults where DATABASE_URL/REDIS_URL are unset."""
    data_dir = settings.data_dir.resolve()
    database_url = settings.database_url
    if (path := admin.sqlite_path(database_url)) is not None:
        database_url = f"sqlite:///{path.resolve()}"
    embedded = None
    if settings.redis_url:
        redis_url = settings.redis_url
    else:
        embedded = new_embedded_redis(data_dir / "redis", free_port())
        redis_url = embedded.url
    auth = settings.flower_basic_auth
    return DevStack(
        data_dir=data_dir,
        database_url=database_url,
        redis_url=redis_url,
        broker_url=settings.broker_url or redis_url,
        embedded_redis=embedded,
        api_host=settings.api_host,
        api_port=settings.api_port,
        flower_port=settings.flower_port,
        flower_auth=auth or f"{FLOWER_USER}:{secrets.token_urlsafe(18)}",
        flower_auth_generated=auth is None,
    )


def child_env(stack: DevStack, environ: Mapping[str, str]) -> dict[str, str]:
    """The environment of every child: the caller's, with the stack's addresses."""
    env = dict(environ)
    env.update(
        ROTA_DATA_DIR=str(stack.data_dir),
        DATABASE_URL=stack.database_url,
        REDIS_URL=stack.redis_url,
        ROTA_BROKER_URL=stack.broker_url,
        ROTA_API_HOST=stack.api_host,
        ROTA_API_PORT=str(stack.api_port),
        ROTA_FLOWER_PORT=str(stack.flower_port),
        ROTA_FLOWER_BASIC_AUTH=stack.flower_auth,
        PYTHONUNBUFFERED="1",  # log lines reach the files as they happen
        ROTA_LOG_FORMAT=environ.get("ROTA_LOG_FORMAT") or "console",  # read by people
    )
    if (PROJECT_ROOT / "celeryconfig.py").is_file():
        # `celery -A workers.app` loads the top-level module `celeryconfig`, which lives in
        # the repository root, not in the installed packages (workers/__init__.py).
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")])
        )
    return env


def api_argv(stack: DevStack) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "api.app:create_app",
        "--factory",
        # No `server: uvicorn` banner; X-Forwarded-For is judged by the API against
        # ROTA_TRUSTED_PROXIES (uvicorn would otherwise believe any local peer's).
        "--no-server-header",
        "--no-proxy-headers",
        "--host",
        stack.api_host,
        "--port",
        str(stack.api_port),
    ]


def worker_argv() -> list[str]:
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "workers.app",
        "worker",
        "--pool=prefork",
        "--concurrency=1",
        "--queues=solve,light",
        "--loglevel=INFO",
        "--hostname=rota-dev@%h",
        # The periodic tasks (outbox relay, stuck-job sweep, retention) from an embedded beat;
        # its schedule file goes under ROTA_DATA_DIR (celery_config). Production runs one
        # `celery -A workers.app beat` of its own instead.
        "--beat",
    ]


# Run in a child interpreter: workers/flower.py is the one place that knows how Flower is
# started safely, and the domain layer may not import `workers` (import-linter).
_FLOWER_COMMAND = """
import json, sys
from domain.settings import SettingsError, get_settings
from workers.flower import flower_command
try:
    argv, env = flower_command(get_settings())
except SettingsError as error:
    json.dump({"error": str(error)}, sys.stdout)
else:
    json.dump({"argv": argv, "env": env}, sys.stdout)
"""


def flower_argv_env(env: Mapping[str, str]) -> tuple[list[str], dict[str, str]]:
    """argv and environment of Flower (127.0.0.1, basic auth) from workers/flower.py's
    `flower_command`, evaluated with the children's environment `env`."""
    done = None
    try:
        done = subprocess.run(
            [sys.executable, "-c", _FLOWER_COMMAND],
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        answer = json.loads(done.stdout) if done.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, ValueError):
        answer = None
    if not isinstance(answer, dict) or not ("argv" in answer or "error" in answer):
        lines = done.stderr.strip().splitlines() if done is not None else []
        last = lines[-1] if lines else "no answer"
        raise UsageError(f"cannot build Flower's command (workers/flower.py): {last}")
    if "error" in answer:
        raise UsageError(f"Flower: {answer['error']}")
    return list(answer["argv"]), dict(answer["env"])


def check_ports(stack: DevStack) -> None:
    wanted = [
        (stack.api_host, stack.api_port, "the API", "ROTA_API_PORT"),
        ("127.0.0.1", stack.flower_port, "Flower", "ROTA_FLOWER_PORT"),
    ]
    if stack.api_port == stack.flower_port:
        raise UsageError(
            f"the API and Flower cannot share port {stack.api_port}: "
            "change ROTA_API_PORT or ROTA_FLOWER_PORT"
        )
    for host, port, what, variable in wanted:
        try:
            busy = port_in_use(host, port)
        except OSError as error:
            raise UsageError(f"cannot listen on {host}:{port} for {what}: {error}") from None
        if busy:
            raise UsageError(
                f"port {port} on {host} (for {what}) is already in use: stop what holds it "
                f"or set {variable} to another port"
            )


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def banner(stack: DevStack, api_key: str) -> str:
    user, _, password = stack.flower_auth.partition(":")
    generated = ""
    if stack.flower_auth_generated:
        generated = " (generated; set ROTA_FLOWER_BASIC_AUTH to choose)"
    if stack.embedded_redis is not None:
        redis = f"embedded, 127.0.0.1:{stack.embedded_redis.port} (dump in {stack.data_dir})"
    else:
        redis = admin.safe_url(stack.redis_url)
    sample = _display(SAMPLE)
    names = ["api", "worker", "flower"] + (["redis"] if stack.embedded_redis else [])
    curl = shlex.join(
        [
            "curl",
            "-H",
            f"Authorization: Bearer {api_key}",
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            f"@{sample}",
            f"{stack.api_url}/v1/jobs",
        ]
    )
    return "\n".join(
        [
            "",
            "Rota is up (Ctrl-C stops everything)",
            "",
            f"  API        {stack.api_url}   (docs {stack.api_url}/schema)",
            f"  Flower     {stack.flower_url}   user {user}  password {password}{generated}",
            f"  Database   {admin.safe_url(stack.database_url)}",
            f"  Redis      {redis}",
            f"  Logs       {stack.log_dir}/{{{','.join(names)}}}.log",
            f"  Tenant     {DEV_TENANT}",
            f"  API key    {api_key}",
            "",
            "Try it:",
            f"  export ROTA_API_URL={stack.api_url} ROTA_API_KEY={api_key}",
            f"  rota submit {shlex.quote(sample)} --wait",
            f"  {curl}",
            "",
        ]
    )
