"""The BASH_ENV hook that lets a restart loop relaunch at once, run in a real bash."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest

from devenv.container import bash_env_hook

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def run_bash(tmp_path, body: str) -> tuple[str, float]:
    hook = tmp_path / "bash_env.sh"
    hook.write_text(bash_env_hook())
    started = time.monotonic()
    done = subprocess.run(["bash", "-c", body], env={"BASH_ENV": str(hook), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout, time.monotonic() - started


def test_a_marker_for_this_loop_makes_its_next_sleep_return_at_once_once(tmp_path):
    # The marker is named after the loop's shell ($BASHPID of the subshell that runs the loop).
    out, seconds = run_bash(tmp_path, """
        ( touch /tmp/devenv-relaunch-$BASHPID; sleep 30; echo skipped;
          test -e /tmp/devenv-relaunch-$BASHPID && echo left || echo consumed )
    """)
    assert out.split() == ["skipped", "consumed"]
    assert seconds < 10  # a real `sleep 30` would still be running


def test_without_a_marker_sleep_really_sleeps(tmp_path):
    _out, seconds = run_bash(tmp_path, "sleep 0.3")
    assert seconds >= 0.3


def test_another_loops_marker_does_not_shorten_this_sleep(tmp_path):
    _out, seconds = run_bash(tmp_path, """
        touch /tmp/devenv-relaunch-999999999
        ( sleep 0.3 )
        rm -f /tmp/devenv-relaunch-999999999
    """)
    assert seconds >= 0.3


def test_the_hook_survives_set_e_and_set_u(tmp_path):
    out, _ = run_bash(tmp_path, "set -eu; sleep 0.01; echo ok")
    assert out.strip() == "ok"
