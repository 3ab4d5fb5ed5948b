"""The checkout lock: an OS lock (flock), so two processes can never both hold it, and it
goes away with its holder however that ends. Each test uses real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devenv.app.lock import WATCHING, CheckoutLock, LockedError, lock_path, read_holder, stop_watcher

REPO = Path(__file__).resolve().parents[3]

HOLD = """
import sys, time, signal
from pathlib import Path
from devenv.app.lock import CheckoutLock
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
lock = CheckoutLock(Path(sys.argv[1]), sys.argv[2])
got = lock.try_acquire()
if got and sys.argv[3]:
    lock.set_phase(sys.argv[3])
print("got" if got else "refused", flush=True)
if got:
    time.sleep(float(sys.argv[4]))
"""


@pytest.fixture(autouse=True)
def _set_up_checkout(tmp_path):
    """A checkout devenv has set up: the holder's name goes into .devenv/lock (the lock itself is the folder)."""
    (tmp_path / ".devenv").mkdir(exist_ok=True)
    lock_path(tmp_path).touch(mode=0o600)  # made by the first command that got under way


def _holder(root: Path, command: str = "watch", phase: str = "", seconds: float = 30) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(root), command, phase, str(seconds)], env=env,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "got"
    return proc


def test_a_second_command_is_refused_naming_the_holder(tmp_path):
    proc = _holder(tmp_path, "up", phase=WATCHING)
    try:
        with pytest.raises(LockedError) as e:
            CheckoutLock(tmp_path, "watch").acquire()
        assert f"devenv up (process {proc.pid}" in e.value.message and "is watching" in e.value.message
        assert "devenv down" in (e.value.fix or "")
    finally:
        proc.kill()
        proc.wait()


def test_the_lock_goes_with_a_killed_holder(tmp_path):
    proc = _holder(tmp_path)
    proc.kill()  # SIGKILL: no clean-up code runs
    proc.wait()
    with CheckoutLock(tmp_path, "up") as lock:
        assert lock.held
        assert read_holder(tmp_path).pid == os.getpid()  # type: ignore[union-attr]
    assert read_holder(tmp_path) is None  # released: the text is emptied, the file stays


def test_three_started_together_exactly_one_holds(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    procs = [subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path), "watch", WATCHING, "3"], env=env,
                              stdout=subprocess.PIPE, text=True) for _ in range(3)]
    answers = [p.stdout.readline().strip() for p in procs]  # type: ignore[union-attr]
    for p in procs:
        p.kill()
        p.wait()
    assert sorted(answers) == ["got", "refused", "refused"]


def test_phase_changes_rewrite_the_same_file(tmp_path):
    lock = CheckoutLock(tmp_path, "up")
    lock.acquire()
    inode = lock_path(tmp_path).stat().st_ino
    lock.set_phase(WATCHING)
    assert lock_path(tmp_path).stat().st_ino == inode  # a rename would give the next process another file to lock
    assert read_holder(tmp_path).phase == WATCHING  # type: ignore[union-attr]
    assert lock_path(tmp_path).stat().st_mode & 0o777 == 0o600
    lock.release()


def test_down_stops_a_watcher_and_takes_the_lock(tmp_path):
    proc = _holder(tmp_path, "watch", phase=WATCHING)
    seen = []
    lock = CheckoutLock(tmp_path, "down")
    started = time.monotonic()
    stopped = stop_watcher(lock, before=seen.append, timeout=10)
    assert stopped is not None and stopped.pid == proc.pid and seen == [stopped]
    assert lock.held and time.monotonic() - started < 5
    assert proc.wait(timeout=5) == 0  # it exited on SIGTERM
    lock.release()


def test_down_does_not_signal_a_command_that_is_not_watching(tmp_path):
    proc = _holder(tmp_path, "up", phase="")
    try:
        started = time.monotonic()
        with pytest.raises(LockedError, match="devenv up .* is running"):
            stop_watcher(CheckoutLock(tmp_path, "down"), timeout=1)
        assert time.monotonic() - started < 5  # a short grace, not the holder's whole run
        assert proc.poll() is None  # not signalled
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def test_an_unwritable_state_folder_is_a_clear_error(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root may write anywhere")
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(LockedError.__mro__[1], match="cannot write"):
            CheckoutLock(tmp_path, "up").acquire()
    finally:
        tmp_path.chmod(0o700)


def test_taking_the_lock_writes_nothing_into_a_checkout_devenv_never_set_up(tmp_path):
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    with CheckoutLock(fresh, "up") as lock:
        assert lock.held
        assert list(fresh.iterdir()) == []
    assert list(fresh.iterdir()) == []


def test_an_up_under_way_leaves_the_lock_file_so_later_holders_are_named_at_once(devenv, checkout):
    """`up --detach` never set a phase, so nothing ever made .devenv/lock: three `watch` started
    together after it were refused with "another devenv command is running", the holder unnamed
    (found by tests/e2e/test_concurrency.py on a real engine)."""
    root = checkout("v0.24.0")
    (root / "docker" / "entrypoint.sh").chmod(0o755)
    devenv("-C", root, "up", "--detach", "--timeout", "1")  # the fake engine never gets healthy: exit 4, after the start
    assert lock_path(root).is_file() and read_holder(root) is None  # released: empty, but there
    with CheckoutLock(root, "watch"):
        holder = read_holder(root)  # named on taking the lock, before any phase
        assert holder is not None and holder.pid == os.getpid() and holder.command == "watch"
