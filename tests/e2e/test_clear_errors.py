"""Issue 13 (10): every failure a new user hit reads as one line with its fix, on the real engine."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time

import pytest

from .conftest import Watch

pytestmark = pytest.mark.engine


def test_logs_follow_survives_a_restart_without_terminal_codes(running):
    demo = running
    proc = subprocess.Popen([sys.executable, "-m", "devenv", "-C", str(demo.root), "logs", "-f", "--tail", "2"],
                            env=demo.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    follow = Watch(proc)
    try:
        time.sleep(2)
        demo.docker("restart", "-t", "1", demo.container())
        follow.wait_for("info: the ragflow-cpu container restarted; following its new output", timeout=30)
        at = follow.mark()
        deadline = time.monotonic() + 30
        while not any("ragflow_server v0.24.0 started" in line for line in follow.lines[at:]):  # the new process's output
            assert time.monotonic() < deadline, "\n".join(follow.lines)
            time.sleep(0.2)
            follow.mark()
        demo.docker("stop", "-t", "1", demo.container())
        follow.wait_for("info: the ragflow-cpu container stopped; no more logs", timeout=40)
        assert proc.wait(timeout=10) == 0
        follow.mark()
    finally:
        follow.stop()
    text = "\n".join(follow.lines)
    assert "\x1b" not in text and "\r" not in text, repr(text[-300:])
    assert "exited with code" in text


def test_sighup_stops_the_watch_cleanly_saying_why(demo):
    watch = demo.start_watch("up")
    watch.wait_for("ready:", timeout=180)
    watch.proc.send_signal(signal.SIGHUP)  # the terminal (or ssh session) closed
    assert watch.proc.wait(timeout=15) == 0
    watch.wait_for("info: stopped watching (SIGHUP (the terminal closed)); the stack is still running", timeout=5)
    state = json.loads((demo.root / ".devenv" / "state.json").read_text())
    assert state["watch_pid"] is None  # a later `devenv watch` is not told another one runs
    assert demo.get("/v1/system/ping")[0] == 200  # the stack keeps running
    assert demo.devenv("down").returncode == 0


def test_ctrl_c_while_up_waits_for_health_says_what_runs_and_what_to_do(demo):
    # A server slow to import (as real RAGFlow is), so the Ctrl-C lands while `up` waits: with the
    # demo's sub-second start it could land after `up` had finished (a dying interpreter: exit -2).
    app = demo.root / "api" / "apps" / "demo_app.py"
    app.write_text("import time\ntime.sleep(60)\n" + app.read_text())
    watch = demo.start_watch("up", "--detach")
    watch.wait_for("info: waiting for", timeout=180)
    watch.proc.send_signal(signal.SIGINT)
    code = watch.proc.wait(timeout=20)
    watch.mark()
    assert code == 130, "\n".join(watch.lines)
    text = "\n".join(watch.lines)
    line = watch.wait_for(f"error: interrupted while starting project {demo.project}; running: ", timeout=1)
    assert re.search(r"running: [^;]*ragflow-cpu", line), line
    assert "fix: `devenv down` stops and removes them (volumes kept), or `devenv up` starts again and watches" in text
    assert "Traceback" not in text
    assert demo.devenv("down").returncode == 0
    assert demo.docker("ps", "-q", "--filter", f"label=com.docker.compose.project={demo.project}").strip() == ""


def test_a_literal_dollar_in_a_stack_bind_shows_and_is_created_as_one(demo):
    """compose config answers "$$" for a literal "$": plan showed `$$HOME` and made a folder of that name."""
    compose = demo.root / "docker" / "docker-compose.yml"
    text = compose.read_text()
    compose.write_text(text.replace("      - ./ragflow-logs:/ragflow/logs\n", "      - ./ragflow-logs:/ragflow/logs\n      - ./$$HOME-notes:/notes\n", 1))
    result = demo.devenv("plan", check=True)
    assert "docker/$HOME-notes -> /notes" in result.stdout, result.stdout
    assert "$$" not in result.stdout + result.stderr
    assert (demo.root / "docker" / "$HOME-notes").is_dir()
    assert not (demo.root / "docker" / "$$HOME-notes").exists()
