"""devenv's run state: one watcher per checkout."""

from __future__ import annotations

import subprocess
import sys

import pytest

from devenv.app import state
from devenv.core.errors import DevenvError


def test_a_live_devenv_watcher_blocks_a_second_one(tmp_path):
    # A process whose command line says devenv, standing in for a running `devenv up`.
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "devenv-watch-standin"])
    try:
        state.update(tmp_path, watch_pid=proc.pid)
        with pytest.raises(DevenvError, match="already watching"):
            state.ensure_single_watcher(tmp_path)
    finally:
        proc.kill()
        proc.wait()
    state.ensure_single_watcher(tmp_path)  # gone: no longer blocks


def test_a_reused_pid_of_another_program_does_not_block(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        state.update(tmp_path, watch_pid=proc.pid)
        state.ensure_single_watcher(tmp_path)
    finally:
        proc.kill()
        proc.wait()


def test_no_state_no_watcher(tmp_path):
    assert state.load(tmp_path) == {}
    state.ensure_single_watcher(tmp_path)
