"""devenv's run state: which watcher wrote it (one watcher per checkout is the lock's job: test_lock.py)."""

from __future__ import annotations

import subprocess
import sys

from devenv.app import state


def test_a_live_devenv_watcher_is_alive_until_it_exits(tmp_path):
    # A process whose command line says devenv, standing in for a running `devenv up`.
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "devenv-watch-standin"])
    try:
        state.update(tmp_path, watch_pid=proc.pid)
        assert state.watcher_alive(state.load(tmp_path))
    finally:
        proc.kill()
        proc.wait()
    assert not state.watcher_alive(state.load(tmp_path))


def test_a_reused_pid_of_another_program_is_not_a_watcher(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        state.update(tmp_path, watch_pid=proc.pid)
        assert not state.watcher_alive(state.load(tmp_path))
    finally:
        proc.kill()
        proc.wait()


def test_no_state_no_watcher(tmp_path):
    assert state.load(tmp_path) == {}
    assert not state.watcher_alive({})
