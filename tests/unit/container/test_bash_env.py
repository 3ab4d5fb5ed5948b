"""The BASH_ENV hook that lets a restart loop relaunch at once, run in a real bash."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest

from devenv.container import agent, bash_env_hook

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
    out, _ = run_bash(tmp_path, "set -eu; sleep 0.01; true & wait; sleep 0.01; echo ok")
    assert out.strip() == "ok"


def test_a_loop_under_set_e_and_set_u_runs_on_when_the_loop_log_cannot_be_written(tmp_path):
    (tmp_path / "bash_env.sh").write_text(bash_env_hook(None, ("ok.py",), ("ok.py",), loop_log="/nonexistent/loops"))
    (tmp_path / "ok.py").write_text("print('ran')\n")
    done = subprocess.run(["bash", "-c", "set -eu; python3 ok.py & wait; sleep 0.01; python3 ok.py; echo done"], cwd=tmp_path,
                          env={"BASH_ENV": str(tmp_path / "bash_env.sh"), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=30)
    assert (done.returncode, done.stdout, done.stderr) == (0, "ran\nran\ndone\n", "")


def run_loops(tmp_path, body: str, scripts=("crash.py",), background=("crash.py",)) -> dict:
    """Run ``body`` with the hook noting ``scripts``' launches; the agent's reading of the loop log."""
    log = tmp_path / "loops"
    (tmp_path / "bash_env.sh").write_text(bash_env_hook(None, scripts, background, loop_log=str(log)))
    (tmp_path / "crash.py").write_text("raise SystemExit(1)\n")
    done = subprocess.run(["bash", "-c", body], env={"BASH_ENV": str(tmp_path / "bash_env.sh"), "PATH": "/usr/bin:/bin"},
                          cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return agent.LoopLog(str(log)).answer(list(scripts))


def test_a_loop_notes_every_launch_and_exit_even_of_a_process_that_lives_milliseconds(tmp_path):
    # RAGFlow's form: `while true; "$PY" X & wait; sleep 1; done`, here three rounds.
    counts = run_loops(tmp_path, 'PY=python3; for i in 1 2 3; do "$PY" crash.py & wait; sleep 0.01; done')
    assert counts == {"crash.py": {"launches": 3, "exits": 3, "devenv_exits": 0}}


def test_an_exit_devenv_caused_is_told_apart_by_its_relaunch_marker(tmp_path):
    counts = run_loops(tmp_path, '''(
        python3 crash.py & wait; touch /tmp/devenv-relaunch-$BASHPID; sleep 5
        python3 crash.py & wait; sleep 0.01 )''')
    assert counts == {"crash.py": {"launches": 2, "exits": 2, "devenv_exits": 1}}


def test_the_launch_keeps_the_loops_pid_and_other_scripts_and_jobless_sleeps_note_nothing(tmp_path):
    counts = run_loops(tmp_path, '''
        sleep 0.01
        python3 -c pass & wait; sleep 0.01
        python3 crash.py & pid=$!; wait; [ "$(grep '^L' loops)" = "L $pid crash.py" ] || exit 7; sleep 0.01''')
    assert counts == {"crash.py": {"launches": 1, "exits": 1, "devenv_exits": 0}}


def test_a_foreground_loop_notes_its_launches_only_so_devenv_falls_back_to_looking(tmp_path):
    counts = run_loops(tmp_path, "for i in 1 2; do python3 crash.py; sleep 0.01; done", background=())
    assert counts == {"crash.py": {"launches": 2, "exits": 0, "devenv_exits": 0}}

