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
