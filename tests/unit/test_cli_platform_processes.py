"""The child supervision of `rota dev up`: real (tiny) processes, stopped without leftovers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest

from domain.cli.embedded_redis import new_embedded_redis, ping, wait_until_answers
from domain.cli.processes import (
    StopSignals,
    Supervisor,
    describe_exit,
    free_port,
    log_tail,
    port_in_use,
)

# A child that ignores SIGTERM and starts a grandchild in a session of its own (out of the
# child's process group, as a daemonising program would), which ignores SIGTERM too.
IGNORE_TERM = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
STUBBORN = f"""
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
grandchild = subprocess.Popen(
    [sys.executable, "-c", {IGNORE_TERM + "time.sleep(600)"!r}], start_new_session=True
)
print("grandchild", grandchild.pid, flush=True)
time.sleep(600)
"""


def wait_for_line(path, prefix: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log_tail(path, 50):
            if line.startswith(prefix):
                return line
        time.sleep(0.05)
    raise AssertionError(f"no {prefix!r} in {path}")


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_stop_all_kills_children_that_ignore_sigterm_and_their_escaped_descendants(tmp_path):
    sup = Supervisor(tmp_path / "logs")
    child = sup.start("stubborn", [sys.executable, "-c", STUBBORN], os.environ)
    grandchild = int(wait_for_line(child.log_path, "grandchild").split()[1])
    assert os.getpgid(child.pid) == child.pid  # its own process group, out of ours
    started = time.monotonic()
    sup.stop_all(grace=0.5)
    assert time.monotonic() - started < 5
    assert gone(child.pid)
    assert gone(grandchild)
    assert sup.children == []
    assert "===== rota dev up: stubborn started" in child.log_path.read_text()


def test_a_child_that_exits_is_noticed_and_described(tmp_path):
    sup = Supervisor(tmp_path / "logs")
    sup.start("sleeper", [sys.executable, "-c", "import time; time.sleep(600)"], os.environ)
    quitter = sup.start(
        "quitter", [sys.executable, "-c", "print('bad config'); raise SystemExit(3)"], os.environ
    )
    try:
        deadline = time.monotonic() + 10
        while sup.first_exited() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sup.first_exited() is quitter
        assert describe_exit(quitter.exit_code()) == "exited with code 3"
        assert log_tail(quitter.log_path)[-1] == "bad config"
    finally:
        sup.stop_all(grace=2)
    assert describe_exit(-signal.SIGKILL) == "was killed by SIGKILL"


def test_the_embedded_redis_server_answers_and_is_gone_after_stop(tmp_path):
    redis = new_embedded_redis(tmp_path / "redis", free_port())
    config = redis.write_config()
    assert config.stat().st_mode & 0o777 == 0o600  # it holds the password
    text = config.read_text()
    assert "bind 127.0.0.1\n" in text
    assert f"requirepass {redis.password}\n" in text
    assert f'dir "{tmp_path / "redis"}"' in text

    sup = Supervisor(tmp_path / "logs")
    child = sup.start("redis", redis.argv(), os.environ, cwd=redis.directory)
    try:
        assert wait_until_answers(redis.url, 10, lambda: child.exit_code() is None)
        wrong = redis.url.replace(redis.password, "wrong-password")
        assert not ping(wrong)
    finally:
        sup.stop_all(grace=5)
    assert gone(child.pid)
    assert (tmp_path / "redis" / "dump.rdb").is_file()  # saved at shutdown, in the data dir


def test_port_in_use_sees_a_listening_socket():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert port_in_use("127.0.0.1", port)
    assert not port_in_use("127.0.0.1", free_port())


def test_stop_signals_count_and_restore_the_previous_handlers():
    before = signal.getsignal(signal.SIGTERM)
    with StopSignals() as signals:
        assert not signals.stop
        os.kill(os.getpid(), signal.SIGTERM)
        assert signals.stop
        assert not signals.hurry()
        assert signals.name == "SIGTERM"
        os.kill(os.getpid(), signal.SIGINT)
        assert signals.hurry()
    assert signal.getsignal(signal.SIGTERM) is before


# Justified: the parent-death signal is a Linux prctl; elsewhere there is nothing to test.
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_children_get_sigterm_when_dev_up_itself_is_killed(tmp_path):
    # A parent that starts a child through the Supervisor, then is SIGKILLed: no cleanup runs
    # in it, yet the kernel sends the child SIGTERM.
    script = f"""
import os, sys, time
from pathlib import Path
from domain.cli.processes import Supervisor
sup = Supervisor(Path({str(tmp_path)!r}))
child = sup.start("sleeper", [sys.executable, "-c", "import time; time.sleep(600)"], os.environ)
print(child.pid, flush=True)
time.sleep(600)
"""
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while not gone(child_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone(child_pid)
